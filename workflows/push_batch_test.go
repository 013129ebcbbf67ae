package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/model"
)

// wideRotation is a rotation with n GitHub repository targets.
func wideRotation(n int) model.Rotation {
	r := revokeRotation(0)
	r.Targets = nil
	for i := range n {
		r.Targets = append(r.Targets, model.Target{Kind: model.GitHubRepository, Repository: fmt.Sprintf("acme/svc-%04d", i)})
	}
	return r
}

// batchEnv is newEnv with PushBatch counting the batches it runs and the
// most targets one batch held.
func batchEnv(t *testing.T) (env *testsuite.TestWorkflowEnvironment, batches *int, largest *int) {
	var s testsuite.WorkflowTestSuite
	env = s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(RotateAccessKey)
	batches, largest = new(int), new(int)
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in PushBatchInput) (PushBatchResult, error) {
		*batches++
		*largest = max(*largest, len(in.Targets))
		return PushBatch(ctx, in)
	}, workflow.RegisterOptions{Name: PushBatchWorkflowName})
	env.RegisterActivity(configActs)
	env.RegisterActivity(iamActs)
	env.RegisterActivity(targetActs)
	return env, batches, largest
}

// A user with more targets than a batch holds is pushed batch by batch,
// and the rotation ends as any other: every target holds the new key
// before the old one is retired, and one that failed is reported as such.
func TestManyTargetsArePushedInBatches(t *testing.T) {
	tests := []struct {
		name        string
		targets     int
		fail        string // a target whose push fails for good
		wantBatches int
	}{
		{"at the batch size: one push each", pushBatchSize, "", 0},
		{"250 targets: three batches", 250, "", 3},
		{"a target fails: both keys stay", 250, "github acme/svc-0142", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, batches, largest := batchEnv(t)
			f := newFakeAccount(t, tc.targets, model.KeyActive)
			f.pushDelay = time.Second
			if tc.fail != "" {
				f.pushFail[tc.fail] = temporal.NewNonRetryableApplicationError(tc.fail+": 404 Not Found", "NotFound", nil)
			}
			f.register(env)
			r := wideRotation(tc.targets)
			executeRotation(env, r)
			s, err := finalStatus(t, env)
			require.Equal(t, tc.wantBatches, *batches)
			require.LessOrEqual(t, *largest, pushBatchSize)
			if tc.fail != "" {
				require.Error(t, err)
				require.Equal(t, PhaseFailed, s.Phase)
				require.Equal(t, []string{tc.fail}, failedNames(s))
				require.Equal(t, 2, f.active(), "both keys stay active")
				require.Equal(t, tc.targets-1, s.ConfirmedTargets())
				return
			}
			require.NoError(t, err, strings.Join(f.calls, ","))
			require.Equal(t, PhaseDone, s.Phase)
			if tc.wantBatches > 0 {
				var said []string
				for _, ev := range s.Timeline {
					said = append(said, ev.Message)
				}
				require.Contains(t, said, "pushing batch 3 of 3: 50 targets", "the status says which batch pushes")
			}
			require.Len(t, f.keys, 1)
			require.Len(t, f.confirmed, tc.targets)
			for _, ts := range s.Targets {
				require.Equal(t, TargetConfirmed, ts.State, ts.Target)
				require.Equal(t, s.NewKeyID, f.confirmed[ts.Target], ts.Target)
			}
		})
	}
}

// The new key is revoked while the first batch pushes it: the batch stops,
// its pushes under way settle, and the replacement key reaches every
// target; the revoked key is gone.
func TestRevokeNewKeyWhileABatchPushes(t *testing.T) {
	env, batches, _ := batchEnv(t)
	const n = 250
	f := newFakeAccount(t, n, model.KeyActive)
	f.pushDelay = time.Second
	f.register(env)
	var leaked string
	env.RegisterDelayedCallback(func() {
		s := queryStatus(t, env)
		require.Equal(t, PhasePushing, s.Phase)
		leaked = s.NewKeyID
		env.SignalWorkflow(RevokeSignal, RevokeInput{AccessKeyID: leaked, Reason: "new key printed in a log"})
	}, 10*time.Second)
	executeRotation(env, wideRotation(n))
	s, err := finalStatus(t, env)
	require.NoError(t, err, strings.Join(f.calls, ","))
	require.Equal(t, PhaseDone, s.Phase)
	require.NotEqual(t, leaked, s.NewKeyID)
	require.Nil(t, f.find(leaked))
	require.Len(t, f.keys, 1)
	for _, ts := range s.Targets {
		require.Equal(t, s.NewKeyID, f.confirmed[ts.Target], ts.Target)
	}
	require.Equal(t, RevocationDone, s.Revocations[0].State)
	require.Equal(t, 4, *batches, "the stopped batch, then three for the replacement")
}
