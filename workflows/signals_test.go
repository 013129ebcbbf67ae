package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

func slowPolicy() model.RotationPolicy {
	p := model.DefaultPolicy
	p.GracePeriod = time.Hour
	p.DeleteAfter = time.Hour
	return p
}

func revokeRotation(targets int) model.Rotation {
	r := testRotation(targets)
	r.Policy = slowPolicy()
	return r
}

// A revoke of the old key during a one-hour grace period retires it at once.
func TestRevokeOldKeyDuringGrace(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 3, model.KeyActive)
	f.register(env)
	start := env.Now()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(RevokeSignal, RevokeInput{Reason: "seen in a build log", RequestedBy: "alice@laptop"})
	}, 10*time.Minute)
	executeRotation(env, revokeRotation(3))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
	require.Less(t, env.Now().Sub(start), 11*time.Minute, "grace and delete waits were skipped")
	require.Len(t, f.keys, 1)
	require.Equal(t, s.NewKeyID, f.keys[0].ID)
	require.Len(t, s.Revocations, 1)
	rv := s.Revocations[0]
	require.Equal(t, RevocationDone, rv.State)
	require.Equal(t, s.OldKeyID, rv.AccessKeyID)
	require.Equal(t, "alice@laptop", rv.RequestedBy)
	require.Equal(t, "seen in a build log", rv.Reason)
}

// Revoke with mode now deactivates the old key before the push ends.
func TestRevokeNowBeforePush(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.allowEarlyDeactivate = true
	f.register(env)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(RevokeSignal, RevokeInput{Mode: RevokeModeNow, Reason: "attacker has it"})
	}, 0)
	executeRotation(env, revokeRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
	calls := strings.Join(f.calls, ",")
	require.Less(t, strings.Index(calls, "deactivate"), strings.Index(calls, "push"), calls)
	require.Len(t, f.keys, 1)
	require.Equal(t, s.NewKeyID, f.keys[0].ID)
}

// A revoke naming the new key (it leaked during the rotation) replaces it,
// before and after the old key was deactivated, never needing a third key
// nor leaving the user without one.
func TestRevokeNewKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Duration
	}{
		{"during grace, old key still active", 10 * time.Minute},
		{"while waiting to delete, old key deactivated", 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 2, model.KeyActive)
			f.register(env)
			var leaked string
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(StatusQuery)
				require.NoError(t, err)
				var s Status
				require.NoError(t, v.Get(&s))
				leaked = s.NewKeyID
				env.SignalWorkflow(RevokeSignal, RevokeInput{AccessKeyID: leaked, Reason: "new key printed in a log"})
			}, tc.at)
			executeRotation(env, revokeRotation(2))
			s, err := finalStatus(t, env)
			require.NoError(t, err, strings.Join(f.calls, ","))
			require.Equal(t, PhaseDone, s.Phase)
			require.NotEqual(t, leaked, s.NewKeyID)
			require.Len(t, f.keys, 1)
			require.Equal(t, s.NewKeyID, f.keys[0].ID)
			require.Nil(t, f.find(leaked))
			for _, ts := range s.Targets {
				require.Equal(t, s.NewKeyID, f.confirmed[ts.Target], ts.Target)
			}
			require.Equal(t, RevocationDone, s.Revocations[0].State)
		})
	}
}

// Bad signals are reported in the status and the rotation goes on.
func TestBadSignalsDoNotCrash(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.register(env)
	r := revokeRotation(1)
	r.Policy.GracePeriod = 2 * time.Hour
	start := env.Now()
	var during Status
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(RevokeSignal, map[string]any{"mode": "later"})
		env.SignalWorkflow(RevokeSignal, map[string]any{"accessKeyId": "not-a-key"})
		env.SignalWorkflow(RevokeSignal, []int{1, 2})
		env.SignalWorkflow(RevokeSignal, map[string]any{"accessKeyId": "AKIAZZZZZZZZZEXAMPLE"})
		env.SignalWorkflow(RevokeSignal, map[string]any{"unexpected": true})
		env.SignalWorkflow(RollbackSignal, nil)
		env.SignalWorkflow(RetrySignal, "nonsense")
	}, 10*time.Minute)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(StatusQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 20*time.Minute)
	executeRotation(env, r)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
	require.Equal(t, PhaseGrace, during.Phase, "bad signals do not cut the grace period short")
	require.GreaterOrEqual(t, env.Now().Sub(start), 3*time.Hour)
	require.Len(t, s.Notices, 7, strings.Join(s.Notices, "\n"))
	for _, rv := range s.Revocations {
		require.Equal(t, RevocationRejected, rv.State)
	}
	require.NotContains(t, strings.Join(s.Notices, "\n"), "not-a-key", "a malformed key ID is not echoed")
}

// Rollback while the old key is deactivated re-activates it.
func TestRollback(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.register(env)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(RollbackSignal, ProceedInput{Reason: "pipelines broke"}) }, 90*time.Minute)
	executeRotation(env, revokeRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseRolledBack, s.Phase)
	require.Len(t, f.keys, 2)
	require.Equal(t, 2, f.active())
}

// With the old key revoked, failed targets hold the rotation; retry
// re-pushes them.
func TestRetryFailedTargetsWhileRevoked(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 2, model.KeyActive)
	f.pushFail["gitlab acme/api@production"] = temporal.NewNonRetryableApplicationError("gitlab acme/api@production: 401", activities.TypeUnauthorized, nil)
	f.register(env)
	var held Status
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(RevokeSignal, nil)
	}, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(StatusQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&held))
		f.mu.Lock()
		delete(f.pushFail, "gitlab acme/api@production")
		f.mu.Unlock()
		env.SignalWorkflow(RetrySignal, ProceedInput{Reason: "token fixed"})
	}, time.Hour)
	rot := revokeRotation(2)
	rot.Targets = []model.Target{rot.Targets[0], testRotation(4).Targets[3]}
	executeRotation(env, rot)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseHolding, held.Phase)
	require.Contains(t, held.HeldReason, "send retry")
	require.Equal(t, PhaseDone, s.Phase)
	require.Len(t, f.keys, 1)
}
