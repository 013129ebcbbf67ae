package workflows

// This file is the rotation as it ran before explicitStateChange: frozen, so
// that rotations started by an earlier release replay and finish on this one.
// Rotations started now never run it (see RotateAccessKey). Do not change
// what it schedules; fix bugs in the state machine in rotate.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// errLegacyNewKeyRevoked interrupts the retirement of the old key when the new
// key itself was revoked (it leaked during the rotation).
var errLegacyNewKeyRevoked = errors.New("the new key was revoked")

// errLegacyRolledBack ends the rotation after the old key was re-activated.
var errLegacyRolledBack = errors.New("rolled back")

// RotateAccessKey rotates one IAM user's access key, in runbook order:
// create, verify, push, wait, deactivate, wait, delete. The old key stays
// active until every target has confirmed the new one (unless an operator
// revokes it with mode now).
func rotateAccessKeyLegacy(ctx workflow.Context, in RotateInput) (RotateResult, error) {
	r := newLegacyRotation(ctx, in.Rotation)
	if err := r.registerHandlers(ctx); err != nil {
		return RotateResult{}, err
	}
	r.startRevoker(ctx)

	if err := r.inspect(ctx); err != nil {
		return r.fail(ctx, err)
	}
	// Create, verify, push.
	if err := r.rollOutNewKey(ctx); err != nil {
		return r.fail(ctx, err)
	}
	// Wait, deactivate, wait, delete. A revoke of the new key sends the
	// rotation round again with a fresh key.
	for {
		if r.revoked("new") {
			if err := r.replaceRevokedNewKey(ctx); err != nil {
				return r.fail(ctx, err)
			}
			continue
		}
		if r.oldKeyID == "" {
			break
		}
		err := r.retireOldKey(ctx)
		switch {
		case errors.Is(err, errLegacyRolledBack):
			return r.end(ctx, PhaseRolledBack, "rolled back: the old key "+r.oldKeyID+" is active again, next to the new key "+r.newKey.ID)
		case errors.Is(err, errLegacyNewKeyRevoked):
			continue
		case err != nil:
			return r.fail(ctx, err)
		}
		r.oldKeyID, r.oldOff = "", false
	}
	return r.end(ctx, PhaseDone, "rotation complete")
}

// rotation is the workflow's state. Signal handlers only set fields here;
// the runbook awaits them.
type legacyRotation struct {
	in        model.Rotation
	status    Status
	inspected bool
	oldKeyID  string                // the key being retired ("" when none is left)
	oldOff    bool                  // the key being retired is deactivated
	newKey    model.SealedAccessKey // its secret sealed: the workflow never holds it in the clear
	pushedAt  time.Time

	// Set by signals, consumed by the runbook.
	upsertPhase    bool  // this run publishes KeyrotorPhase (see searchAttributesVersion)
	publishedPhase Phase // the KeyrotorPhase last published

	proceed           bool
	retry             bool
	rollback          bool
	holdingForTargets bool
}

func newLegacyRotation(ctx workflow.Context, in model.Rotation) *legacyRotation {
	r := &legacyRotation{in: in, status: newStatus(in.Account, in.User)}
	r.status.Targets = targetStatuses(in)
	r.status.StartedAt = workflow.Now(ctx)
	r.upsertPhase = workflow.GetVersion(ctx, searchAttributesChange, workflow.DefaultVersion, searchAttributesVersion) >= searchAttributesVersion
	return r
}

func (r *legacyRotation) policy() model.RotationPolicy { return r.in.Policy }

func (r *legacyRotation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, StatusQuery, func() (Status, error) {
		return r.status, nil
	}, workflow.QueryHandlerOptions{Description: "phase, key IDs, targets, revocations and the current timer of this rotation"}); err != nil {
		return err
	}
	r.registerSignals(ctx)
	return nil
}

// --- the steps ----------------------------------------------------------

