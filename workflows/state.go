package workflows

import (
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

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
	stepPreflight      step = "check that every target can be written"
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
	preflighted         bool // the targets' read-only checks ran (before the first key is created)
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
	case !m.preflighted && !r.newKey.exists():
		return stepPreflight
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
