package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Each test here reproduces a way the rotation broke its own promises when
// operator actions, faults and races were combined, and holds the fix.

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	t.Helper()
	v, err := env.QueryWorkflow(StatusQuery)
	require.NoError(t, err)
	var s Status
	require.NoError(t, v.Get(&s))
	return s
}

// updateOutcome is what a workflow update came to.
type updateOutcome struct {
	accepted bool
	rejected error
	result   any
}

func sendUpdate(env *testsuite.TestWorkflowEnvironment, name string, arg any) *updateOutcome {
	out := &updateOutcome{}
	env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept:   func() { out.accepted = true },
		OnReject:   func(err error) { out.rejected = err },
		OnComplete: func(res any, err error) { out.result = res },
	}, arg)
	return out
}

func keyStatus(f *fakeAccount, id string) string {
	if k := f.find(id); k != nil {
		return k.Status
	}
	return "deleted"
}

// A rollback after the old key was revoked must not bring the revoked key
// back, whichever arrives first; before the fix, revoke then rollback ended
// "rolled-back" with the leaked key Active and the revocation still accepted.
func TestRevokeAndRollbackNeverReactivateARevokedKey(t *testing.T) {
	revoke := func(env *testsuite.TestWorkflowEnvironment, mode string) {
		env.SignalWorkflow(RevokeSignal, RevokeInput{Mode: mode, Reason: "leaked"})
	}
	rollback := func(env *testsuite.TestWorkflowEnvironment, _ string) { env.SignalWorkflow(RollbackSignal, nil) }
	for _, tc := range []struct {
		name  string
		mode  string
		first func(*testsuite.TestWorkflowEnvironment, string)
		then  func(*testsuite.TestWorkflowEnvironment, string)
	}{
		{"revoke then rollback", "", revoke, rollback},
		{"revoke now then rollback", RevokeModeNow, revoke, rollback},
		{"rollback then revoke", "", rollback, revoke},
		{"rollback then revoke now", RevokeModeNow, rollback, revoke},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 2, model.KeyActive)
			f.allowEarlyDeactivate = true
			f.register(env)
			oldKey := f.keys[0].ID
			env.RegisterDelayedCallback(func() {
				require.Equal(t, PhaseWaitingToDelete, queryStatus(t, env).Phase)
				tc.first(env, tc.mode)
				tc.then(env, tc.mode)
			}, 90*time.Minute)
			executeRotation(env, revokeRotation(2))
			s, err := finalStatus(t, env)
			require.NoError(t, err)
			// A rollback carried out before the revoke arrived may end the
			// rotation rolled back; the revoked old key is then deactivated
			// before it ends. It is never left Active.
			require.Contains(t, []Phase{PhaseDone, PhaseRolledBack}, s.Phase, strings.Join(f.calls, ","))
			require.NotEqual(t, model.KeyActive, keyStatus(f, oldKey))
			if tc.first != nil && s.Phase == PhaseDone {
				require.NotContains(t, ","+strings.Join(f.calls, ","), ",activate "+oldKey, "the revoked key was re-activated")
			}
			for _, rv := range s.Revocations {
				require.False(t, rv.Open(), "revocation left %s", rv.State)
			}
		})
	}
}

// The rollback update is refused, with the reason, once the old key is revoked.
func TestRollbackUpdateRejectedForRevokedKey(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.allowEarlyDeactivate = true
	f.register(env)
	r := revokeRotation(1)
	var rollback *updateOutcome
	env.RegisterDelayedCallback(func() {
		sendUpdate(env, RevokeSignal, RevokeInput{Mode: RevokeModeNow})
		rollback = sendUpdate(env, RollbackSignal, ProceedInput{})
	}, 90*time.Minute)
	executeRotation(env, r)
	_, err := finalStatus(t, env)
	require.NoError(t, err)
	require.False(t, rollback.accepted)
	require.ErrorContains(t, rollback.rejected, "is revoked")
}

