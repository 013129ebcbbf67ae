package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// ScheduledRotation is what a Temporal Schedule starts. A schedule appends a
// timestamp to the workflow ID of every run it starts, which would break the
// rule that the running rotation of a user always has the ID
// rotate/<account>/<user>, and that at most one runs. So the schedule starts
// this small workflow instead, and it starts RotateAccessKey as a child with
// the fixed ID:
//
//   - If a rotation of the user is already running, however it was started
//     (rotate CLI, an earlier schedule run, a manual trigger), the child start
//     fails as already started and this run ends successfully as skipped: runs
//     never pile up behind a rotation that takes days.
//   - The child is abandoned when this workflow closes: the rotation outlives
//     its starter, and this workflow only waits for the child to start, so
//     the schedule's own overlap policy (SKIP) is about seconds, not days.
func ScheduledRotation(ctx workflow.Context, in ScheduledInput) (ScheduledResult, error) {
	id := in.Rotation.WorkflowID()
	res := ScheduledResult{WorkflowID: id}
	child := workflow.ExecuteChildWorkflow(rotationChildOptions(ctx, in.Rotation), WorkflowName, RotateInput{Account: in.Rotation.Account, User: in.Rotation.User})
	var started workflow.Execution
	err := child.GetChildWorkflowExecution().Get(ctx, &started)
	switch {
	case temporal.IsWorkflowExecutionAlreadyStartedError(err):
		// The server reports ChildWorkflowExecutionAlreadyStartedError (the
		// test environment a WorkflowExecutionAlreadyStarted); both mean a
		// rotation of this user is running, which is not a failure.
		res.Skipped = SkippedAlreadyRunning
		workflow.GetLogger(ctx).Info("rotation already running; scheduled run skipped", "WorkflowID", id)
		return res, nil
	case err != nil:
		return res, err
	}
	res.Started, res.RunID = true, started.RunID
	return res, nil
}

// rotationChildOptions start the rotation under its fixed ID, on this
// workflow's task queue (the one the schedule names from the config).
func rotationChildOptions(ctx workflow.Context, r model.Rotation) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: r.WorkflowID(),
		// The rotation takes days and must not be cancelled or terminated
		// when this starter completes a moment later.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// A closed rotation of the user does not block the next one; a
		// running one does (the start fails), which is the skip above.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "scheduled rotation of the access key of IAM user " + r.User + " in account " + r.Account,
		TypedSearchAttributes: contract.InitialSearchAttributes(r),
		Memo:                  contract.RotationMemo(r),
	})
}
