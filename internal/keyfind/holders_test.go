package keyfind_test

import (
	"fmt"
	"testing"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/keyfind"
	"github.com/keyrotor/keyrotor/internal/model"
)

func TestHolders(t *testing.T) {
	a := model.Target{Kind: model.GitHubRepository, Repository: "acme/api"}
	b := model.Target{Kind: model.GitLabProject, Project: "acme/api"}
	r := model.Rotation{Targets: []model.Target{a, b}}
	st := &contract.Status{OldKeyID: "OLD", NewKeyID: "NEW", Targets: []contract.TargetStatus{
		{Target: a.String(), State: contract.TargetConfirmed},
		{Target: b.String(), State: contract.TargetPushing},
	}}
	for _, tt := range []struct {
		st   *contract.Status
		key  string
		want string
	}{
		{nil, "OLD", "[true  true ]"},
		{st, "OTHER", "[true  true ]"},
		{st, "OLD", "[false replaced: confirmed the new key NEW true still on it: the new key is pushing]"},
		{st, "NEW", "[true confirmed it (it is the rotation's new key) false not confirmed: pushing]"},
	} {
		var got []string
		for _, h := range keyfind.Holders(r, tt.st, tt.key) {
			got = append(got, fmt.Sprint(h.Holds, " ", h.Note))
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("Holders(%s) = %s, want %s", tt.key, got, tt.want)
		}
	}
}
