// Package workflows holds keyrotor's deterministic orchestration: no I/O,
// no wall clock, no goroutines. Everything that touches the outside world is
// an activity in package activities.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// maxParallelPushes bounds how many targets a PushBatch, and a rotation
// recorded before the allChanges change, write at once, so that a user with
// many targets does not trip the providers' secondary rate limits.
const maxParallelPushes = 4

// ParallelPushes is how many targets a rotation writes at once since the
// allChanges change: the worker-wide limiter now keeps the providers'
// secondary limits (concurrency and points per minute), so a rotation of a
// few targets writes them all in one round, one workflow task for all.
const ParallelPushes = 8

// Activity receivers: nil pointers are enough to name the methods, the
// worker registers the real ones.
var (
	configActs *activities.Config
	iamActs    *activities.IAM
	githubActs *activities.GitHub
	gitlabActs *activities.GitLab
	targetActs *activities.Targets
)

// explicitStateChange marks rotations run by the explicit state machine
// below. Rotations recorded before it replay on the frozen earlier code.
const (
	explicitStateChange  = "explicit-state"
	explicitStateVersion = workflow.Version(1)
	// retireOldForLeakedChange: a revoked new key that every target holds
	// stays until its replacement is confirmed; the old key makes room.
	retireOldForLeakedChange = "retire-old-for-leaked-new"
	// keepNeededKeyChange: an ending leaves a revoked key active (and says
	// so) while pipelines still need it.
	keepNeededKeyChange = "keep-needed-revoked-key"
	// sweepOnFailChange: a failed rotation sweeps a key its interrupted
	// create may have left, as a cancelled one does.
	sweepOnFailChange = "sweep-strays-on-fail"
	// revokeWhileSettlingChange: a mode-now revoke is carried out while
	// stopped pushes settle, not after.
	revokeWhileSettlingChange = "revoke-now-while-settling"
	// createAsActivityChange: CreateAccessKey is a regular activity.
	createAsActivityChange = "create-as-activity"
	// keepSentKeyChange: a cancel keeps a new key that a target may hold.
	keepSentKeyChange = "keep-sent-key-on-cancel"
	// pushToTargetChange: one push activity for every kind of target.
	pushToTargetChange = "push-to-target"
	// preflightChange: every target's read-only check runs before the
	// first key is created.
	preflightChange = "preflight-targets"

	// allChangesChange, recorded once as a rotation starts, stands for
	// every change above at version 1, and for pushBatchesChange and
	// notifyChange (coveredChanges): a rotation that has it asks none of
	// them again. Each GetVersion adds a marker and an upsert of
	// TemporalChangeVersion (a visibility write on the server) to the
	// history, up to ten of them per rotation. Rotations recorded before
	// it ask each change as they reach it, as they did. A later change
	// gets a GetVersion of its own: none of those this one stands for may
	// take another version.
	//
	// It also changes, for the rotations that have it: up to
	// ParallelPushes targets written at once, not maxParallelPushes, and
	// a wait of zero (no grace period, no wait before the delete) does not
	// list its phase in KeyrotorPhase, since the rotation never rests there.
	allChangesChange = "all-changes"
)

// RotateAccessKey rotates one IAM user's access key, in runbook order:
// create, verify, push, wait, deactivate, wait, delete. The old key stays
// active until every target has confirmed the new one (unless an operator
// revokes it).
func RotateAccessKey(ctx workflow.Context, in RotateInput) (RotateResult, error) {
	current := workflow.GetVersion(ctx, allChangesChange, workflow.DefaultVersion, 1) == 1
	if !current && workflow.GetVersion(ctx, explicitStateChange, workflow.DefaultVersion, explicitStateVersion) == workflow.DefaultVersion {
		return rotateAccessKeyLegacy(ctx, in)
	}
	r := newRotation(ctx, in)
	r.current = current
	if err := r.registerHandlers(ctx); err != nil {
		return RotateResult{}, err
	}
	return r.run(ctx)
}

// rotation is the workflow's state. Handlers only record requests in req
// (and revocations in status); next decides, run carries out.
type rotation struct {
	account, user, digest string
	cfg                   model.Rotation // from the worker's configuration
	status                Status

	oldKey, newKey trackedKey
	sealed         model.SealedAccessKey // the new key, its secret sealed: the workflow never holds it in the clear
	retired        []string              // keys this rotation deleted
	createFrom     time.Time             // when Create was first scheduled for the key being created (zero: none is)
	pushedAt       time.Time
	done           milestones
	req            requests

	holdingForTargets bool
	publishedPhase    Phase
	current           bool // started with allChangesChange: the coveredChanges apply without asking
	batches           int  // PushBatch children started (each one's ID counts them)

	// Notifications: events queued for the channels, how many were sent
	// (each one's delivery ID counts them), and the starts not yet awaited.
	outbox       []Notification
	notified     int
	notifyStarts []workflow.Future
}

func newRotation(ctx workflow.Context, in RotateInput) *rotation {
	account, user := in.Names()
	r := &rotation{account: account, user: user, digest: in.Digest, status: newStatus(account, user)}
	r.status.StartedAt = workflow.Now(ctx)
	return r
}

