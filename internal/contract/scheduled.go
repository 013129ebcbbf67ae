package contract

import "github.com/keyrotor/keyrotor/internal/model"

// ScheduledWorkflowName is the workflow type a Temporal Schedule starts.
const ScheduledWorkflowName = "ScheduledRotation"

// ScheduledInput is the input a schedule gives ScheduledRotation: the
// resolved rotation, never a token.
type ScheduledInput struct {
	Rotation model.Rotation `json:"rotation"`
}

// ScheduledResult says what a scheduled run did.
type ScheduledResult struct {
	WorkflowID string `json:"workflowId"`      // always rotate/<account>/<user>
	Started    bool   `json:"started"`         // a new rotation was started
	RunID      string `json:"runId,omitempty"` // its run, when Started
	Skipped    string `json:"skipped,omitempty"`
}

// SkippedAlreadyRunning is ScheduledResult.Skipped when a rotation of the
// user was still running.
const SkippedAlreadyRunning = "already running"