func (r *legacyRotation) inspect(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseInspecting, "listing the user's access keys")
	var res activities.InspectKeysResult
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "inspect keys of "+r.in.User), iamActs.InspectKeys,
		activities.InspectKeysInput{Account: r.in.Account, User: r.in.User}).Get(ctx, &res)
	if err != nil {
		return err
	}
	for _, id := range res.DeletedInactive {
		r.event(ctx, "deleted leftover inactive key "+id)
	}
	if res.ActiveKey != nil {
		r.oldKeyID = res.ActiveKey.ID
		r.status.OldKeyID = res.ActiveKey.ID
		r.status.OldKeyCreatedAt = &res.ActiveKey.CreatedAt
		r.event(ctx, "old key is "+res.ActiveKey.ID)
	}
	r.inspected = true
	r.resolveRevocations(ctx)
	return nil
}

// rollOutNewKey creates the new key, verifies it and pushes it to every
// target. If targets fail for good, the rotation fails with both keys
// active, unless the old key is revoked: then it holds for a retry.
func (r *legacyRotation) rollOutNewKey(ctx workflow.Context) error {
	if err := r.create(ctx); err != nil {
		return err
	}
	if err := r.verify(ctx); err != nil {
		return r.discardNewKey(ctx, err)
	}
	return r.pushUntilConfirmed(ctx)
}

func (r *legacyRotation) create(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseCreating, "creating the new key")
	in := activities.CreateAccessKeyInput{Account: r.in.Account, User: r.in.User, NotBefore: workflow.Now(ctx)}
	// Every key this rotation knows of; anything else is a stray from a
	// lost attempt. (The current new key is known too when it is being
	// replaced after a revoke.)
	for _, id := range []string{r.oldKeyID, r.newKey.ID} {
		if id != "" {
			in.KnownKeyIDs = append(in.KnownKeyIDs, id)
		}
	}
	var res activities.CreateAccessKeyResult
	if err := workflow.ExecuteLocalActivity(iamOptions(ctx, "create a key for "+r.in.User), iamActs.CreateAccessKey, in).Get(ctx, &res); err != nil {
		return err
	}
	for _, id := range res.DeletedStray {
		r.event(ctx, "deleted stray key "+id+" left by a lost attempt")
	}
	r.newKey = res.Key
	r.status.NewKeyID = res.Key.ID
	r.status.NewKeyCreatedAt = &res.CreatedAt
	r.event(ctx, "created new key "+res.Key.ID)
	r.resolveRevocations(ctx)
	return nil
}

func (r *legacyRotation) verify(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseVerifying, "checking the new key with STS")
	var res activities.VerifyAccessKeyResult
	err := workflow.ExecuteLocalActivity(verifyOptions(ctx), iamActs.VerifyAccessKey,
		activities.VerifyAccessKeyInput{Account: r.in.Account, User: r.in.User, Key: r.newKey}).Get(ctx, &res)
	if err != nil {
		return err
	}
	r.event(ctx, "new key signs as "+res.ARN)
	return nil
}

// discardNewKey deletes a new key that never worked, so a failed verify
// leaves the user exactly as it found them.
func (r *legacyRotation) discardNewKey(ctx workflow.Context, cause error) error {
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "delete the unusable new key"), iamActs.DeleteAccessKey,
		r.keyInput(r.newKey.ID)).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("new key %s failed verification (%s) and could not be deleted: %w", r.newKey.ID, message(cause), err)
	}
	r.event(ctx, "deleted the new key "+r.newKey.ID+": it failed verification")
	return cause
}

// pushUntilConfirmed pushes to every target. When targets fail for good
// while the old key is revoked, ending the rotation would leave a leaked key
// alive, so it holds instead: retry re-pushes the failed targets, proceed
// goes on without them.
func (r *legacyRotation) pushUntilConfirmed(ctx workflow.Context) error {
	r.setPhase(ctx, PhasePushing, fmt.Sprintf("pushing the new key to %d targets", len(r.in.Targets)))
	for i := range r.status.Targets {
		r.status.Targets[i] = TargetStatus{Target: r.status.Targets[i].Target, Kind: r.status.Targets[i].Kind, State: TargetPending}
	}
	for {
		r.push(ctx)
		failed := r.status.FailedTargets()
		if len(failed) == 0 {
			r.event(ctx, "every target confirmed the new key")
			return nil
		}
		err := fmt.Errorf("%d of %d targets failed; both keys stay active so every pipeline keeps working", len(failed), len(r.in.Targets))
		if !r.revoked("old") {
			return err
		}
		if !r.holdForTargets(ctx, len(failed)) {
			r.event(ctx, "going on without the failed targets, as requested")
			return nil
		}
	}
}

