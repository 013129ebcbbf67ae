package workflows

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/model"
)

var scheduledRotation = model.Rotation{Account: "demo", User: "ci-deployer", Policy: model.DefaultPolicy,
	Targets: []model.Target{{Kind: model.GitHubRepository, Repository: "acme/api"}}}

// fakeRotation stands in for RotateAccessKey: it runs for an hour of
// workflow time, long enough to still be running when a second scheduled
// run comes.
func fakeRotation(ctx workflow.Context, in RotateInput) (RotateResult, error) {
	return RotateResult{}, workflow.Sleep(ctx, time.Hour)
}

// scheduledRuns plays the schedule: it starts ScheduledRotation n times,
// one after the other, each under its own ID as a schedule would.
func scheduledRuns(ctx workflow.Context, n int, in ScheduledInput) ([]ScheduledResult, error) {
	var out []ScheduledResult
	for i := range n {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("scheduled/demo/ci-deployer-%d", i)})
		var res ScheduledResult
		if err := workflow.ExecuteChildWorkflow(cctx, ScheduledWorkflowName, in).Get(ctx, &res); err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// startedChild is what the test environment reports of a started child.
type startedChild struct {
	id, workflowType string
	input            RotateInput
}

func TestScheduledRotation(t *testing.T) {
	tests := []struct {
		name      string
		runs      int
		want      []ScheduledResult // RunID is only checked to be set when Started
		rotations int               // RotateAccessKey children actually started
	}{
		{"starts the rotation", 1, []ScheduledResult{{WorkflowID: "rotate/demo/ci-deployer", Started: true}}, 1},
		{"skips while a rotation runs", 2, []ScheduledResult{
			{WorkflowID: "rotate/demo/ci-deployer", Started: true},
			{WorkflowID: "rotate/demo/ci-deployer", Skipped: SkippedAlreadyRunning},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(scheduledRuns)
			env.RegisterWorkflowWithOptions(ScheduledRotation, workflow.RegisterOptions{Name: ScheduledWorkflowName})
			env.RegisterWorkflowWithOptions(fakeRotation, workflow.RegisterOptions{Name: WorkflowName})
			var mu sync.Mutex
			var children []startedChild
			env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
				if info.WorkflowType.Name != WorkflowName {
					return
				}
				var in RotateInput
				require.NoError(t, args.Get(&in))
				mu.Lock()
				defer mu.Unlock()
				children = append(children, startedChild{id: info.WorkflowExecution.ID, workflowType: info.WorkflowType.Name, input: in})
			})

			env.ExecuteWorkflow(scheduledRuns, tt.runs, ScheduledInput{Rotation: scheduledRotation})
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var got []ScheduledResult
			require.NoError(t, env.GetWorkflowResult(&got))
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				if w.Started {
					require.NotEmpty(t, got[i].RunID, "run %d", i)
					w.RunID = got[i].RunID
				}
				require.Equal(t, w, got[i], "run %d", i)
			}

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, children, tt.rotations)
			for _, c := range children {
				require.Equal(t, "rotate/demo/ci-deployer", c.id, "the child gets the fixed ID")
				require.Equal(t, RotateInput{Account: scheduledRotation.Account, User: scheduledRotation.User}, c.input, "the child names the user; the worker config gives the rest")
			}
		})
	}
}