// run carries out what next decides until the rotation ends.
func (r *rotation) run(ctx workflow.Context) (RotateResult, error) {
	for {
		// A cancel of the workflow (ctx done) becomes a request here, once
		// for every step, so no step can miss it and loop.
		r.cancelled(ctx)
		r.flush(ctx)
		var err error
		switch s := r.next(); s {
		// Resolving and inspecting go through even after a cancel: the
		// cleanup needs to know the keys (a revoke may name one).
		case stepResolve:
			err = r.resolve(noCancel(ctx))
		case stepInspect:
			err = r.inspect(noCancel(ctx))
		case stepRevokeNow:
			r.revokeNow(noCancel(ctx))
		case stepCancel:
			return r.cancel(ctx)
		case stepReplaceNewKey:
			err = r.replaceNewKey(ctx)
		case stepPreflight:
			err = r.preflight(ctx)
		case stepCreate:
			err = r.create(ctx)
		case stepVerify:
			err = r.verify(ctx)
		case stepPush:
			r.push(ctx)
		case stepHoldForTargets:
			r.holdForTargets(ctx)
		case stepFailTargets:
			return r.fail(ctx, fmt.Errorf("%d of %d targets failed; both keys stay active so every pipeline keeps working",
				len(r.status.FailedTargets()), len(r.status.Targets)))
		case stepGrace:
			r.wait(ctx, PhaseGrace, "grace period", r.cfg.Policy.GracePeriod, &r.done.graceDone)
		case stepCheckIdle:
			err = r.checkIdle(ctx)
		case stepDeactivateOld:
			err = r.deactivateOld(ctx)
		case stepRollback:
			if err = r.rollBack(ctx); err == nil {
				return r.end(ctx, PhaseRolledBack, "rolled back: the old key "+r.oldKey.ID+" is active again, next to the new key "+r.newKey.ID)
			}
		case stepWaitToDelete:
			r.wait(ctx, PhaseWaitingToDelete, "delete the deactivated key", r.cfg.Policy.DeleteAfter, &r.done.deleteWaitDone)
		case stepDeleteOld:
			err = r.deleteOld(ctx)
		case stepDone:
			return r.end(ctx, PhaseDone, "rotation complete")
		default:
			return r.fail(ctx, fmt.Errorf("internal error: no handler for step %q", s))
		}
		if err != nil {
			if r.cancelled(ctx) {
				// A step that failed once the rotation was cancelled is not
				// tried again: the cleanup works with what is known.
				return r.cancel(ctx)
			}
			return r.fail(ctx, err)
		}
	}
}

// cancelled notes a cancel of the workflow (from `temporal workflow cancel`
// or the Web UI) and reports whether one happened: every wait and activity
// then returns at once, and next turns to the cleanup.
func (r *rotation) cancelled(ctx workflow.Context) bool {
	if ctx.Err() != nil {
		r.req.cancel = true
	}
	return r.req.cancel
}

// noCancel is ctx without its cancellation: the context of the cleanup
// after a cancel, of the waits that must finish whatever happens, and of
// every IAM call that changes or lists keys (inspect, create, deactivate,
// activate, delete). A call under way when the cancel comes finishes and
// its answer is recorded, so the cleanup knows every key there is; a create
// cut off mid-call could otherwise make a key after the cleanup looked.
func noCancel(ctx workflow.Context) workflow.Context {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return dctx
}

// --- the runbook's steps ---------------------------------------------------

func (r *rotation) resolve(ctx workflow.Context) error {
	var res activities.ResolveRotationResult
	err := workflow.ExecuteLocalActivity(configOptions(ctx), configActs.ResolveRotation,
		activities.ResolveRotationInput{Account: r.account, User: r.user, Digest: r.digest}).Get(ctx, &res)
	if err != nil {
		return err
	}
	r.cfg = res.Rotation
	r.status.Targets = targetStatuses(res.Rotation)
	r.done.resolved = true
	if res.Drift != "" {
		r.notice(ctx, res.Drift)
	}
	return nil
}

func (r *rotation) inspect(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseInspecting, "listing the user's access keys")
	var res activities.InspectKeysResult
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "inspect keys of "+r.user), iamActs.InspectKeys,
		activities.InspectKeysInput{Account: r.account, User: r.user}).Get(ctx, &res)
	if err != nil {
		return err
	}
	for _, id := range res.DeletedInactive {
		r.event(ctx, "deleted leftover inactive key "+id)
	}
	if k := res.ActiveKey; k != nil {
		createdAt := k.CreatedAt
		r.oldKey = trackedKey{ID: k.ID, State: keyActive, CreatedAt: &createdAt}
		r.status.OldKeyID, r.status.OldKeyCreatedAt = k.ID, &createdAt
		r.event(ctx, "old key is "+k.ID)
	}
	r.done.inspected = true
	r.resolveRevocations(ctx)
	return nil
}

// preflight runs every target's read-only check before the first key is
// created: a target the worker may not write (the provider said no: 401,
// 403, 404) fails the rotation while there is nothing to clean up. A check
// that cannot tell (an outage) does not stop the rotation: the pushes ride
// outages out, with the old key active meanwhile.
func (r *rotation) preflight(ctx workflow.Context) error {
	r.done.preflighted = true
	// Rotations that started before this change went straight to create.
	if !r.changed(ctx, preflightChange) {
		return nil
	}
	r.setPhase(ctx, PhaseInspecting, "checking that every target can be written (read-only)")
	var res activities.PreflightTargetsResult
	err := workflow.ExecuteLocalActivity(preflightOptions(ctx), targetActs.PreflightTargets,
		activities.PreflightTargetsInput{Account: r.account, User: r.user}).Get(ctx, &res)
	if err != nil {
		r.event(ctx, "could not check the targets ("+message(err)+"); going on")
		return nil
	}
	var denied []string
	for _, c := range res.Checks {
		i := slices.IndexFunc(r.status.Targets, func(ts TargetStatus) bool { return ts.Target == c.Target })
		switch {
		case c.Denied && i >= 0:
			r.status.Targets[i].State, r.status.Targets[i].Error = TargetFailed, c.Detail
			denied = append(denied, c.Target)
		case !c.OK:
			r.event(ctx, "could not check "+c.Target+" ("+c.Detail+"); going on")
		}
	}
	if len(denied) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%d of %d targets cannot be written (%s); no key was created: grant the access, then rotate again",
			len(denied), len(r.status.Targets), strings.Join(denied, ", ")), activities.TypeUnauthorized, nil)
	}
	r.event(ctx, "every target can be written")
	return nil
}