// A revoked new key is replaced even when a target fails for good: before
// the fix the rotation failed with the leaked key Active and the revocation
// still accepted, and the user then held two active keys.
func TestRevokeNewKeyWhileATargetFailsForGood(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 2, model.KeyActive)
	f.pushDelay = time.Minute
	f.pushFail["github acme/api"] = temporal.NewNonRetryableApplicationError("github acme/api: 404 Not Found", activities.TypeNotFound, nil)
	f.register(env)
	oldKey := f.keys[0].ID
	var leaked string
	env.RegisterDelayedCallback(func() {
		leaked = queryStatus(t, env).NewKeyID
		require.NotEmpty(t, leaked)
		env.SignalWorkflow(RevokeSignal, RevokeInput{AccessKeyID: leaked, Reason: "printed in a log"})
	}, 30*time.Second)
	executeRotation(env, revokeRotation(2))
	s, err := finalStatus(t, env)
	require.ErrorContains(t, err, "targets failed")
	require.Equal(t, "deleted", keyStatus(f, leaked), "the leaked key is gone")
	require.Equal(t, model.KeyActive, keyStatus(f, oldKey), "the old key still serves every pipeline")
	require.NotEqual(t, leaked, s.NewKeyID)
	require.Equal(t, RevocationDone, s.Revocations[0].State)
	require.Len(t, f.keys, 2)
}

// While a target failed and the old key is revoked, the rotation holds (it
// does not end with a revoked key alive); retry re-pushes, proceed goes on.
func TestHoldWhileRevokedAndTargetFails(t *testing.T) {
	for _, tc := range []struct {
		name      string
		request   string
		fixFirst  bool
		wantPhase Phase
	}{
		{"retry after the target is fixed", RetrySignal, true, PhaseDone},
		{"proceed without the failed target", ProceedSignal, false, PhaseDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 2, model.KeyActive)
			f.pushFail["github acme/api"] = temporal.NewNonRetryableApplicationError("github acme/api: 401 Bad credentials", activities.TypeUnauthorized, nil)
			f.allowEarlyDeactivate = true
			f.register(env)
			oldKey := f.keys[0].ID
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(RevokeSignal, RevokeInput{Reason: "leaked"})
			}, 0)
			env.RegisterDelayedCallback(func() {
				s := queryStatus(t, env)
				require.Equal(t, PhaseHolding, s.Phase)
				require.Contains(t, s.HeldReason, "revoked")
				require.Equal(t, model.KeyActive, keyStatus(f, oldKey), "held, not deactivated")
				if tc.fixFirst {
					delete(f.pushFail, "github acme/api")
				}
				sendUpdate(env, tc.request, ProceedInput{Reason: "fixed"})
			}, time.Hour)
			executeRotation(env, revokeRotation(2))
			s, err := finalStatus(t, env)
			require.NoError(t, err)
			require.Equal(t, tc.wantPhase, s.Phase)
			require.Equal(t, "deleted", keyStatus(f, oldKey))
			require.Equal(t, RevocationDone, s.Revocations[0].State)
		})
	}
}

