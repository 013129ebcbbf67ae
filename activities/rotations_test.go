package activities

import (
	"fmt"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// testRotations is a worker configuration for activity tests: the listed
// rotations and nothing else.
type testRotations []model.Rotation

func (rs testRotations) Rotation(account, user string) (model.Rotation, error) {
	for _, r := range rs {
		if r.Account == account && strings.EqualFold(r.User, user) {
			return r, nil
		}
	}
	return model.Rotation{}, fmt.Errorf("test config: no rotation for user %q in account %q", user, account)
}