func (r *rotation) create(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseCreating, "creating the new key")
	if r.createFrom.IsZero() {
		r.createFrom = workflow.Now(ctx)
	}
	in := activities.CreateAccessKeyInput{Account: r.account, User: r.user, NotBefore: r.createFrom}
	if r.oldKey.exists() {
		in.KnownKeyIDs = []string{r.oldKey.ID}
	}
	var res activities.CreateAccessKeyResult
	f, isActivity := r.startCreate(ctx, in)
	if isActivity {
		r.revokeWhileWaiting(ctx, f)
	}
	if err := f.Get(ctx, &res); err != nil {
		return err
	}
	for _, id := range res.DeletedStray {
		r.event(ctx, "deleted stray key "+id+" left by a lost attempt of this rotation")
	}
	createdAt := res.CreatedAt
	r.newKey = trackedKey{ID: res.Key.ID, State: keyActive, CreatedAt: &createdAt}
	r.sealed = res.Key
	r.createFrom = time.Time{}
	r.status.NewKeyID, r.status.NewKeyCreatedAt = res.Key.ID, &createdAt
	r.event(ctx, "created new key "+res.Key.ID)
	r.resolveRevocations(ctx)
	return nil
}

// startCreate runs CreateAccessKey: a regular activity, whose result the
// server keeps whatever happens to the worker (see createOptions).
func (r *rotation) startCreate(ctx workflow.Context, in activities.CreateAccessKeyInput) (f workflow.Future, isActivity bool) {
	summary := "create a key for " + r.user
	// Rotations that created their keys before this change used a local
	// activity; they replay that way.
	if !r.changed(ctx, createAsActivityChange) {
		return workflow.ExecuteLocalActivity(iamOptions(noCancel(ctx), summary), iamActs.CreateAccessKey, in), false
	}
	return workflow.ExecuteActivity(createOptions(noCancel(ctx), summary), iamActs.CreateAccessKey, in), true
}

// revokeWhileWaiting waits until f is ready, carrying out a revoke with
// mode now meanwhile: a create lost with a stopped worker takes its
// start-to-close timeout to come back, and the revocation must not wait.
func (r *rotation) revokeWhileWaiting(ctx workflow.Context, f workflow.Future) {
	dctx := noCancel(ctx)
	for {
		_ = workflow.Await(dctx, func() bool { return f.IsReady() || r.revokeNowDue() != nil })
		if f.IsReady() {
			return
		}
		r.revokeNow(dctx)
	}
}

// verify checks the new key with STS. A key that never works is deleted,
// so a failed verify leaves the user exactly as it found them.
func (r *rotation) verify(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseVerifying, "checking the new key with STS")
	var res activities.VerifyAccessKeyResult
	err := workflow.ExecuteLocalActivity(verifyOptions(ctx), iamActs.VerifyAccessKey,
		activities.VerifyAccessKeyInput{Account: r.account, User: r.user, Key: r.sealed}).Get(ctx, &res)
	if err == nil {
		r.done.verified = true
		r.event(ctx, "new key signs as "+res.ARN)
		return nil
	}
	if r.cancelled(ctx) {
		return err
	}
	if derr := r.deleteKey(ctx, &r.newKey, "delete the unusable new key"); derr != nil {
		return fmt.Errorf("new key %s failed verification (%s) and could not be deleted: %w", r.newKey.ID, message(err), derr)
	}
	r.event(ctx, "deleted the new key "+r.newKey.ID+": it failed verification")
	return err
}

// push writes the new key to every target not yet confirmed, at most
// maxParallelPushes at a time. It stops early, letting the pushes in flight
// settle first, when the new key is revoked or the rotation cancelled; a key
// revoked with mode now is deactivated at once, while the pushes go on.
func (r *rotation) push(ctx workflow.Context) {
	r.req.retry = false
	var todo []int
	for i := range r.status.Targets {
		if ts := &r.status.Targets[i]; ts.State != TargetConfirmed {
			ts.State, ts.Error = TargetPending, ""
			todo = append(todo, i)
		}
	}
	r.setPhase(ctx, PhasePushing, fmt.Sprintf("pushing the new key to %d of %d targets", len(todo), len(r.status.Targets)))
	pushCtx, stopPushes := workflow.WithCancel(ctx)
	stopping := func() bool { return r.req.cancel || r.newKeyRevoked() }
	// A unit is one target's push activity or, for a rotation with many
	// targets, one batch's PushBatch child (one batch at a time: each
	// pushes maxParallelPushes at once).
	units, parallel, start := r.pushUnits(ctx, todo)
	running, next := 0, 0
	for {
		for next < len(units) && running < parallel && !stopping() {
			u := units[next]
			next++
			running++
			f := start(pushCtx, u)
			workflow.Go(ctx, func(gctx workflow.Context) {
				outcomes := f(gctx)
				running--
				for k, i := range u {
					r.recordPush(gctx, i, outcomes[k])
				}
			})
		}
		if running == 0 && (next == len(units) || stopping()) {
			break
		}
		err := workflow.Await(ctx, func() bool {
			return running == 0 || (running < parallel && next < len(units)) || stopping() || r.revokeNowDue() != nil
		})
		if err != nil || r.cancelled(ctx) || stopping() {
			stopPushes()
			r.settle(ctx, func() bool { return running == 0 })
			break
		}
		if r.revokeNowDue() != nil {
			r.revokeNow(ctx)
		}
		r.flush(ctx) // a target that failed is told now, not when the others are done
	}
	if r.status.ConfirmedTargets() == len(r.status.Targets) {
		r.done.pushed = true
		r.pushedAt = workflow.Now(ctx)
		r.event(ctx, "every target confirmed the new key")
	}
}