// Cancel is an operator action with defined results in every phase; before
// the fix it panicked the workflow task.
func TestCancelInEachPhase(t *testing.T) {
	for _, tc := range []struct {
		name      string
		at        time.Duration
		pushDelay time.Duration
		revoke    bool
		wantOld   string // the old key's status at the end
		wantNew   string // the new key's status at the end
	}{
		{name: "while pushing: a target may hold the new key, so both stay", at: 30 * time.Second, pushDelay: time.Minute, wantOld: model.KeyActive, wantNew: model.KeyActive},
		{name: "in the grace period: both keys stay", at: 10 * time.Minute, wantOld: model.KeyActive, wantNew: model.KeyActive},
		{name: "waiting to delete: the old key stays deactivated", at: 90 * time.Minute, wantOld: model.KeyInactive, wantNew: model.KeyActive},
		{name: "old key revoked while pushing: unpushed targets still use it, so both stay and the revocation says why", at: 30 * time.Second, pushDelay: time.Minute, revoke: true, wantOld: model.KeyActive, wantNew: model.KeyActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 2, model.KeyActive)
			f.pushDelay = tc.pushDelay
			f.allowEarlyDeactivate = true
			f.register(env)
			oldKey := f.keys[0].ID
			var newKey string
			if tc.revoke {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(RevokeSignal, RevokeInput{Reason: "leaked"}) }, 0)
			}
			env.RegisterDelayedCallback(func() {
				newKey = queryStatus(t, env).NewKeyID
				env.CancelWorkflow()
			}, tc.at)
			executeRotation(env, revokeRotation(2))
			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			var canceled *temporal.CanceledError
			require.True(t, errors.As(err, &canceled), "%v", err)
			var s Status
			require.NoError(t, canceled.Details(&s))
			require.Equal(t, PhaseCancelled, s.Phase)
			require.Equal(t, tc.wantOld, keyStatus(f, oldKey), strings.Join(f.calls, ","))
			require.Equal(t, tc.wantNew, keyStatus(f, newKey), strings.Join(f.calls, ","))
			require.Contains(t, s.Left, oldKey)
			for _, rv := range s.Revocations {
				require.False(t, rv.Open(), "revocation left %s", rv.State)
				if tc.wantOld == model.KeyActive {
					require.Equal(t, RevocationFailed, rv.State)
					require.Contains(t, rv.Error, "left active: targets that did not confirm the new key still use it")
				}
			}
		})
	}
}

// A proceed with nothing to proceed is reported, not swallowed: before the
// fix a proceed sent during the push was silently dropped. The update says
// so to the caller at once.
func TestProceedWithNothingToProceedIsReported(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.pushDelay = time.Minute
	f.register(env)
	var u *updateOutcome
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(ProceedSignal, nil)
		u = sendUpdate(env, ProceedSignal, ProceedInput{})
	}, 30*time.Second)
	start := env.Now()
	executeRotation(env, revokeRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.False(t, u.accepted)
	require.ErrorContains(t, u.rejected, "nothing to proceed")
	require.Contains(t, strings.Join(s.Notices, "\n"), "ignored a proceed signal: nothing to proceed")
	require.GreaterOrEqual(t, env.Now().Sub(start), 2*time.Hour, "the grace and delete waits still ran in full")
}

// Operator text is capped and the status' lists are bounded, so a flood of
// signals (or one huge reason) can never push the result over Temporal's
// payload limit; before the fix a 1.2 MiB reason made the result over 2 MiB.
func TestOperatorInputIsBounded(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.register(env)
	huge := strings.Repeat("x", 1200*1024)
	var u *updateOutcome
	env.RegisterDelayedCallback(func() {
		u = sendUpdate(env, RevokeSignal, RevokeInput{Reason: huge})
		env.SignalWorkflow(RevokeSignal, RevokeInput{Reason: huge})
		for range 500 {
			env.SignalWorkflow(RetrySignal, nil)
		}
	}, 10*time.Minute)
	executeRotation(env, revokeRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.ErrorContains(t, u.rejected, "limited to")
	require.Empty(t, s.Revocations, "the oversized revokes were not recorded")
	require.LessOrEqual(t, len(s.Notices), maxNotices)
	require.LessOrEqual(t, len(s.Timeline), maxTimeline)
	require.Positive(t, s.TimelineDropped)
	size := 0
	for _, e := range s.Timeline {
		size += len(e.Message)
	}
	require.Less(t, size, 256*1024)
}

// Revoke-now requests that pile up while the key is being deactivated are
// all carried out by that one deactivation; before the fix the result was
// written into a stale copy of the revocation list and it ran twice.
func TestRevokeNowDeactivatesOnce(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.allowEarlyDeactivate = true
	f.pushDelay = time.Minute
	f.register(env)
	oldKey := f.keys[0].ID
	env.RegisterDelayedCallback(func() {
		for range 3 {
			env.SignalWorkflow(RevokeSignal, RevokeInput{Mode: RevokeModeNow})
		}
	}, 10*time.Second)
	executeRotation(env, revokeRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(strings.Join(f.calls, ","), "deactivate "+oldKey))
	require.Len(t, s.Revocations, 3)
	for _, rv := range s.Revocations {
		require.Equal(t, RevocationDone, rv.State)
	}
}