// holdForTargets waits for retry (true) or proceed (false).
func (r *legacyRotation) holdForTargets(ctx workflow.Context, failed int) bool {
	r.holdingForTargets = true
	defer func() { r.holdingForTargets = false }()
	r.hold(ctx, fmt.Sprintf("%d targets failed while the old key is revoked; fix them and send retry, or send proceed to revoke the old key anyway", failed),
		func() bool { return r.retry })
	if r.retry {
		r.retry = false
		r.setPhase(ctx, PhasePushing, "re-pushing the failed targets")
		return true
	}
	return false
}

// push writes the new key to every target not yet confirmed, at most
// maxParallelPushes at a time.
func (r *legacyRotation) push(ctx workflow.Context) {
	var todo []int
	for i, ts := range r.status.Targets {
		if ts.State != TargetConfirmed {
			todo = append(todo, i)
		}
	}
	sel := workflow.NewSelector(ctx)
	running, next := 0, 0
	start := func(i int) {
		t := r.in.Targets[i]
		r.status.Targets[i].State = TargetPushing
		in := activities.PushInput{Account: r.in.Account, User: r.in.User, Target: t, Key: r.newKey}
		f := workflow.ExecuteActivity(pushOptions(ctx, "push to "+t.String(), r.in.Policy.PushRetryBudget()), legacyPushActivity(t), in)
		running++
		sel.AddFuture(f, func(f workflow.Future) {
			running--
			var res activities.PushResult
			r.recordPush(ctx, i, f.Get(ctx, &res))
		})
	}
	for ; next < len(todo) && running < maxParallelPushes; next++ {
		start(todo[next])
	}
	for running > 0 {
		sel.Select(ctx)
		if next < len(todo) {
			start(todo[next])
			next++
		}
	}
	r.pushedAt = workflow.Now(ctx)
}

func (r *legacyRotation) recordPush(ctx workflow.Context, i int, err error) {
	ts := &r.status.Targets[i]
	if err != nil {
		ts.State = TargetFailed
		ts.Error = message(err)
		r.event(ctx, "push to "+ts.Target+" failed: "+ts.Error)
		return
	}
	now := workflow.Now(ctx)
	ts.State, ts.Error, ts.ConfirmedAt = TargetConfirmed, "", &now
	r.event(ctx, ts.Target+" confirmed the new key")
}

// retireOldKey waits out the grace period, checks that the old key is idle,
// deactivates it, waits deleteAfter and deletes it. A revocation of the old
// key skips the waits and the idle check; a revocation of the new key
// interrupts with errLegacyNewKeyRevoked; a rollback during the wait before
// deletion re-activates the old key and ends with errLegacyRolledBack.
func (r *legacyRotation) retireOldKey(ctx workflow.Context) error {
	p := r.policy()
	if !r.revoked("old") {
		r.wait(ctx, PhaseGrace, "grace period", p.GracePeriod)
	}
	if r.revoked("new") {
		return errLegacyNewKeyRevoked
	}
	if !r.revoked("old") {
		if err := r.awaitOldKeyIdle(ctx); err != nil {
			return err
		}
	}
	if r.revoked("new") {
		return errLegacyNewKeyRevoked
	}
	if err := r.changeOldKey(ctx, PhaseDeactivating, "deactivate", iamActs.DeactivateAccessKey); err != nil {
		return err
	}
	if !r.revoked("old") {
		r.wait(ctx, PhaseWaitingToDelete, "delete the deactivated key", p.DeleteAfter)
	}
	if r.rollback {
		return r.rollBack(ctx)
	}
	if err := r.changeOldKey(ctx, PhaseDeleting, "delete", iamActs.DeleteAccessKey); err != nil {
		return err
	}
	r.markRevocations(r.oldKeyID, RevocationDone)
	return nil
}

