package operator

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/workflows"
)

// Revoke signals the user's running rotation to revoke a key, or, when none
// runs, starts one with the revoke already pending (signal-with-start, so
// there is no race between "is one running?" and "start one").
func Revoke(ctx context.Context, c client.Client, taskQueue string, r model.Rotation, in workflows.RevokeInput) (Started, error) {
	opts := startOptions(taskQueue, r)
	run, err := c.SignalWithStartWorkflow(ctx, opts.ID, workflows.RevokeSignal, in, opts, workflows.WorkflowName, workflows.RotateInput{Rotation: r})
	if err != nil {
		return Started{}, fmt.Errorf("revoke via %s: %w", opts.ID, err)
	}
	return Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// Signal sends one of the operator signals (proceed, retry, rollback) to
// the user's running rotation.
func Signal(ctx context.Context, c client.Client, workflowID, name string, in workflows.ProceedInput) error {
	if err := c.SignalWorkflow(ctx, workflowID, "", name, in); err != nil {
		return fmt.Errorf("signal %s to %s: %w", name, workflowID, err)
	}
	return nil
}