// pushUnits splits the targets at todo into the units push starts: one
// target each, maxParallelPushes at a time, or batches of pushBatchSize,
// one at a time. start begins a unit's pushes and returns what waits for
// their outcomes, in the unit's order.
func (r *rotation) pushUnits(ctx workflow.Context, todo []int) (units [][]int, parallel int, start func(workflow.Context, []int) func(workflow.Context) []PushOutcome) {
	if !r.pushesInBatches(ctx, len(todo)) {
		for _, i := range todo {
			units = append(units, []int{i})
		}
		parallel := maxParallelPushes
		if r.current {
			parallel = ParallelPushes
		}
		return units, parallel, func(ctx workflow.Context, u []int) func(workflow.Context) []PushOutcome {
			f := r.startPush(ctx, u[0])
			return func(gctx workflow.Context) []PushOutcome {
				var res activities.PushResult
				err := f.Get(gctx, &res)
				return []PushOutcome{outcomeOf(r.cfg.Targets[u[0]], res, err)}
			}
		}
	}
	for len(todo) > 0 {
		n := min(batchSize(ctx), len(todo))
		units, todo = append(units, todo[:n]), todo[n:]
	}
	batch := 0
	return units, 1, func(ctx workflow.Context, u []int) func(workflow.Context) []PushOutcome {
		batch++
		r.event(ctx, fmt.Sprintf("pushing batch %d of %d: %d targets", batch, len(units), len(u)))
		f := r.startBatch(ctx, u)
		return func(gctx workflow.Context) []PushOutcome {
			var res PushBatchResult
			err := f.Get(gctx, &res)
			if err == nil && len(res.Outcomes) == len(u) {
				return res.Outcomes
			}
			// Stopped before it started (the rotation was cancelled or
			// its key revoked: pending), or a batch that failed as a
			// whole (failed, for a retry).
			var canceled *temporal.CanceledError
			stopped := errors.As(err, &canceled)
			out := make([]PushOutcome, len(u))
			for k, i := range u {
				out[k] = PushOutcome{Target: r.cfg.Targets[i].String(), Stopped: stopped}
				if !stopped {
					out[k].Error = "the push batch failed: " + batchProblem(err)
				}
			}
			return out
		}
	}
}

// batchProblem says why a PushBatch gave no outcomes.
func batchProblem(err error) string {
	if err == nil {
		return "it returned no outcome for some targets"
	}
	return message(err)
}

func (r *rotation) startPush(ctx workflow.Context, i int) workflow.Future {
	t := r.cfg.Targets[i]
	r.status.Targets[i].State = TargetPushing
	r.newKey.Sent = true
	in := activities.PushInput{Account: r.account, User: r.user, Target: t, Key: r.sealed}
	return workflow.ExecuteActivity(pushOptions(ctx, "push to "+t.String(), r.cfg.Policy.PushRetryBudget()), r.pushActivity(ctx, t), in)
}

// settle waits, whatever happened to ctx, until done holds: pushes that were
// asked to stop report back before the rotation moves on, so no write of a
// revoked key can land after its replacement.
//
// A key revoked with mode now is deactivated meanwhile: a push that does
// not report back (its worker died) takes a heartbeat timeout to settle,
// and the revocation must not wait for it.
func (r *rotation) settle(ctx workflow.Context, done func() bool) {
	dctx := noCancel(ctx)
	// Rotations that settled before this change waited for the pushes first.
	revokeMeanwhile := r.changed(dctx, revokeWhileSettlingChange)
	for {
		// A disconnected context is never cancelled.
		_ = workflow.Await(dctx, func() bool { return done() || (revokeMeanwhile && r.revokeNowDue() != nil) })
		if done() && (!revokeMeanwhile || r.revokeNowDue() == nil) {
			return
		}
		r.revokeNow(dctx)
	}
}

// pushActivity is the activity that pushes to t: PushToTarget, whatever the
// kind. Rotations that pushed before it existed called one activity per
// provider; they replay that way.
func (r *rotation) pushActivity(ctx workflow.Context, t model.Target) any {
	if r.changed(ctx, pushToTargetChange) {
		return targetActs.PushToTarget
	}
	if t.Kind.Provider() == "gitlab" {
		return gitlabActs.PushGitLabVariable
	}
	return githubActs.PushGitHubSecret
}

