package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// BenchmarkRotation runs b.N full rotations, one after another, of users
// with five targets each (one of every kind) against the emulators on the
// local dev server, with zero grace and delete waits so the figure is the
// cost of the work itself. Besides time per rotation it reports API calls per
// target by provider, IAM calls per rotation and history events per
// rotation. Run it with `make bench`.
func BenchmarkRotation(b *testing.B) {
	users := map[string][]model.Target{}
	for i := 0; i < b.N; i++ {
		users[fmt.Sprintf("bench-%03d", i)] = devstack.DemoTargets()
	}
	p := model.DefaultPolicy
	p.GracePeriod, p.DeleteAfter = 0, 0
	r := newRig(b, rigOptions{users: users, policy: p})
	r.emu.AWS.Faults.ResetCalls()
	r.emu.GitHub.Faults.ResetCalls()
	r.emu.GitLab.Faults.ResetCalls()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var events int
	b.ResetTimer()
	for user := range users {
		rot, err := r.cfg.Rotation("", user)
		require.NoError(b, err)
		started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
		require.NoError(b, err)
		_, err = operator.Wait(ctx, r.client, started)
		require.NoError(b, err)
		b.StopTimer()
		events += historyLength(ctx, b, r, started)
		b.StartTimer()
	}
	b.StopTimer()

	n := float64(b.N)
	gh, gl := 0, 0
	for _, t := range devstack.DemoTargets() {
		if t.Kind.Provider() == "github" {
			gh++
		} else {
			gl++
		}
	}
	b.ReportMetric(float64(r.emu.GitHub.Faults.Total())/(n*float64(gh)), "github-calls/target")
	b.ReportMetric(float64(r.emu.GitLab.Faults.Total())/(n*float64(gl)), "gitlab-calls/target")
	b.ReportMetric(float64(r.emu.AWS.Faults.Total())/n, "aws-calls/rotation")
	b.ReportMetric(float64(events)/n, "history-events/rotation")
}

func historyLength(ctx context.Context, b *testing.B, r *rig, s operator.Started) int {
	iter := r.client.GetWorkflowHistory(ctx, s.WorkflowID, s.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for iter.HasNext() {
		_, err := iter.Next()
		require.NoError(b, err)
		n++
	}
	return n
}