// awaitOldKeyIdle makes sure nothing still uses the old key before it is
// deactivated: a use after the push means some pipeline did not pick up the
// new key. It re-checks a bounded number of times, then holds until an
// operator sends proceed (or revokes the old key).
func (r *legacyRotation) awaitOldKeyIdle(ctx workflow.Context) error {
	p := r.policy()
	if !p.RequireOldKeyIdle {
		return nil
	}
	for check := 1; ; check++ {
		r.setPhase(ctx, PhaseCheckingIdle, fmt.Sprintf("checking that the old key is idle (check %d of %d)", check, max(p.IdleChecks, 1)))
		var res activities.KeyLastUsedResult
		err := workflow.ExecuteLocalActivity(iamOptions(ctx, "check when the old key was last used"), iamActs.GetAccessKeyLastUsed,
			r.keyInput(r.oldKeyID)).Get(ctx, &res)
		if err != nil {
			return err
		}
		if res.LastUsed == nil || !res.LastUsed.After(r.pushedAt) {
			r.event(ctx, "old key is idle since the push")
			return nil
		}
		usedBy := fmt.Sprintf("old key %s was used at %s (%s) after the push finished", r.oldKeyID, res.LastUsed.UTC().Format("2006-01-02 15:04:05Z"), res.Service)
		if r.proceed || check >= p.IdleChecks {
			r.hold(ctx, usedBy+": something still holds it; send proceed to deactivate it anyway", nil)
			return nil
		}
		r.event(ctx, usedBy)
		r.wait(ctx, PhaseCheckingIdle, "re-check that the old key is idle", p.IdleRecheck)
		if r.revoked("old") || r.revoked("new") {
			return nil
		}
	}
}

// changeOldKey deactivates or deletes the old key.
func (r *legacyRotation) changeOldKey(ctx workflow.Context, phase Phase, verb string, act func(context.Context, activities.KeyInput) (activities.KeyChangeResult, error)) error {
	r.setPhase(ctx, phase, strings.TrimSuffix(verb, "e")+"ing the old key "+r.oldKeyID)
	var res activities.KeyChangeResult
	if err := workflow.ExecuteLocalActivity(iamOptions(ctx, verb+" the old key"), act, r.keyInput(r.oldKeyID)).Get(ctx, &res); err != nil {
		return err
	}
	r.event(ctx, pastTense(verb)+" the old key "+r.oldKeyID+alreadySuffix(res.AlreadyDone))
	r.oldOff = verb != "re-activate"
	return nil
}

// rollBack re-activates the deactivated old key: both keys are active again.
func (r *legacyRotation) rollBack(ctx workflow.Context) error {
	r.rollback = false
	if err := r.changeOldKey(ctx, PhaseRollingBack, "re-activate", iamActs.ActivateAccessKey); err != nil {
		return err
	}
	return errLegacyRolledBack
}

// replaceRevokedNewKey handles a new key that leaked during the rotation:
// it is deleted and another one rolled out, without ever leaving the user
// with no working key and without needing a third key.
func (r *legacyRotation) replaceRevokedNewKey(ctx workflow.Context) error {
	leaked := r.newKey.ID
	r.event(ctx, "the new key "+leaked+" was revoked: replacing it")
	if r.oldKeyID != "" && !r.oldOff {
		// The old key still serves every pipeline: delete the leaked key
		// first to make room, then roll out another.
		if err := r.deleteKey(ctx, leaked, "delete the revoked new key"); err != nil {
			return err
		}
		r.markRevocations(leaked, RevocationDone)
		r.newKey = model.SealedAccessKey{}
		return r.rollOutNewKey(ctx)
	}
	// The old key is already off (or gone): remove it to make room, roll out
	// another key, and retire the leaked one at once.
	if r.oldKeyID != "" {
		if err := r.deleteKey(ctx, r.oldKeyID, "delete the deactivated old key"); err != nil {
			return err
		}
		r.markRevocations(r.oldKeyID, RevocationDone)
	}
	if err := r.rollOutNewKey(ctx); err != nil {
		return err
	}
	r.oldKeyID, r.oldOff = leaked, false
	r.status.OldKeyID = leaked
	r.event(ctx, "the revoked key "+leaked+" is now the key to retire")
	for i := range r.status.Revocations {
		if rv := &r.status.Revocations[i]; rv.AccessKeyID == leaked && rv.State != RevocationRejected {
			rv.Which = "old"
		}
	}
	return nil
}

