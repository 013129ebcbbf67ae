// Package workflows holds keyrotor's deterministic orchestration: no I/O,
// no wall clock, no goroutines. Everything that touches the outside world is
// an activity in package activities.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Names that clients and operators use.
const (
	WorkflowName = "RotateAccessKey"
	StatusQuery  = "status"
	// ProceedSignal skips the current wait (grace, idle re-check) or ends a hold.
	ProceedSignal = "proceed"
	// ErrRotationFailed is the type of the error a failed rotation ends with;
	// its details hold the final Status.
	ErrRotationFailed = "RotationFailed"
)

// maxParallelPushes bounds how many targets are written at once, so a user
// with many targets does not trip the providers' secondary rate limits.
const maxParallelPushes = 4

// RotateInput is the workflow's input: the resolved rotation, never a token.
type RotateInput struct {
	Rotation model.Rotation `json:"rotation"`
}

// RotateResult is the final report of a successful rotation.
type RotateResult struct {
	Status Status `json:"status"`
}

// ProceedInput is the payload of the proceed signal (optional).
type ProceedInput struct {
	Reason string `json:"reason,omitempty"`
}

// Activity receivers: nil pointers are enough to name the methods, the
// worker registers the real ones.
var (
	iamActs    *activities.IAM
	githubActs *activities.GitHub
	gitlabActs *activities.GitLab
)

// RotateAccessKey rotates one IAM user's access key, in runbook order:
// create, verify, push, wait, deactivate, wait, delete. The old key stays
// active until every target has confirmed the new one.
func RotateAccessKey(ctx workflow.Context, in RotateInput) (RotateResult, error) {
	r := newRotation(ctx, in.Rotation)
	if err := r.registerHandlers(ctx); err != nil {
		return RotateResult{}, err
	}

	if err := r.inspect(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if err := r.create(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if err := r.verify(ctx); err != nil {
		return r.fail(ctx, r.discardNewKey(ctx, err))
	}
	if err := r.push(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if r.oldKeyID == "" {
		return r.done(ctx, "the user had no key before: nothing to retire")
	}
	r.wait(ctx, PhaseGrace, "grace period", r.policy().GracePeriod)
	if err := r.awaitOldKeyIdle(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if err := r.deactivateOldKey(ctx); err != nil {
		return r.fail(ctx, err)
	}
	r.wait(ctx, PhaseWaitingToDelete, "delete the deactivated key", r.policy().DeleteAfter)
	if err := r.deleteOldKey(ctx); err != nil {
		return r.fail(ctx, err)
	}
	return r.done(ctx, "rotation complete")
}

// rotation is the workflow's state. Signal handlers only set fields here;
// the main function awaits them.
type rotation struct {
	in       model.Rotation
	status   Status
	oldKeyID string
	newKey   model.NewAccessKey // held in workflow memory only to push it
	pushedAt time.Time

	proceed bool // set by the proceed signal, consumed by the wait it ends
}

func newRotation(ctx workflow.Context, in model.Rotation) *rotation {
	r := &rotation{in: in, status: newStatus(in)}
	r.status.StartedAt = workflow.Now(ctx)
	return r
}

func (r *rotation) policy() model.RotationPolicy { return r.in.Policy }

func (r *rotation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, StatusQuery, func() (Status, error) {
		return r.status, nil
	}, workflow.QueryHandlerOptions{Description: "phase, key IDs, targets and the current timer of this rotation"}); err != nil {
		return err
	}
	proceed := workflow.GetSignalChannel(ctx, ProceedSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in ProceedInput
			proceed.Receive(ctx, &in)
			r.proceed = true
			r.event(ctx, "proceed signal received"+reasonSuffix(in.Reason))
		}
	})
	return nil
}

// --- the steps ----------------------------------------------------------

func (r *rotation) inspect(ctx workflow.Context) error {
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
		r.event(ctx, "old key is "+res.ActiveKey.ID)
	}
	return nil
}

func (r *rotation) create(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseCreating, "creating the new key")
	in := activities.CreateAccessKeyInput{Account: r.in.Account, User: r.in.User}
	if r.oldKeyID != "" {
		in.KnownKeyIDs = []string{r.oldKeyID}
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
	r.event(ctx, "created new key "+res.Key.ID)
	return nil
}

func (r *rotation) verify(ctx workflow.Context) error {
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
func (r *rotation) discardNewKey(ctx workflow.Context, cause error) error {
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "delete the unusable new key"), iamActs.DeleteAccessKey,
		r.keyInput(r.newKey.ID)).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("new key %s failed verification (%s) and could not be deleted: %w", r.newKey.ID, message(cause), err)
	}
	r.event(ctx, "deleted the new key "+r.newKey.ID+": it failed verification")
	return cause
}

