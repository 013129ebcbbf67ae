package contract

import (
	"time"
)

// Phase is where a rotation stands. It is what the status query, the report
// and the Temporal UI show.
type Phase string

// The phases, in runbook order.
const (
	PhaseInspecting      Phase = "inspecting"
	PhaseCreating        Phase = "creating"
	PhaseVerifying       Phase = "verifying"
	PhasePushing         Phase = "pushing"
	PhaseGrace           Phase = "grace"
	PhaseCheckingIdle    Phase = "checking-idle"
	PhaseHolding         Phase = "holding"
	PhaseDeactivating    Phase = "deactivating"
	PhaseWaitingToDelete Phase = "waiting-to-delete"
	PhaseDeleting        Phase = "deleting"
	PhaseRollingBack     Phase = "rolling-back"
	PhaseRevoking        Phase = "revoking"
	PhaseCancelling      Phase = "cancelling"
	// The endings.
	PhaseRolledBack Phase = "rolled-back"
	PhaseDone       Phase = "done"
	PhaseFailed     Phase = "failed"
	PhaseCancelled  Phase = "cancelled"
)

// Ended reports whether the phase is one a rotation ends in.
func (p Phase) Ended() bool {
	return p == PhaseDone || p == PhaseFailed || p == PhaseRolledBack || p == PhaseCancelled
}

// TargetState is how far one target got.
type TargetState string

// Target states.
const (
	TargetPending   TargetState = "pending"
	TargetPushing   TargetState = "pushing"
	TargetConfirmed TargetState = "confirmed"
	TargetFailed    TargetState = "failed"
)

// TargetStatus is one target's progress.
type TargetStatus struct {
	Target      string      `json:"target"` // model.Target.String()
	Kind        string      `json:"kind"`
	State       TargetState `json:"state"`
	Error       string      `json:"error,omitempty"`
	ConfirmedAt *time.Time  `json:"confirmedAt,omitempty"`
	// ConfirmedBy says how the target confirmed the new key: "read back",
	// or "metadata (…)" where the provider never shows a value again.
	ConfirmedBy string `json:"confirmedBy,omitempty"`
	// Waiting says what a push in flight waits for, e.g. "waiting for
	// github quota": filled in by the operator tools from the pending
	// activity (its heartbeat or last failure), never by the workflow.
	Waiting string `json:"waiting,omitempty"`
}

// Event is one line of the rotation's timeline.
type Event struct {
	At      time.Time `json:"at"`
	Phase   Phase     `json:"phase"`
	Message string    `json:"message"`
}

// Bounds on what the status keeps, so that the final result (stored in the
// history next to the status queries' answers) stays far below Temporal's
// payload limit however many signals an operator sends.
const (
	MaxTimeline    = 200 // the newest events; TimelineDropped counts the rest
	MaxNotices     = 20  // the newest notices
	MaxRevocations = 16  // revoke requests recorded; more are rejected
	MaxOperatorLen = 256 // bytes of an operator-supplied reason or name
)

// Status is the answer to the status query, and (as the final report) the
// workflow's result. It holds key IDs, never a secret.
type Status struct {
	Account  string `json:"account"`
	User     string `json:"user"`
	Phase    Phase  `json:"phase"`
	OldKeyID string `json:"oldKeyId,omitempty"`
	NewKeyID string `json:"newKeyId,omitempty"`
	// When the keys were created (their age is what a rotation policy is about).
	OldKeyCreatedAt *time.Time     `json:"oldKeyCreatedAt,omitempty"`
	NewKeyCreatedAt *time.Time     `json:"newKeyCreatedAt,omitempty"`
	Targets         []TargetStatus `json:"targets"`
	StartedAt       time.Time      `json:"startedAt"`
	// Waiting says what the current timer is for ("grace period", …) and
	// WaitUntil when it fires; both empty when nothing is waiting.
	Waiting   string     `json:"waiting,omitempty"`
	WaitUntil *time.Time `json:"waitUntil,omitempty"`
	// HeldReason explains why the rotation holds instead of going on.
	HeldReason string `json:"heldReason,omitempty"`
	Error      string `json:"error,omitempty"`
	// Left says, once the rotation ended, which keys the user holds and in
	// which state, e.g. "AKIA… active, AKIA… deactivated".
	Left string `json:"left,omitempty"`
	// Revocations are the revoke requests received, and what became of them.
	Revocations []Revocation `json:"revocations,omitempty"`
	// Notices report requests that were ignored or rejected, and why (the
	// newest MaxNotices).
	Notices  []string `json:"notices,omitempty"`
	Timeline []Event  `json:"timeline"`
	// TimelineDropped counts the oldest events left out of Timeline.
	TimelineDropped int `json:"timelineDropped,omitempty"`
}

// FailedTargets lists the targets that failed for good.
func (s Status) FailedTargets() []TargetStatus {
	var out []TargetStatus
	for _, t := range s.Targets {
		if t.State == TargetFailed {
			out = append(out, t)
		}
	}
	return out
}

// ConfirmedTargets counts the targets that confirmed the new key.
func (s Status) ConfirmedTargets() int {
	n := 0
	for _, t := range s.Targets {
		if t.State == TargetConfirmed {
			n++
		}
	}
	return n
}