func (r *rotation) recordPush(ctx workflow.Context, i int, o PushOutcome) {
	ts := &r.status.Targets[i]
	switch {
	case o.Stopped:
		ts.State = TargetPending
		r.event(ctx, "push to "+ts.Target+" stopped")
	case o.Error != "":
		ts.State, ts.Error = TargetFailed, o.Error
		r.event(ctx, "push to "+ts.Target+" failed: "+ts.Error)
		r.notify(Notification{Event: model.EventTargetFailed, Target: ts.Target, Reason: ts.Error,
			Summary: "target " + ts.Target + " did not take the new key; the old key stays active"})
	default:
		now := workflow.Now(ctx)
		ts.State, ts.Error, ts.ConfirmedAt, ts.ConfirmedBy = TargetConfirmed, "", &now, o.ConfirmedBy
		r.event(ctx, ts.Target+" confirmed the new key")
	}
}

// holdForTargets holds while targets failed and the old key is revoked:
// ending would leave a revoked key alive. Retry re-pushes the failed targets
// (next sees req.retry); proceed goes on without them.
func (r *rotation) holdForTargets(ctx workflow.Context) {
	r.holdingForTargets = true
	defer func() { r.holdingForTargets = false }()
	failed := len(r.status.FailedTargets())
	reason := fmt.Sprintf("%d targets failed while the old key %s is revoked; fix them and send retry, or send proceed to retire the old key without them", failed, r.oldKey.ID)
	if r.hold(ctx, reason, r.holdResolutions(RetrySignal, ProceedSignal), func() bool { return r.req.retry || r.req.cancel || r.revokeNowDue() != nil || r.newKeyRevoked() }) {
		r.done.pushed = true
		r.pushedAt = workflow.Now(ctx)
		r.event(ctx, "going on without the failed targets, as requested")
	}
}

// checkIdle makes sure nothing still uses the old key before it is
// deactivated: a use after the push means some pipeline did not pick up the
// new key. It re-checks a bounded number of times, then holds until an
// operator sends proceed (or revokes the old key).
func (r *rotation) checkIdle(ctx workflow.Context) error {
	p := r.cfg.Policy
	if !p.RequireOldKeyIdle {
		r.done.idleDone = true
		return nil
	}
	checks := max(p.IdleChecks, 1)
	for check := 1; ; check++ {
		r.setPhase(ctx, PhaseCheckingIdle, fmt.Sprintf("checking that the old key is idle (check %d of %d)", check, checks))
		var res activities.KeyLastUsedResult
		err := workflow.ExecuteLocalActivity(iamOptions(ctx, "check when the old key was last used"), iamActs.GetAccessKeyLastUsed,
			r.keyInput(r.oldKey.ID)).Get(ctx, &res)
		if err != nil {
			return err
		}
		if res.Gone {
			r.done.idleDone = true
			r.event(ctx, "old key "+r.oldKey.ID+" no longer exists, so nothing uses it")
			return nil
		}
		if res.LastUsed == nil || !res.LastUsed.After(r.pushedAt) {
			r.done.idleDone = true
			r.event(ctx, "old key is idle since the push")
			return nil
		}
		usedBy := fmt.Sprintf("old key %s was used at %s (%s) after the push finished", r.oldKey.ID, res.LastUsed.UTC().Format("2006-01-02 15:04:05Z"), res.Service)
		if check >= checks {
			r.done.idleDone = r.hold(ctx, usedBy+": something still holds it; send proceed to deactivate it anyway", r.holdResolutions(ProceedSignal), r.waitCutShort)
			return nil
		}
		r.event(ctx, usedBy)
		var elapsed bool
		switch r.wait(ctx, PhaseCheckingIdle, "re-check that the old key is idle", p.IdleRecheck, &elapsed) {
		case waitProceeded:
			r.done.idleDone = true
			return nil
		case waitInterrupted:
			return nil
		}
	}
}

func (r *rotation) deactivateOld(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseDeactivating, "deactivating the old key "+r.oldKey.ID)
	if err := r.deactivate(ctx, &r.oldKey, "deactivate the old key"); err != nil {
		return err
	}
	r.markRevocations(r.oldKey.ID, RevocationDeactivated, "")
	return nil
}

func (r *rotation) deleteOld(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseDeleting, "deleting the old key "+r.oldKey.ID)
	return r.deleteKey(ctx, &r.oldKey, "delete the old key")
}

// rollBack re-activates the deactivated old key: both keys are active again.
func (r *rotation) rollBack(ctx workflow.Context) error {
	r.req.rollback = false
	r.setPhase(ctx, PhaseRollingBack, "re-activating the old key "+r.oldKey.ID)
	var res activities.KeyChangeResult
	if err := workflow.ExecuteLocalActivity(iamOptions(noCancel(ctx), "re-activate the old key"), iamActs.ActivateAccessKey, r.keyInput(r.oldKey.ID)).Get(ctx, &res); err != nil {
		return err
	}
	r.oldKey.State = keyActive
	r.event(ctx, "re-activated the old key "+r.oldKey.ID+alreadySuffix(res.AlreadyDone))
	return nil
}

