package workflows

import (
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
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
	maxTimeline    = 200 // the newest events; TimelineDropped counts the rest
	maxNotices     = 20  // the newest notices
	maxRevocations = 16  // revoke requests recorded; more are rejected
	maxOperatorLen = 256 // bytes of an operator-supplied reason or name
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
	// newest maxNotices).
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

func newStatus(account, user string) Status {
	return Status{Account: account, User: user, Phase: PhaseInspecting, Targets: []TargetStatus{}}
}

func targetStatuses(r model.Rotation) []TargetStatus {
	out := make([]TargetStatus, 0, len(r.Targets))
	for _, t := range r.Targets {
		out = append(out, TargetStatus{Target: t.String(), Kind: string(t.Kind), State: TargetPending})
	}
	return out
}

// --- the rotation's own state ----------------------------------------------

// keyState is what the rotation knows of one access key.
type keyState string

const (
	keyActive   keyState = "active"
	keyInactive keyState = "deactivated"
	keyDeleted  keyState = "deleted"
)

// trackedKey is one of the two keys a rotation handles. The zero value is
// "no such key".
type trackedKey struct {
	ID        string
	State     keyState
	CreatedAt *time.Time
	// Sent: a push of this key began, so a target may hold it (a push whose
	// answer was lost or cancelled may still have written it).
	Sent bool
}

func (k trackedKey) exists() bool { return k.ID != "" && k.State != keyDeleted }
func (k trackedKey) active() bool { return k.ID != "" && k.State == keyActive }

// step is what the rotation does next. next decides it; run carries it out.
type step string

const (
	stepResolve        step = "resolve the rotation from the worker's configuration"
	stepInspect        step = "inspect the user's keys"
	stepRevokeNow      step = "deactivate a key revoked with mode now"
	stepCancel         step = "clean up after a cancel"
	stepReplaceNewKey  step = "replace the revoked new key"
	stepCreate         step = "create the new key"
	stepVerify         step = "verify the new key"
	stepPush           step = "push the new key to the targets"
	stepHoldForTargets step = "hold for the failed targets"
	stepFailTargets    step = "fail: targets did not confirm"
	stepGrace          step = "wait out the grace period"
	stepCheckIdle      step = "check that the old key is idle"
	stepDeactivateOld  step = "deactivate the old key"
	stepRollback       step = "re-activate the old key"
	stepWaitToDelete   step = "wait before deleting the old key"
	stepDeleteOld      step = "delete the old key"
	stepDone           step = "done"
)

// milestones are the runbook steps that have nothing to show in IAM: the
// waits and checks that happened.
type milestones struct {
	resolved, inspected bool
	verified            bool // the current new key signs as the user
	pushed              bool // every target confirmed it, or an operator went on without the failed ones
	graceDone           bool
	idleDone            bool
	deleteWaitDone      bool
}

// requests are operator requests the runbook has not consumed yet. Handlers
// only set them; next and the waits read them.
type requests struct {
	proceed  bool // end the current wait or hold
	retry    bool // re-push the failed targets (while holding for them)
	rollback bool // re-activate the old key (while waiting to delete it)
	cancel   bool // the workflow was cancelled
}

// next is the one place that decides what the rotation does next, from its
// state and the operator's pending requests. It reads top to bottom like the
// runbook; the lines above it are the operator's overrides. The invariants
// live here:
//
//   - a key revoked with mode now is deactivated before anything else;
//   - a revoked new key is replaced before the rotation goes on or ends;
//   - the old key stays active until every target confirmed the new key, or
//     it is revoked and an operator said to go on without the failed ones;
//   - targets that fail while the old key is revoked hold the rotation
//     (retry, proceed) instead of ending it with a revoked key alive;
//   - rollback only applies to an old key this rotation deactivated, never
//     to a revoked one.
func (r *rotation) next() step {
	m := &r.done
	switch {
	case !m.resolved:
		return stepResolve
	case !m.inspected:
		return stepInspect
	case r.revokeNowDue() != nil:
		return stepRevokeNow
	case r.req.cancel:
		return stepCancel
	case r.newKeyRevoked():
		return stepReplaceNewKey
	case !r.newKey.exists():
		return stepCreate
	case !m.verified:
		return stepVerify
	case !m.pushed && (len(r.status.FailedTargets()) == 0 || r.req.retry):
		return stepPush
	case !m.pushed && r.oldKeyRevoked():
		return stepHoldForTargets
	case !m.pushed:
		return stepFailTargets
	case r.oldKey.active() && !r.oldKeyRevoked() && !m.graceDone:
		return stepGrace
	case r.oldKey.active() && !r.oldKeyRevoked() && !m.idleDone:
		return stepCheckIdle
	case r.oldKey.active():
		return stepDeactivateOld
	case r.oldKey.exists() && r.req.rollback && !r.oldKeyRevoked():
		return stepRollback
	case r.oldKey.exists() && !r.oldKeyRevoked() && !m.deleteWaitDone:
		return stepWaitToDelete
	case r.oldKey.exists():
		return stepDeleteOld
	default:
		return stepDone
	}
}

// waitCutShort is what ends a wait or a hold early: anything that changes
// what next decides.
func (r *rotation) waitCutShort() bool {
	return r.req.proceed || r.req.cancel || r.req.rollback || r.revokeNowDue() != nil || r.newKeyRevoked() || r.oldKeyRevoked()
}