func (r *legacyRotation) deleteKey(ctx workflow.Context, keyID, what string) error {
	var res activities.KeyChangeResult
	if err := workflow.ExecuteLocalActivity(iamOptions(ctx, what), iamActs.DeleteAccessKey, r.keyInput(keyID)).Get(ctx, &res); err != nil {
		return err
	}
	r.event(ctx, "deleted "+keyID+" ("+what+")"+alreadySuffix(res.AlreadyDone))
	return nil
}

// startRevoker deactivates keys revoked with mode now as soon as they are
// known, whatever the runbook is doing at the time (it may be waiting on a
// push). It runs beside the runbook because the runbook cannot stop in the
// middle of a step.
func (r *legacyRotation) startRevoker(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var rv *Revocation
			_ = workflow.Await(ctx, func() bool {
				rv = r.nextImmediateRevocation()
				return rv != nil
			})
			keyID := rv.AccessKeyID
			var res activities.KeyChangeResult
			err := workflow.ExecuteLocalActivity(iamOptions(ctx, "deactivate the revoked key now"), iamActs.DeactivateAccessKey, r.keyInput(keyID)).Get(ctx, &res)
			if err != nil {
				rv.State, rv.Error = RevocationRejected, "could not deactivate: "+message(err)
				r.notice(ctx, "revoke of "+keyID+" failed: "+rv.Error)
				continue
			}
			r.markRevocations(keyID, RevocationDeactivated)
			if keyID == r.oldKeyID {
				r.oldOff = true
			}
			r.event(ctx, "deactivated the revoked key "+keyID+" at once (mode now)")
		}
	})
}

func (r *legacyRotation) nextImmediateRevocation() *Revocation {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.Mode == RevokeModeNow && rv.State == RevocationAccepted {
			return rv
		}
	}
	return nil
}

// --- waiting --------------------------------------------------------------

// wait sleeps on a durable timer. proceed cuts it short, and so does any
// revocation, which changes what the runbook does next.
func (r *legacyRotation) wait(ctx workflow.Context, phase Phase, what string, d time.Duration) {
	r.setPhase(ctx, phase, fmt.Sprintf("waiting %s: %s", d, what))
	if d <= 0 {
		return
	}
	until := workflow.Now(ctx).Add(d)
	r.status.Waiting, r.status.WaitUntil = what, &until
	defer func() { r.status.Waiting, r.status.WaitUntil = "", nil }()
	r.proceed = false
	interrupted, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      d,
		TimerOptions: workflow.TimerOptions{Summary: what},
	}, func() bool { return r.proceed || r.rollback || r.revoked("old") || r.revoked("new") })
	if interrupted {
		r.proceed = false
		r.event(ctx, "cut the wait short: "+what)
	}
}

// hold stops the rotation in a visible state until an operator sends
// proceed (or also, when given, until orUntil holds). A revocation ends a
// hold too.
func (r *legacyRotation) hold(ctx workflow.Context, reason string, orUntil func() bool) {
	r.status.HeldReason = reason
	r.setPhase(ctx, PhaseHolding, "holding: "+reason)
	_ = workflow.Await(ctx, func() bool {
		return r.proceed || (orUntil != nil && orUntil()) || (orUntil == nil && (r.revoked("old") || r.revoked("new")))
	})
	r.proceed = false
	r.status.HeldReason = ""
}