// replaceNewKey handles a new key that leaked during the rotation: it is
// deleted and another one rolled out, without ever leaving the user with no
// working key (unless an operator deactivated them with mode now) and
// without needing a third key.
func (r *rotation) replaceNewKey(ctx workflow.Context) error {
	leaked := r.newKey
	r.event(ctx, "the new key "+leaked.ID+" was revoked: replacing it")
	if r.oldKey.active() && !r.leakedKeyServesAll(ctx) {
		// The old key still serves the pipelines that have not moved yet:
		// delete the leaked key to make room, then roll out another.
		if err := r.deleteKey(ctx, &r.newKey, "delete the revoked new key"); err != nil {
			return err
		}
	} else {
		// The old key is off, gone, or held by no target any more: remove
		// it to make room. The leaked key keeps the pipelines that hold it
		// going until its replacement is confirmed, then it is retired at
		// once (it is revoked).
		if r.oldKey.exists() {
			what := "delete the deactivated old key to make room"
			if r.oldKey.active() {
				what = "delete the old key to make room: every target holds the revoked new key"
			}
			if err := r.deleteKey(ctx, &r.oldKey, what); err != nil {
				return err
			}
		}
		r.oldKey = leaked
		r.status.OldKeyID, r.status.OldKeyCreatedAt = leaked.ID, leaked.CreatedAt
		for i := range r.status.Revocations {
			if rv := &r.status.Revocations[i]; rv.AccessKeyID == leaked.ID {
				rv.Which = "old"
			}
		}
		r.event(ctx, "the revoked key "+leaked.ID+" is now the key to retire")
	}
	r.newKey, r.sealed = trackedKey{}, model.SealedAccessKey{}
	r.status.NewKeyID, r.status.NewKeyCreatedAt = "", nil
	r.done.verified, r.done.pushed, r.done.graceDone, r.done.idleDone, r.done.deleteWaitDone = false, false, false, false, false
	for i := range r.status.Targets {
		ts := &r.status.Targets[i]
		ts.State, ts.Error, ts.ConfirmedAt, ts.ConfirmedBy = TargetPending, "", nil, ""
	}
	return nil
}

// leakedKeyServesAll reports whether every target confirmed the revoked new
// key, so that the old key, though active, serves no pipeline any more:
// retiring it rather than the leaked key keeps every pipeline working
// while the replacement rolls out.
func (r *rotation) leakedKeyServesAll(ctx workflow.Context) bool {
	if r.status.ConfirmedTargets() != len(r.status.Targets) {
		return false
	}
	// Rotations that revoked a new key everyone held before this change
	// deleted the leaked key first; they replay that way.
	return r.changed(ctx, retireOldForLeakedChange)
}

// revokeNow deactivates a key revoked with mode now. It runs whenever one is
// due, even in the middle of the pushes.
func (r *rotation) revokeNow(ctx workflow.Context) {
	k := r.revokeNowDue()
	if k == nil {
		return
	}
	id := k.ID
	if err := r.deactivate(ctx, k, "deactivate the revoked key now"); err != nil {
		if r.cancelled(ctx) && ctx.Err() != nil {
			return // the cleanup deactivates it
		}
		r.markRevocations(id, RevocationFailed, "could not deactivate: "+message(err))
		r.notice(ctx, "revoke of "+id+" failed: could not deactivate: "+message(err))
		return
	}
	r.markRevocations(id, RevocationDeactivated, "")
	r.event(ctx, "deactivated the revoked key "+id+" at once (mode now)")
}

// --- key changes ---------------------------------------------------------------

func (r *rotation) deactivate(ctx workflow.Context, k *trackedKey, what string) error {
	var res activities.KeyChangeResult
	if err := workflow.ExecuteLocalActivity(iamOptions(noCancel(ctx), what), iamActs.DeactivateAccessKey, r.keyInput(k.ID)).Get(ctx, &res); err != nil {
		return err
	}
	k.State = keyInactive
	r.event(ctx, "deactivated "+k.ID+" ("+what+")"+alreadySuffix(res.AlreadyDone))
	return nil
}

// deleteKey deletes the key and closes its revocations: a deleted key is
// revoked for good.
func (r *rotation) deleteKey(ctx workflow.Context, k *trackedKey, what string) error {
	var res activities.KeyChangeResult
	if err := workflow.ExecuteLocalActivity(iamOptions(noCancel(ctx), what), iamActs.DeleteAccessKey, r.keyInput(k.ID)).Get(ctx, &res); err != nil {
		return err
	}
	k.State = keyDeleted
	r.retired = append(r.retired, k.ID)
	r.markRevocations(k.ID, RevocationDone, "")
	r.event(ctx, "deleted "+k.ID+" ("+what+")"+alreadySuffix(res.AlreadyDone))
	return nil
}

func (r *rotation) keyInput(keyID string) activities.KeyInput {
	return activities.KeyInput{Account: r.account, User: r.user, AccessKeyID: keyID}
}

// --- waiting ---------------------------------------------------------------------

// waitResult says how a wait ended.
type waitResult int

const (
	waitElapsed     waitResult = iota // the timer fired
	waitProceeded                     // an operator sent proceed
	waitInterrupted                   // something changed what comes next (revoke, rollback, cancel)
)