func (r *rotation) push(ctx workflow.Context) error {
	r.setPhase(ctx, PhasePushing, fmt.Sprintf("pushing the new key to %d targets", len(r.in.Targets)))
	sel := workflow.NewSelector(ctx)
	running, next := 0, 0
	start := func(i int) {
		t := r.in.Targets[i]
		r.status.Targets[i].State = TargetPushing
		in := activities.PushInput{Target: t, SecretNames: r.in.SecretNames, Key: r.newKey}
		f := workflow.ExecuteActivity(pushOptions(ctx, "push to "+t.String()), pushActivity(t), in)
		running++
		sel.AddFuture(f, func(f workflow.Future) {
			running--
			var res activities.PushResult
			r.recordPush(ctx, i, f.Get(ctx, &res))
		})
	}
	for ; next < len(r.in.Targets) && running < maxParallelPushes; next++ {
		start(next)
	}
	for running > 0 {
		sel.Select(ctx)
		if next < len(r.in.Targets) {
			start(next)
			next++
		}
	}
	r.pushedAt = workflow.Now(ctx)
	if failed := r.status.FailedTargets(); len(failed) > 0 {
		return fmt.Errorf("%d of %d targets failed; both keys stay active so every pipeline keeps working", len(failed), len(r.in.Targets))
	}
	r.event(ctx, "every target confirmed the new key")
	return nil
}

func pushActivity(t model.Target) any {
	if t.Kind.Provider() == "gitlab" {
		return gitlabActs.PushGitLabVariable
	}
	return githubActs.PushGitHubSecret
}

func (r *rotation) recordPush(ctx workflow.Context, i int, err error) {
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

// awaitOldKeyIdle makes sure nothing still uses the old key before it is
// deactivated: a use after the push means some pipeline did not pick up the
// new key. It re-checks a bounded number of times, then holds until an
// operator sends proceed.
func (r *rotation) awaitOldKeyIdle(ctx workflow.Context) error {
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
			r.hold(ctx, usedBy+": something still holds it; send the proceed signal to deactivate it anyway")
			return nil
		}
		r.event(ctx, usedBy)
		r.wait(ctx, PhaseCheckingIdle, "re-check that the old key is idle", p.IdleRecheck)
	}
}

func (r *rotation) deactivateOldKey(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseDeactivating, "deactivating the old key "+r.oldKeyID)
	var res activities.KeyChangeResult
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "deactivate the old key"), iamActs.DeactivateAccessKey,
		r.keyInput(r.oldKeyID)).Get(ctx, &res)
	if err != nil {
		return err
	}
	r.event(ctx, "deactivated the old key "+r.oldKeyID+alreadySuffix(res.AlreadyDone))
	return nil
}

func (r *rotation) deleteOldKey(ctx workflow.Context) error {
	r.setPhase(ctx, PhaseDeleting, "deleting the old key "+r.oldKeyID)
	var res activities.KeyChangeResult
	err := workflow.ExecuteLocalActivity(iamOptions(ctx, "delete the old key"), iamActs.DeleteAccessKey,
		r.keyInput(r.oldKeyID)).Get(ctx, &res)
	if err != nil {
		return err
	}
	r.event(ctx, "deleted the old key "+r.oldKeyID+alreadySuffix(res.AlreadyDone))
	return nil
}

// --- waiting --------------------------------------------------------------

// wait sleeps on a durable timer that the proceed signal can cut short.
func (r *rotation) wait(ctx workflow.Context, phase Phase, what string, d time.Duration) {
	r.setPhase(ctx, phase, fmt.Sprintf("waiting %s: %s", d, what))
	if d <= 0 {
		return
	}
	until := workflow.Now(ctx).Add(d)
	r.status.Waiting, r.status.WaitUntil = what, &until
	defer func() { r.status.Waiting, r.status.WaitUntil = "", nil }()
	r.proceed = false
	skipped, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      d,
		TimerOptions: workflow.TimerOptions{Summary: what},
	}, func() bool { return r.proceed })
	if skipped {
		r.proceed = false
		r.event(ctx, "skipped the rest of the wait: "+what)
	}
}

// hold stops the rotation in a visible state until an operator sends proceed.
func (r *rotation) hold(ctx workflow.Context, reason string) {
	r.status.HeldReason = reason
	r.setPhase(ctx, PhaseHolding, "holding: "+reason)
	_ = workflow.Await(ctx, func() bool { return r.proceed })
	r.proceed = false
	r.status.HeldReason = ""
}

// --- endings and bookkeeping ---------------------------------------------

func (r *rotation) done(ctx workflow.Context, msg string) (RotateResult, error) {
	r.setPhase(ctx, PhaseDone, msg)
	return RotateResult{Status: r.status}, nil
}

// fail ends the rotation as failed, with the final status in the error's
// details so the starter can print the report.
func (r *rotation) fail(ctx workflow.Context, err error) (RotateResult, error) {
	r.status.Error = message(err)
	r.setPhase(ctx, PhaseFailed, r.status.Error)
	return RotateResult{}, temporal.NewNonRetryableApplicationError(r.status.Error, ErrRotationFailed, err, r.status)
}

func (r *rotation) setPhase(ctx workflow.Context, p Phase, msg string) {
	r.status.Phase = p
	r.event(ctx, msg)
}

func (r *rotation) event(ctx workflow.Context, msg string) {
	r.status.Timeline = append(r.status.Timeline, Event{At: workflow.Now(ctx), Phase: r.status.Phase, Message: msg})
}

func (r *rotation) keyInput(keyID string) activities.KeyInput {
	return activities.KeyInput{Account: r.in.Account, User: r.in.User, AccessKeyID: keyID}
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

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func alreadySuffix(already bool) string {
	if already {
		return " (it already was)"
	}
	return ""
}
