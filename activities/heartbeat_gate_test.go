package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
)

// TestHeartbeatGate: a push attempt that ends within heartbeatQuiet sends
// no heartbeat when it succeeds, and its last progress when it fails (the
// next attempt resumes from it); an older attempt heartbeats at once.
func TestHeartbeatGate(t *testing.T) {
	steps := []string{"wrote AWS_ACCESS_KEY_ID", "wrote AWS_SECRET_ACCESS_KEY", "read-back did not confirm the writes"}
	cases := []struct {
		name string
		age  time.Duration // how long the attempt has run when it starts its steps
		fail error
		want []string // the steps heartbeated, in order
	}{
		{name: "quick success: none", want: nil},
		{name: "quick failure: the last progress, once", fail: errors.New("read-back failed"), want: steps[2:]},
		{name: "after the quiet time: each step", age: heartbeatQuiet, want: steps[:1]}, // the test environment passes the first of a burst on
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			var got []string
			env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
				var p PushProgress
				require.NoError(t, d.Get(&p))
				got = append(got, p.Step)
			})
			attempt := func(ctx context.Context) error {
				ctx, gate := withHeartbeatGate(ctx, time.Now().Add(-tc.age))
				progress := &PushProgress{Target: "acme/app"}
				c := &caller{policy: defaultCallPolicy, progress: progress}
				for _, s := range steps {
					progress.Step = s
					c.heartbeat(ctx)
				}
				if tc.fail != nil {
					gate.flush(ctx)
				}
				return tc.fail
			}
			env.RegisterActivityWithOptions(attempt, activity.RegisterOptions{Name: "Attempt"})
			_, err := env.ExecuteActivity("Attempt")
			if tc.fail != nil {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, got)
		})
	}
}