// wait sleeps on a durable timer; done is set when the wait is over (timer
// or proceed). Anything that changes what next decides cuts it short.
func (r *rotation) wait(ctx workflow.Context, phase Phase, what string, d time.Duration, done *bool) waitResult {
	msg := fmt.Sprintf("waiting %s: %s", d, what)
	if d <= 0 {
		if r.current {
			// Nothing rests here: KeyrotorPhase is left as it is.
			r.status.Phase = phase
			r.event(ctx, msg)
		} else {
			r.setPhase(ctx, phase, msg)
		}
		*done = true
		return waitElapsed
	}
	r.setPhase(ctx, phase, msg)
	until := workflow.Now(ctx).Add(d)
	r.status.Waiting, r.status.WaitUntil = what, &until
	defer func() { r.status.Waiting, r.status.WaitUntil = "", nil }()
	cut, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      d,
		TimerOptions: workflow.TimerOptions{Summary: what},
	}, r.waitCutShort)
	switch {
	case err != nil:
		r.cancelled(ctx)
		return waitInterrupted
	case !cut:
		*done = true
		return waitElapsed
	case r.req.proceed:
		r.req.proceed = false
		*done = true
		r.event(ctx, "cut the wait short: "+what)
		return waitProceeded
	}
	r.event(ctx, "interrupted the wait: "+what)
	return waitInterrupted
}

// hold stops the rotation in a visible state until an operator sends proceed
// (true) or until cut holds (false).
func (r *rotation) hold(ctx workflow.Context, reason string, resolve []string, cut func() bool) bool {
	r.status.HeldReason = reason
	r.setPhase(ctx, PhaseHolding, "holding: "+reason)
	defer func() { r.status.HeldReason = "" }()
	r.notify(Notification{Event: model.EventHolding, Summary: "holding: an operator is needed", Reason: reason, Resolve: resolve})
	r.flush(ctx)
	if err := workflow.Await(ctx, func() bool { return r.req.proceed || cut() }); err != nil {
		r.cancelled(ctx)
		return false
	}
	if !r.req.proceed {
		return false
	}
	r.req.proceed = false
	return true
}

// --- endings -----------------------------------------------------------------------

// end finishes the rotation without error.
func (r *rotation) end(ctx workflow.Context, phase Phase, msg string) (RotateResult, error) {
	r.closeRevocations(ctx, "the rotation ended before the key it names existed")
	r.status.Left = r.describeKeys()
	r.setPhase(ctx, phase, msg)
	ev := Notification{Event: model.EventCompleted, Summary: fmt.Sprintf("rotated: %d targets hold the new key %s", len(r.status.Targets), r.newKey.ID), Left: r.status.Left}
	if phase == PhaseRolledBack {
		ev.Event, ev.Summary = model.EventRolledBack, msg
	}
	r.notify(ev)
	r.flushAndWait(ctx)
	return RotateResult{Status: r.status}, nil
}

// fail ends the rotation as failed, with the final status in the error's
// details so the starter can print the report.
func (r *rotation) fail(ctx workflow.Context, err error) (RotateResult, error) {
	dctx := noCancel(ctx)
	r.status.Error = message(err)
	if problem := r.sweepInterruptedCreate(dctx, sweepOnFailChange); problem != "" {
		r.status.Error += "; " + problem
	}
	r.closeRevocations(dctx, "the rotation failed before the key it names existed")
	r.status.Left = r.describeKeys()
	r.setPhase(dctx, PhaseFailed, r.status.Error)
	r.notify(Notification{Event: model.EventFailed, Summary: "the rotation failed; left: " + orDefault(r.status.Left, "no key"), Reason: r.status.Error, Left: r.status.Left})
	r.flushAndWait(dctx)
	return RotateResult{}, temporal.NewNonRetryableApplicationError(r.status.Error, TypeRotationFailed, err, r.status)
}

// cancel cleans up after the workflow was cancelled, in a context that is
// not: a new key that no push has begun for is deleted (the user keeps the
// key it had, as before the rotation). One that a target may hold stays, as
// does one the old key's revocation depends on; both keys are then active.
// Revoked keys are deactivated unless that would leave the user with no
// working key. The status says exactly what was left.
func (r *rotation) cancel(ctx workflow.Context) (RotateResult, error) {
	dctx := noCancel(ctx)
	r.setPhase(dctx, PhaseCancelling, "cancelled: cleaning up")
	for r.revokeNowDue() != nil {
		r.revokeNow(dctx) // carried out, or marked failed: the loop ends
	}
	var problems []string
	if problem := r.sweepInterruptedCreate(dctx, ""); problem != "" {
		problems = append(problems, problem)
	}
	if r.newKey.exists() && !r.done.pushed && !r.oldKeyRevoked() && !r.newKeyRevoked() && !r.keepSentKey(dctx) {
		if err := r.deleteKey(dctx, &r.newKey, "delete the new key: not every target confirmed it"); err != nil {
			problems = append(problems, "could not delete the new key "+r.newKey.ID+": "+message(err))
		}
	}
	r.closeRevocations(dctx, "the rotation was cancelled before the key it names existed")
	r.status.Left = r.describeKeys()
	msg := "cancelled; left: " + orDefault(r.status.Left, "no key")
	if len(problems) > 0 {
		r.status.Error = strings.Join(problems, "; ")
		msg += "; " + r.status.Error
	}
	r.setPhase(dctx, PhaseCancelled, msg)
	r.flushAndWait(dctx)
	return RotateResult{}, temporal.NewCanceledError(r.status)
}

// keepSentKey reports whether a cancel keeps the new key because a target
// may hold it: deleting it would cut that target's pipelines off. Both keys
// then stay active, as after a failed push.
func (r *rotation) keepSentKey(ctx workflow.Context) bool {
	if !r.newKey.Sent {
		return false
	}
	// Rotations cancelled before this change deleted the key anyway.
	return r.changed(ctx, keepSentKeyChange)
}