// --- endings and bookkeeping ---------------------------------------------

// end finishes the rotation without error.
func (r *legacyRotation) end(ctx workflow.Context, phase Phase, msg string) (RotateResult, error) {
	r.setPhase(ctx, phase, msg)
	return RotateResult{Status: r.status}, nil
}

// fail ends the rotation as failed, with the final status in the error's
// details so the starter can print the report.
func (r *legacyRotation) fail(ctx workflow.Context, err error) (RotateResult, error) {
	r.status.Error = message(err)
	r.setPhase(ctx, PhaseFailed, r.status.Error)
	return RotateResult{}, temporal.NewNonRetryableApplicationError(r.status.Error, TypeRotationFailed, err, r.status)
}

func (r *legacyRotation) setPhase(ctx workflow.Context, p Phase, msg string) {
	r.status.Phase = p
	r.event(ctx, msg)
	r.publishPhase(ctx, p)
}

func (r *legacyRotation) event(ctx workflow.Context, msg string) {
	r.status.Timeline = append(r.status.Timeline, Event{At: workflow.Now(ctx), Phase: r.status.Phase, Message: msg})
}

func (r *legacyRotation) keyInput(keyID string) activities.KeyInput {
	return activities.KeyInput{Account: r.in.Account, User: r.in.User, AccessKeyID: keyID}
}

// registerSignals installs the signal receivers. Each only records the
// request in the rotation's state; the runbook in RotateAccessKey (and the
// revoker, for mode now) acts on it. A payload that does not decode is
// reported in the status and otherwise ignored: a signal never crashes the
// workflow.
func (r *legacyRotation) registerSignals(ctx workflow.Context) {
	r.onSignal(ctx, RevokeSignal, r.receiveRevoke)
	r.onSignal(ctx, ProceedSignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		if err != nil {
			r.notice(ctx, "ignored a proceed signal: "+err.Error())
			return
		}
		r.proceed = true
		r.event(ctx, "proceed signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
	})
	r.onSignal(ctx, RetrySignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		switch {
		case err != nil:
			r.notice(ctx, "ignored a retry signal: "+err.Error())
		case !r.holdingForTargets:
			r.notice(ctx, "ignored a retry signal: the rotation is not holding for failed targets")
		default:
			r.retry = true
			r.event(ctx, "retry signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
		}
	})
	r.onSignal(ctx, RollbackSignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		switch {
		case err != nil:
			r.notice(ctx, "ignored a rollback signal: "+err.Error())
		case r.status.Phase != PhaseWaitingToDelete:
			r.notice(ctx, fmt.Sprintf("ignored a rollback signal: the old key can only be re-activated while it is deactivated and not yet deleted (phase is %s)", r.status.Phase))
		default:
			r.rollback = true
			r.event(ctx, "rollback signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
		}
	})
}

// onSignal runs handle for every signal of that name, with its raw payload.
func (r *legacyRotation) onSignal(ctx workflow.Context, name string, handle func(workflow.Context, json.RawMessage)) {
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// json.RawMessage accepts any JSON, so decoding into the real
			// type happens here, where a bad payload can be reported.
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			handle(ctx, raw)
		}
	})
}

func (r *legacyRotation) receiveRevoke(ctx workflow.Context, raw json.RawMessage) {
	in, err := decodeOptional[RevokeInput](raw)
	rv := Revocation{ReceivedAt: workflow.Now(ctx), State: RevocationPending}
	if err == nil {
		rv.AccessKeyID, rv.Reason, rv.Mode, rv.RequestedBy = in.AccessKeyID, in.Reason, in.Mode, in.RequestedBy
		err = validateRevoke(in)
	}
	if err != nil {
		rv.State, rv.Error = RevocationRejected, err.Error()
		r.status.Revocations = append(r.status.Revocations, rv)
		r.notice(ctx, "rejected a revoke signal: "+err.Error())
		return
	}
	r.status.Revocations = append(r.status.Revocations, rv)
	r.event(ctx, "revoke signal received for "+orDefault(rv.AccessKeyID, "the old key")+modeSuffix(rv.Mode)+by(rv.RequestedBy)+reasonSuffix(rv.Reason))
	r.resolveRevocations(ctx)
}

