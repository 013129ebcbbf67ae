package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// PushBatchWorkflowName is the child workflow that pushes one batch of a
// large rotation's targets.
const PushBatchWorkflowName = "PushBatch"

// A rotation with more targets than pushBatchSize pushes them in batches,
// one PushBatch child workflow each, one batch at a time: every push is 3
// events or more, and a user with a thousand targets would otherwise fill
// one history with thousands of them (Temporal warns at 10,240 events and
// fails a workflow at 51,200). A batch's history holds its pushes; the
// rotation's holds one child per batch.
const pushBatchSize = 100

// pushBatchesChange: rotations with more than pushBatchSize targets push
// them through PushBatch children.
const pushBatchesChange = "push-batches"

// PushBatchInput is one batch of a rotation's targets and the sealed key
// to write to each.
type PushBatchInput struct {
	Account string                `json:"account"`
	User    string                `json:"user"`
	Targets []model.Target        `json:"targets"`
	Key     model.SealedAccessKey `json:"key"`
	// RetryBudget is each push's retry budget (the policy's pushRetryFor).
	RetryBudget time.Duration `json:"retryBudget"`
}

// PushBatchResult is every target's outcome, in the input's order.
type PushBatchResult struct {
	Outcomes []PushOutcome `json:"outcomes"`
}

// PushOutcome is how one push ended: confirmed, failed (Error), or stopped
// before it finished (Stopped: the batch was cancelled).
type PushOutcome struct {
	Target      string `json:"target"`
	ConfirmedBy string `json:"confirmedBy,omitempty"`
	Error       string `json:"error,omitempty"`
	Stopped     bool   `json:"stopped,omitempty"`
}

// outcomeOf is the outcome of one push activity.
func outcomeOf(t model.Target, res activities.PushResult, err error) PushOutcome {
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &canceled):
		return PushOutcome{Target: t.String(), Stopped: true}
	case err != nil:
		return PushOutcome{Target: t.String(), Error: message(err)}
	}
	return PushOutcome{Target: t.String(), ConfirmedBy: res.ConfirmedBy}
}

// PushBatch pushes the key to every target of the batch, maxParallelPushes
// at a time, with the same activity and retries as a rotation's own pushes.
// Cancelled (the rotation stops its pushes: a revoke, a cancel), it starts
// no more, waits until the pushes under way report back, and completes
// with the outcomes: a target never pushed is Stopped.
func PushBatch(ctx workflow.Context, in PushBatchInput) (PushBatchResult, error) {
	out := PushBatchResult{Outcomes: make([]PushOutcome, len(in.Targets))}
	for i, t := range in.Targets {
		out.Outcomes[i] = PushOutcome{Target: t.String(), Stopped: true}
	}
	running, next := 0, 0
	for next < len(in.Targets) && ctx.Err() == nil {
		if running == maxParallelPushes {
			// Returns at once when ctx is cancelled; the loop then stops.
			_ = workflow.Await(ctx, func() bool { return running < maxParallelPushes })
			continue
		}
		i, t := next, in.Targets[next]
		next++
		running++
		actx := pushOptions(ctx, "push to "+t.String(), in.RetryBudget)
		f := workflow.ExecuteActivity(actx, targetActs.PushToTarget,
			activities.PushInput{Account: in.Account, User: in.User, Target: t, Key: in.Key})
		workflow.Go(ctx, func(gctx workflow.Context) {
			var res activities.PushResult
			err := f.Get(gctx, &res)
			out.Outcomes[i] = outcomeOf(t, res, err)
			running--
		})
	}
	// The pushes under way report back, cancelled or not (their
	// activities wait for cancellation), before the batch answers: no
	// write of the key may land after the rotation moved on.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return running == 0 })
	return out, nil
}

// batchSizeKey is a workflow context value that sets a smaller batch size,
// so that the interleaving tests put batches through every schedule they
// try without a thousand targets each (they set it with an interceptor).
type batchSizeKey struct{}

// batchSize is how many targets one PushBatch holds.
func batchSize(ctx workflow.Context) int {
	if n, ok := ctx.Value(batchSizeKey{}).(int); ok && n > 0 {
		return n
	}
	return pushBatchSize
}

// pushesInBatches reports whether the rotation pushes n targets through
// PushBatch children.
func (r *rotation) pushesInBatches(ctx workflow.Context, n int) bool {
	if n <= batchSize(ctx) {
		return false
	}
	return r.changed(ctx, pushBatchesChange)
}

// startBatch starts a PushBatch child for the targets at idx. Its ID is
// the rotation's and its start time's (not the run ID: a replay runs under
// another), and the batch's number.
func (r *rotation) startBatch(ctx workflow.Context, idx []int) workflow.ChildWorkflowFuture {
	r.batches++
	in := PushBatchInput{Account: r.account, User: r.user, Key: r.sealed, RetryBudget: r.cfg.Policy.PushRetryBudget()}
	for _, i := range idx {
		in.Targets = append(in.Targets, r.cfg.Targets[i])
		r.status.Targets[i].State = TargetPushing
	}
	r.newKey.Sent = true
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: fmt.Sprintf("push/%s/%s/%d", model.WorkflowID(r.account, r.user),
			r.status.StartedAt.UTC().Format("20060102T150405.000000000Z"), r.batches),
		// The rotation waits for a stopped batch's pushes to settle.
		WaitForCancellation: true,
		// A rotation terminated by hand stops its batch's pushes.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		StaticSummary:     fmt.Sprintf("push the new key of %s to %d targets (batch %d)", r.user, len(idx), r.batches),
	})
	return workflow.ExecuteChildWorkflow(cctx, PushBatchWorkflowName, in)
}