// sweepInterruptedCreate removes a key that a Create still under way (its
// answer lost to a cancel, or its retries used up) may have made; only a key
// the rotation can prove is its own goes. It returns the problem, if any.
// change, when set, names the GetVersion that introduced the sweep there.
func (r *rotation) sweepInterruptedCreate(ctx workflow.Context, change string) string {
	if r.createFrom.IsZero() || r.newKey.exists() {
		return ""
	}
	if change != "" && !r.changed(ctx, change) {
		return ""
	}
	if err := r.removeStrays(ctx); err != nil {
		return "could not look for a key left by the interrupted create: " + message(err)
	}
	return ""
}

func (r *rotation) removeStrays(ctx workflow.Context) error {
	in := activities.CreateAccessKeyInput{Account: r.account, User: r.user, NotBefore: r.createFrom}
	if r.oldKey.exists() {
		in.KnownKeyIDs = []string{r.oldKey.ID}
	}
	var res activities.DeleteStrayKeysResult
	if err := workflow.ExecuteLocalActivity(iamOptions(ctx, "delete a key left by the interrupted create"), iamActs.DeleteStrayKeys, in).Get(ctx, &res); err != nil {
		return err
	}
	for _, id := range res.DeletedStray {
		r.event(ctx, "deleted stray key "+id+" left by the interrupted create")
	}
	r.createFrom = time.Time{}
	return nil
}

// closeRevocations makes sure no revocation outlives the rotation: a
// revoked key that is still active is deactivated, and a revocation that
// still waits for its key is rejected with why.
func (r *rotation) closeRevocations(ctx workflow.Context, why string) {
	for _, k := range []*trackedKey{&r.oldKey, &r.newKey} {
		if !k.active() || !r.revoked(k.ID, Revocation.InForce) {
			if k.exists() && !k.active() {
				r.markRevocations(k.ID, RevocationDeactivated, "") // it already is
			}
			continue
		}
		id := k.ID
		if why := r.stillNeeded(ctx, k); why != "" {
			why = "left active: " + why + "; revoke it with mode now to cut it off, or rotate again to replace it"
			r.markRevocations(id, RevocationFailed, why)
			r.notice(ctx, "revoke of "+id+": "+why)
			continue
		}
		if err := r.deactivate(ctx, k, "deactivate the revoked key before ending"); err != nil {
			r.markRevocations(id, RevocationFailed, "could not deactivate: "+message(err))
			r.notice(ctx, "revoke of "+id+" failed: could not deactivate: "+message(err))
			continue
		}
		r.markRevocations(id, RevocationDeactivated, "")
	}
	r.rejectUnresolved(ctx, why)
}

// stillNeeded says why a revoked key that is still active must stay when
// the rotation ends ("" when it may go). Such a key was revoked without a
// mode (one revoked with mode now is off by then): it was to go once its
// replacement was confirmed on every target, which did not happen, and
// cutting it off would break the pipelines that use it. The revocation then
// ends failed, with this reason, so nobody takes the key for dead.
func (r *rotation) stillNeeded(ctx workflow.Context, k *trackedKey) string {
	if r.revoked(k.ID, func(rv Revocation) bool { return rv.Mode == RevokeModeNow }) {
		return "" // the operator accepted that pipelines stop
	}
	other := &r.newKey
	if k == &r.newKey {
		other = &r.oldKey
	}
	var why string
	switch {
	case !other.active():
		why = "it is the user's only working key and no replacement was confirmed"
	case k == &r.oldKey && !r.done.pushed:
		why = "targets that did not confirm the new key still use it"
	case k == &r.newKey && k.Sent:
		why = "targets may hold it and no replacement was confirmed"
	default:
		return ""
	}
	// Rotations that ended before this change deactivated the key anyway.
	if !r.changed(ctx, keepNeededKeyChange) {
		return ""
	}
	return why
}

// describeKeys says which keys the rotation leaves and in which state.
func (r *rotation) describeKeys() string {
	var parts []string
	for _, k := range []trackedKey{r.oldKey, r.newKey} {
		if k.ID != "" {
			parts = append(parts, k.ID+" "+string(k.State))
		}
	}
	return strings.Join(parts, ", ")
}

// --- bookkeeping ------------------------------------------------------------------

// changed reports whether the rotation runs with change (version 1 of a
// GetVersion): without asking, for a change allChangesChange stands for in
// a rotation started with it; any other change is asked as usual.
func (r *rotation) changed(ctx workflow.Context, change string) bool {
	if r.current && coveredChanges[change] {
		return true
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) == 1
}

// coveredChanges are the changes allChangesChange stands for, all at
// version 1. Frozen: a later change is not added here.
var coveredChanges = map[string]bool{
	explicitStateChange: true, retireOldForLeakedChange: true, keepNeededKeyChange: true,
	sweepOnFailChange: true, revokeWhileSettlingChange: true, createAsActivityChange: true,
	keepSentKeyChange: true, pushToTargetChange: true, preflightChange: true,
	pushBatchesChange: true, notifyChange: true,
}

func (r *rotation) setPhase(ctx workflow.Context, p Phase, msg string) {
	r.status.Phase = p
	r.event(ctx, msg)
	r.publishPhase(ctx, p)
}

// message is the most specific human message in an error chain: the
// activity's own application error rather than Temporal's wrapping.
func message(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func alreadySuffix(already bool) string {
	if already {
		return " (it already was)"
	}
	return ""
}

func pastTense(verb string) string {
	if verb == "delete" {
		return "deleted"
	}
	return verb + "d"
}