// resolveRevocations decides, for each pending revocation, which key it
// means, once the keys are known. Pure state: no activities.
func (r *legacyRotation) resolveRevocations(ctx workflow.Context) {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.State != RevocationPending || !r.inspected {
			continue
		}
		id := rv.AccessKeyID
		if id == "" {
			id = r.status.OldKeyID // the key this rotation retires, even once it is gone
		}
		switch {
		case id != "" && id == r.status.OldKeyID && r.oldKeyID == "":
			rv.AccessKeyID, rv.Which, rv.State = id, "old", RevocationDone
			r.event(ctx, "revoke of "+id+": it is already deleted")
			continue
		case id == "":
			rv.State, rv.Error = RevocationRejected, "the user had no key before this rotation, so there is no old key to revoke; name the key with accessKeyId"
		case id == r.oldKeyID:
			rv.AccessKeyID, rv.Which, rv.State = id, "old", RevocationAccepted
		case id == r.newKey.ID:
			rv.AccessKeyID, rv.Which, rv.State = id, "new", RevocationAccepted
		case r.newKey.ID == "" && r.status.Phase != PhaseFailed:
			continue // the new key does not exist yet: decide once it does
		default:
			rv.State, rv.Error = RevocationRejected, fmt.Sprintf("%s is not a key of this rotation (old key %s, new key %s)", id, orDefault(r.oldKeyID, "none"), orDefault(r.newKey.ID, "none"))
		}
		if rv.State == RevocationRejected {
			r.notice(ctx, "rejected a revoke signal: "+rv.Error)
		}
	}
}

// revoked reports whether an accepted revocation targets the key.
func (r *legacyRotation) revoked(which string) bool {
	return r.revocation(which, func(rv *Revocation) bool {
		return rv.State == RevocationAccepted || rv.State == RevocationDeactivated
	}) != nil
}

func (r *legacyRotation) revocation(which string, match func(*Revocation) bool) *Revocation {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.Which == which && match(rv) {
			return rv
		}
	}
	return nil
}

// markRevocations records that the key's revocations were carried out.
func (r *legacyRotation) markRevocations(keyID, state string) {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.AccessKeyID == keyID && (rv.State == RevocationAccepted || rv.State == RevocationDeactivated) {
			rv.State = state
		}
	}
}

func (r *legacyRotation) notice(ctx workflow.Context, msg string) {
	r.status.Notices = append(r.status.Notices, msg)
	r.event(ctx, msg)
	workflow.GetLogger(ctx).Warn(msg)
}

// publishPhase upserts KeyrotorPhase when it changes to a listed phase.
func (r *legacyRotation) publishPhase(ctx workflow.Context, p Phase) {
	if !r.upsertPhase || !listedPhases[p] || r.publishedPhase == p {
		return
	}
	r.publishedPhase = p
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchUser.ValueSet(r.in.User), contract.SearchAccount.ValueSet(r.in.Account), contract.SearchPhase.ValueSet(string(p))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
}

func validateRevoke(in RevokeInput) error {
	if in.Mode != "" && in.Mode != RevokeModeNow {
		return fmt.Errorf("mode %q: use \"now\" or leave it out", in.Mode)
	}
	if in.AccessKeyID != "" && !accessKeyIDPattern.MatchString(in.AccessKeyID) {
		// The value is not echoed: a malformed "key ID" may be a pasted secret.
		return fmt.Errorf("accessKeyId is not an access key ID (AKIA followed by 16 capital letters or digits)")
	}
	return nil
}

// legacyPushActivity is the per-provider push activity the frozen code
// calls.
func legacyPushActivity(t model.Target) any {
	if t.Kind.Provider() == "gitlab" {
		return gitlabActs.PushGitLabVariable
	}
	return githubActs.PushGitHubSecret
}
