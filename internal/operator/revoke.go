package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// RejectedError is an operator request the rotation refused, with its reason.
type RejectedError struct {
	Request, WorkflowID, Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%s rejected by %s: %s", e.Request, e.WorkflowID, e.Reason)
}

// Revoked says what the rotation made of a revoke.
type Revoked struct {
	Started
	Revocation contract.Revocation `json:"revocation"`
}

// Revoke asks the user's running rotation to revoke a key, or, when none
// runs, starts one with the revoke in it (update-with-start, so there is no
// race between "is one running?" and "start one"). The rotation accepts or
// rejects it, with the reason, before anything happens. A rotation started by
// an earlier release, which has no updates, gets the revoke signal instead.
func Revoke(ctx context.Context, c client.Client, taskQueue string, r model.Rotation, in contract.RevokeInput) (Revoked, error) {
	opts := startOptions(taskQueue, r)
	// A running rotation takes the revoke; none running, a new one starts.
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	start := c.NewWithStartWorkflowOperation(opts, contract.WorkflowName, contract.NewRotateInput(r))
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   contract.RevokeSignal,
			Args:         []any{in},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var res contract.RevokeResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if unknownUpdate(err) {
		return revokeBySignal(ctx, c, opts, r, in)
	}
	if err != nil {
		return Revoked{}, requestError("revoke", opts.ID, err)
	}
	run, err := start.Get(ctx)
	if err != nil {
		return Revoked{}, fmt.Errorf("revoke via %s: %w", opts.ID, err)
	}
	return Revoked{Started: Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, Revocation: res.Revocation}, nil
}

func revokeBySignal(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, r model.Rotation, in contract.RevokeInput) (Revoked, error) {
	run, err := c.SignalWithStartWorkflow(ctx, opts.ID, contract.RevokeSignal, in, opts, contract.WorkflowName, contract.NewRotateInput(r))
	if err != nil {
		return Revoked{}, fmt.Errorf("revoke via %s: %w", opts.ID, err)
	}
	return Revoked{Started: Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}}, nil
}

// Request sends proceed, retry or rollback to the user's running rotation
// and returns its answer: what will happen, or why it was rejected.
func Request(ctx context.Context, c client.Client, workflowID, name string, in contract.ProceedInput) (contract.ProceedResult, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res contract.ProceedResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if unknownUpdate(err) {
		// A rotation started by an earlier release: it takes the signal.
		if err := c.SignalWorkflow(ctx, workflowID, "", name, in); err != nil {
			return res, fmt.Errorf("signal %s to %s: %w", name, workflowID, err)
		}
		return contract.ProceedResult{Message: name + " signal sent (this rotation predates updates; its status shows what it did)"}, nil
	}
	if err != nil {
		return res, requestError(name, workflowID, err)
	}
	return res, nil
}

// requestError turns a validator's rejection into a RejectedError; other
// errors (no such rotation, Temporal unreachable) are wrapped.
func requestError(name, workflowID string, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return &RejectedError{Request: name, WorkflowID: workflowID, Reason: app.Message()}
	}
	return fmt.Errorf("%s to %s: %w", name, workflowID, err)
}

// unknownUpdate reports a rotation without the update handler: one started
// by a release before updates existed.
func unknownUpdate(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unknown update")
}
