// Package operator holds what the starter CLI does against Temporal:
// starting rotations and waiting for their reports. The CLI in starter/
// only parses flags and prints.
package operator

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Started says which run a rotation request ended up with.
type Started struct {
	WorkflowID     string `json:"workflowId"`
	RunID          string `json:"runId"`
	AlreadyRunning bool   `json:"alreadyRunning"`
}

// StartRotation starts the user's rotation, or finds the one already running:
// the workflow ID rotate/<account>/<user> admits one running rotation per
// user, however it was started.
func StartRotation(ctx context.Context, c client.Client, taskQueue string, r model.Rotation) (Started, error) {
	opts := startOptions(taskQueue, r)
	// One rotation per user at a time: a second start while one runs is
	// refused (and reported as already running).
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	run, err := c.ExecuteWorkflow(ctx, opts, contract.WorkflowName, contract.NewRotateInput(r))
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return Started{WorkflowID: opts.ID, RunID: already.RunId, AlreadyRunning: true}, nil
	case err != nil:
		return Started{}, fmt.Errorf("start rotation %s: %w", opts.ID, err)
	}
	return Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// startOptions are the options every start of a rotation shares.
func startOptions(taskQueue string, r model.Rotation) client.StartWorkflowOptions {
	opts := client.StartWorkflowOptions{
		ID:        r.WorkflowID(),
		TaskQueue: taskQueue,
		// Once a rotation has closed, a new one may reuse the ID.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "rotate the access key of IAM user " + r.User + " in account " + r.Account,
		TypedSearchAttributes: contract.InitialSearchAttributes(r),
		Memo:                  contract.RotationMemo(r),
	}
	return opts
}

// Wait blocks until the rotation ends and returns its final report. A
// failed rotation returns its report together with an error.
func Wait(ctx context.Context, c client.Client, s Started) (contract.Status, error) {
	var res contract.RotateResult
	err := c.GetWorkflow(ctx, s.WorkflowID, s.RunID).Get(ctx, &res)
	if err == nil {
		return res.Status, nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == contract.TypeRotationFailed {
		var st contract.Status
		if derr := app.Details(&st); derr == nil {
			return st, fmt.Errorf("rotation %s failed: %s", s.WorkflowID, app.Message())
		}
	}
	return contract.Status{}, fmt.Errorf("rotation %s: %w", s.WorkflowID, err)
}

// Status asks a running (or recently closed) rotation for its status.
func Status(ctx context.Context, c client.Client, workflowID string) (contract.Status, error) {
	v, err := c.QueryWorkflow(ctx, workflowID, "", contract.StatusQuery)
	if err != nil {
		return contract.Status{}, fmt.Errorf("query %s: %w", workflowID, err)
	}
	var st contract.Status
	if err := v.Get(&st); err != nil {
		return contract.Status{}, fmt.Errorf("decode status of %s: %w", workflowID, err)
	}
	return st, nil
}
