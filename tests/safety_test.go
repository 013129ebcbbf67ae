package tests

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// The safety promises of a rotation, on the real dev server with the real
// worker, driven through the clients an operator uses (the temporal CLI,
// the starter's operator requests). Every test checks what IAM and every
// target hold at the end, not only what the status says.

const safetyUser = "ci-deployer"

// heldPair is what one target holds: a key ID and its secret.
type heldPair struct {
	target     string
	id, secret string
}

func heldPairs(r *rig, targets []model.Target) []heldPair {
	out := make([]heldPair, 0, len(targets))
	for _, tg := range targets {
		id, secret := r.emu.TargetValues(tg, model.DefaultSecretNames)
		out = append(out, heldPair{target: tg.String(), id: id, secret: secret})
	}
	return out
}

// keyStatuses maps the user's key IDs to their IAM status.
func keyStatuses(r *rig) map[string]string {
	out := map[string]string{}
	for _, k := range r.emu.AWS.Keys(safetyUser) {
		out[k.ID] = k.Status
	}
	return out
}

// requireTargetsHold checks that every target holds keyID with one and the
// same secret, and that STS accepts that pair as the user.
func requireTargetsHold(t *testing.T, r *rig, targets []model.Target, keyID string) {
	t.Helper()
	var secret string
	for _, p := range heldPairs(r, targets) {
		require.Equal(t, keyID, p.id, "%s holds another key", p.target)
		require.NotEmpty(t, p.secret, "%s holds no secret", p.target)
		if secret == "" {
			secret = p.secret
		}
		require.True(t, p.secret == secret, "%s holds another secret than the other targets", p.target)
	}
	arn, err := r.stsWith(keyID, secret)
	require.NoError(t, err, "the pushed key %s does not sign", keyID)
	require.Equal(t, r.emu.AWS.UserARN(safetyUser), arn)
}

// requireTargetsEmpty checks that no target holds a key ID or a secret
// (compared, never printed).
func requireTargetsEmpty(t *testing.T, r *rig, targets []model.Target) {
	t.Helper()
	for _, p := range heldPairs(r, targets) {
		require.Empty(t, p.id, "%s holds a key ID", p.target)
		require.True(t, p.secret == "", "%s holds a secret", p.target)
	}
}

// requireTargetsWork checks that every target holds a pair a pipeline can
// use: one of the given keys, with the secret STS accepts for it.
func requireTargetsWork(t *testing.T, r *rig, targets []model.Target, keyIDs ...string) {
	t.Helper()
	for _, p := range heldPairs(r, targets) {
		require.Contains(t, keyIDs, p.id, "%s holds an unexpected key ID", p.target)
		arn, err := r.stsWith(p.id, p.secret)
		require.NoError(t, err, "%s holds key ID %s with a secret that does not sign (a torn pair)", p.target, p.id)
		require.Equal(t, r.emu.AWS.UserARN(safetyUser), arn, p.target)
	}
}

// primeTargets runs one full rotation so that every target holds the
// user's current key, as after any earlier rotation, and makes that key
// the rig's old key.
func primeTargets(t *testing.T, r *rig, targets []model.Target) {
	t.Helper()
	started := startAndAwait(t, r, safetyUser, contract.PhaseGrace)
	requestOK(t, r, started.WorkflowID, contract.ProceedSignal)
	awaitPhase(t, r, started.WorkflowID, contract.PhaseWaitingToDelete)
	requestOK(t, r, started.WorkflowID, contract.ProceedSignal)
	st, err := waitFor(t, r, started, time.Minute)
	require.NoError(t, err)
	r.requireRotated(safetyUser, st.NewKeyID, targets)
	_, secret := r.emu.TargetValues(targets[0], model.DefaultSecretNames)
	r.oldKeys[safetyUser] = model.NewAccessKey{ID: st.NewKeyID, Secret: model.Secret(secret)}
}

// cancelledStatus waits for a cancelled rotation and returns the final
// status its CanceledError carries.
func cancelledStatus(t *testing.T, r *rig, s operator.Started) contract.Status {
	t.Helper()
	_, err := waitFor(t, r, s, time.Minute)
	require.Error(t, err)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "the rotation did not end cancelled: %v", err)
	var st contract.Status
	require.NoError(t, canceled.Details(&st))
	require.Equal(t, contract.PhaseCancelled, st.Phase)
	return st
}

func requireRevocationsClosed(t *testing.T, st contract.Status) {
	t.Helper()
	for _, rv := range st.Revocations {
		require.NotContains(t, []string{contract.RevocationPending, contract.RevocationAccepted}, rv.State,
			"revocation of %s left open", rv.AccessKeyID)
	}
}

// TestSafetyCancelInEachPhase: `temporal workflow cancel` has a defined
// result in every phase. A cancel deletes the new key only if no push of
// it began; once one began, a target may hold it, so both keys stay.
func TestSafetyCancelInEachPhase(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prime: the targets hold the old key when the rotation starts.
		prime bool
		// reach gets the rotation to the phase to cancel in.
		reach func(t *testing.T, r *rig) operator.Started
		check func(t *testing.T, r *rig, st contract.Status, oldID, newID string)
	}{
		{
			name: "verifying, before any push: the new key is deleted, the old one stays",
			reach: func(t *testing.T, r *rig) operator.Started {
				// STS answers the new key's first check after 12s. The
				// check is a local activity inside a workflow task, so the
				// cancel reaches the workflow at the task's heartbeat (8s),
				// while the check is still under way.
				r.emu.AWS.Faults.Add(faults.Rule{Op: "GetCallerIdentity", Delay: 12 * time.Second, Times: 1})
				rot, err := r.cfg.Rotation("", safetyUser)
				require.NoError(t, err)
				started, err := operator.StartRotation(context.Background(), r.client, r.cfg.TaskQueue, rot)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					return r.emu.AWS.Faults.Calls()["GetCallerIdentity"] > 0
				}, 30*time.Second, 20*time.Millisecond, "the new key was never checked")
				return started
			},
			check: func(t *testing.T, r *rig, st contract.Status, oldID, newID string) {
				require.Equal(t, map[string]string{oldID: model.KeyActive}, keyStatuses(r))
				require.Contains(t, st.Left, newID+" deleted")
				requireTargetsEmpty(t, r, devstack.DemoTargets())
			},
		},
		{
			name: "grace period: both keys stay active, every target holds the new key",
			reach: func(t *testing.T, r *rig) operator.Started {
				return startAndAwait(t, r, safetyUser, contract.PhaseGrace)
			},
			check: func(t *testing.T, r *rig, st contract.Status, oldID, newID string) {
				require.Equal(t, map[string]string{oldID: model.KeyActive, newID: model.KeyActive}, keyStatuses(r))
				requireTargetsHold(t, r, devstack.DemoTargets(), newID)
				old := r.oldKeys[safetyUser]
				_, err := r.stsWith(old.ID, old.Secret.Reveal())
				require.NoError(t, err, "the old key still works")
			},
		},
		{
			name: "waiting to delete: the old key stays deactivated, the new one active",
			reach: func(t *testing.T, r *rig) operator.Started {
				started := startAndAwait(t, r, safetyUser, contract.PhaseGrace)
				requestOK(t, r, started.WorkflowID, contract.ProceedSignal)
				awaitPhase(t, r, started.WorkflowID, contract.PhaseWaitingToDelete)
				return started
			},
			check: func(t *testing.T, r *rig, st contract.Status, oldID, newID string) {
				require.Equal(t, map[string]string{oldID: model.KeyInactive, newID: model.KeyActive}, keyStatuses(r))
				requireTargetsHold(t, r, devstack.DemoTargets(), newID)
				old := r.oldKeys[safetyUser]
				_, err := r.stsWith(old.ID, old.Secret.Reveal())
				require.Error(t, err, "the deactivated old key stays off")
			},
		},
		{
			name:  "pushing to a slow target: a target may hold the new key, so both stay active",
			prime: true,
			reach: slowPushReach,
			check: requireSlowPushCancelled,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closeRotationAtEnd(t)
			r := newRig(t, rigOptions{policy: hourPolicy()})
			if tc.prime {
				primeTargets(t, r, devstack.DemoTargets())
			}
			st, oldID, newID := cancelWithCLI(t, r, tc.reach(t, r))
			tc.check(t, r, st, oldID, newID)
		})
	}
}

// slowPushReach starts a rotation whose last target (the GitLab group)
// answers every variables call after 4s, and returns once that push began:
// a cancel sent then lands while a target is being written.
func slowPushReach(t *testing.T, r *rig) operator.Started {
	t.Helper()
	slow := devstack.DemoTargets()[4]
	r.emu.GitLab.Faults.Add(faults.Rule{Op: "/groups/" + slow.Group + "/variables", Delay: 4 * time.Second})
	started := startAndAwait(t, r, safetyUser, contract.PhasePushing)
	require.Eventually(t, func() bool {
		st, err := operator.Status(context.Background(), r.client, started.WorkflowID)
		if err != nil || len(st.Targets) != 5 {
			return false
		}
		last := st.Targets[4]
		return last.Target == slow.String() && last.State == contract.TargetPushing
	}, 30*time.Second, 50*time.Millisecond, "the slow push never began")
	return started
}

// requireSlowPushCancelled checks the end of a rotation cancelled during the
// slow push: both keys active, the old one still working, every confirmed
// target holding a working new key, and no target holding a third key.
func requireSlowPushCancelled(t *testing.T, r *rig, st contract.Status, oldID, newID string) {
	t.Helper()
	require.Equal(t, map[string]string{oldID: model.KeyActive, newID: model.KeyActive}, keyStatuses(r),
		"both keys stay active: nothing half-deleted")
	old := r.oldKeys[safetyUser]
	_, err := r.stsWith(old.ID, old.Secret.Reveal())
	require.NoError(t, err, "the old key still works")
	var confirmed []model.Target
	for i, ts := range st.Targets {
		tg := devstack.DemoTargets()[i]
		require.Equal(t, tg.String(), ts.Target)
		if ts.State == contract.TargetConfirmed {
			confirmed = append(confirmed, tg)
		}
	}
	require.NotEmpty(t, confirmed)
	requireTargetsHold(t, r, confirmed, newID)
	for _, p := range heldPairs(r, devstack.DemoTargets()) {
		require.Contains(t, []string{oldID, newID}, p.id, "%s holds a key of neither", p.target)
	}
	slow := heldPairs(r, devstack.DemoTargets()[4:])[0]
	switch {
	case slow.id == old.ID && slow.secret == old.Secret.Reveal():
		t.Logf("%s (%s) still holds the old key", slow.target, st.Targets[4].State)
	case slow.id == newID:
		_, err := r.stsWith(slow.id, slow.secret)
		t.Logf("%s (%s) holds the new key ID; its secret signs: %t", slow.target, st.Targets[4].State, err == nil)
	default:
		t.Logf("%s (%s) holds the old key ID with another secret", slow.target, st.Targets[4].State)
	}
}

// cancelWithCLI cancels the rotation from the temporal CLI, as a runbook
// says, and returns its final status. The keys are read from IAM: a status
// query would wait for a workflow task running a local activity to end.
func cancelWithCLI(t *testing.T, r *rig, started operator.Started) (st contract.Status, oldID, newID string) {
	t.Helper()
	oldID = r.oldKeys[safetyUser].ID
	keys := keyStatuses(r)
	require.Len(t, keys, 2, "the new key exists")
	for id := range keys {
		if id != oldID {
			newID = id
		}
	}
	temporalCLI(t, "workflow", "cancel", "--workflow-id", started.WorkflowID)
	st = cancelledStatus(t, r, started)
	require.Equal(t, oldID, st.OldKeyID)
	require.Equal(t, newID, st.NewKeyID)
	require.Contains(t, st.Left, oldID)
	require.Contains(t, st.Left, newID)
	require.Empty(t, st.Error)
	requireRevocationsClosed(t, st)
	return st, oldID, newID
}

// A cancel while a push is under way must not leave a target with half a
// key: the ID of one key and the secret of another signs nothing, and that
// target's pipelines fail although the status says both keys were kept so
// that every pipeline keeps working. Before the fix the push stopped at the
// heartbeat after the key ID's write, leaving the old secret beside it.
func TestSafetyCancelMidPushLeavesNoTornPair(t *testing.T) {
	closeRotationAtEnd(t)
	r := newRig(t, rigOptions{policy: hourPolicy()})
	primeTargets(t, r, devstack.DemoTargets())
	started := slowPushReach(t, r)
	_, oldID, newID := cancelWithCLI(t, r, started)
	requireTargetsWork(t, r, devstack.DemoTargets(), oldID, newID)
}

// closeRotationAtEnd terminates the user's rotation if a failed test left
// it running: every test rotates the same workflow ID.
func closeRotationAtEnd(t *testing.T) {
	t.Cleanup(func() {
		_ = tclient.TerminateWorkflow(context.Background(), model.WorkflowID("demo", safetyUser), "", "test ended")
	})
}

// keyWatch samples the IAM status of one key until stopped, recording
// whether it was ever seen active.
type keyWatch struct {
	stop       chan struct{}
	done       chan struct{}
	everActive bool
}

func watchKey(r *rig, keyID string) *keyWatch {
	w := &keyWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if keyStatuses(r)[keyID] == model.KeyActive {
				w.everActive = true
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *keyWatch) stopped() bool {
	close(w.stop)
	<-w.done
	return w.everActive
}

// TestSafetyRevokeThenRollbackWhileWaitingToDelete: once the old key is
// revoked, a rollback is refused with the reason and the key is never
// active again; the rotation deletes it and ends done.
//
// The deletion the revoke leads to is a local activity, run inside the
// workflow task that took the revoke; a request sent meanwhile reaches the
// workflow at that task's heartbeat (8s in). IAM answers the deletion
// after 10s, so the rollback meets a rotation that is still running, with
// the revoke recorded: the only order in which it can be refused rather
// than come too late.
func TestSafetyRevokeThenRollbackWhileWaitingToDelete(t *testing.T) {
	for _, tc := range []struct {
		name string
		// signals: the revoke (mode now) and the rollback are signals from
		// the temporal CLI; otherwise both are updates from the operator
		// client, and the rollback's caller gets the refusal.
		signals bool
	}{
		{name: "revoke and rollback as updates"},
		{name: "revoke now and rollback as temporal CLI signals", signals: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closeRotationAtEnd(t)
			r := newRig(t, rigOptions{policy: hourPolicy()})
			started := startAndAwait(t, r, safetyUser, contract.PhaseGrace)
			requestOK(t, r, started.WorkflowID, contract.ProceedSignal)
			awaitPhase(t, r, started.WorkflowID, contract.PhaseWaitingToDelete)
			oldID := r.oldKeys[safetyUser].ID
			require.Equal(t, model.KeyInactive, keyStatuses(r)[oldID])
			r.emu.AWS.Faults.Add(faults.Rule{Op: "DeleteAccessKey", Delay: 10 * time.Second, Times: 1})
			watch := watchKey(r, oldID)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			type revokeAnswer struct {
				res operator.Revoked
				err error
			}
			answer := make(chan revokeAnswer, 1)
			if tc.signals {
				temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", contract.RevokeSignal,
					"--input", `{"mode": "now", "reason": "key in a public gist"}`)
			} else {
				rot, err := r.cfg.Rotation("", safetyUser)
				require.NoError(t, err)
				go func() {
					res, err := operator.Revoke(ctx, r.client, r.cfg.TaskQueue, rot,
						contract.RevokeInput{Reason: "key in a public gist", RequestedBy: "oncall@example.com"})
					answer <- revokeAnswer{res, err}
				}()
			}
			require.Eventually(t, func() bool { return r.emu.AWS.Faults.Calls()["DeleteAccessKey"] > 0 },
				30*time.Second, 20*time.Millisecond, "the revoke never led to the deletion")

			if tc.signals {
				temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", contract.RollbackSignal,
					"--input", `{"reason": "undo"}`)
			} else {
				_, err := operator.Request(ctx, r.client, started.WorkflowID, contract.RollbackSignal, contract.ProceedInput{Reason: "undo"})
				var rejected *operator.RejectedError
				require.True(t, errors.As(err, &rejected), "the rollback was not rejected: %v", err)
				require.Contains(t, rejected.Reason, oldID+" is revoked")
				a := <-answer
				require.NoError(t, a.err)
				require.Equal(t, started.RunID, a.res.RunID, "the running rotation took the revoke")
				require.Equal(t, contract.RevocationAccepted, a.res.Revocation.State)
				require.Equal(t, oldID, a.res.Revocation.AccessKeyID)
			}

			st, err := waitFor(t, r, started, time.Minute)
			everActive := watch.stopped()
			require.NoError(t, err)
			require.Equal(t, contract.PhaseDone, st.Phase, "never rolled back")
			require.False(t, everActive, "the revoked old key was active again")
			r.requireRotated(safetyUser, st.NewKeyID, devstack.DemoTargets())
			require.NotContains(t, keyStatuses(r), oldID, "the revoked key is deleted")
			require.Len(t, st.Revocations, 1)
			require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
			for _, e := range st.Timeline {
				require.NotEqual(t, contract.PhaseRollingBack, e.Phase, "the rotation rolled back: %s", e.Message)
				require.NotContains(t, e.Message, "re-activated the old key", "the timeline shows a re-activation")
			}
			if tc.signals {
				notices := strings.Join(st.Notices, "\n")
				require.Contains(t, notices, "ignored a rollback signal")
				require.Contains(t, notices, oldID+" is revoked")
			}
		})
	}
}

// TestSafetyRevokeNewKeyWhileATargetFailsForGood: the new key leaks during
// the push while one target can never be written. The leaked key goes, no
// revoked key is left active, the user keeps a working key, and the
// revocation is closed.
func TestSafetyRevokeNewKeyWhileATargetFailsForGood(t *testing.T) {
	ghost := model.Target{Kind: model.GitLabGroup, Group: "ghost", EnvironmentScope: "*"}
	for _, tc := range []struct {
		name    string
		failing model.Target
		noSeed  bool
		// fault makes every call to the failing target slow (so the revoke
		// lands during its push), and maybe fail.
		fault       faults.Rule
		withStarter bool // revoke with the starter binary instead of the operator client
	}{
		{
			name:    "gitlab answers 401 for the group's writes",
			failing: devstack.DemoTargets()[4],
			fault:   faults.Rule{Op: "groups/acme", Status: http.StatusUnauthorized, Delay: 2 * time.Second, Body: `{"message":"401 Unauthorized"}`},
		},
		{
			name:        "the gitlab group refuses writes with 404, revoked with the starter",
			failing:     ghost,
			fault:       faults.Rule{Op: "groups/ghost", Status: http.StatusNotFound, Delay: 2 * time.Second, Body: `{"message":"404 Group Not Found"}`},
			withStarter: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closeRotationAtEnd(t)
			targets := devstack.DemoTargets()
			if !containsTarget(targets, tc.failing) {
				targets = append(targets, tc.failing)
			}
			o := rigOptions{policy: hourPolicy(), users: map[string][]model.Target{safetyUser: targets}}
			if tc.noSeed {
				o.noSeed = []model.Target{tc.failing}
			}
			r := newRig(t, o)
			// Reads work (the preflight passes); every write fails, slowly.
			r.failGitLabWrites(tc.fault.Op, tc.fault)
			oldID := r.oldKeys[safetyUser].ID

			started := startAndAwait(t, r, safetyUser, contract.PhasePushing)
			var leaked string
			require.Eventually(t, func() bool {
				st, err := operator.Status(context.Background(), r.client, started.WorkflowID)
				if err != nil {
					return false
				}
				for _, ts := range st.Targets {
					if ts.Target == tc.failing.String() && ts.State == contract.TargetPushing {
						leaked = st.NewKeyID
						return true
					}
				}
				return false
			}, 30*time.Second, 50*time.Millisecond, "the failing push never began")
			require.NotEmpty(t, leaked)
			if tc.withStarter {
				out, code := r.starter("revoke", "--config", r.cfgPath, "--user", safetyUser, "--key", leaked, "--reason", "new key printed in a job log")
				require.Equal(t, 0, code, out)
			} else {
				rot, err := r.cfg.Rotation("", safetyUser)
				require.NoError(t, err)
				rv, err := operator.Revoke(context.Background(), r.client, r.cfg.TaskQueue, rot,
					contract.RevokeInput{AccessKeyID: leaked, Reason: "new key printed in a job log"})
				require.NoError(t, err)
				require.Equal(t, "new", rv.Revocation.Which)
				require.Equal(t, contract.RevocationAccepted, rv.Revocation.State)
			}

			st, err := waitFor(t, r, started, 2*time.Minute)
			require.Error(t, err, "the failing target fails the rotation")
			require.Equal(t, contract.PhaseFailed, st.Phase)
			require.NotEqual(t, leaked, st.NewKeyID, "the leaked key was replaced")
			require.NotEmpty(t, st.NewKeyID)
			failed := st.FailedTargets()
			require.Len(t, failed, 1)
			require.Equal(t, tc.failing.String(), failed[0].Target)

			// The revocation is closed, and no revoked key is active.
			require.Len(t, st.Revocations, 1)
			rv := st.Revocations[0]
			require.Equal(t, leaked, rv.AccessKeyID)
			require.NotContains(t, []string{contract.RevocationPending, contract.RevocationAccepted}, rv.State)
			keys := keyStatuses(r)
			require.NotEqual(t, model.KeyActive, keys[leaked], "the revoked key is active")
			require.Equal(t, contract.RevocationDone, rv.State)
			require.NotContains(t, keys, leaked, "the leaked key is deleted")
			// The user keeps working keys: the old one for the failed
			// target's pipelines, the replacement for the others.
			require.Equal(t, map[string]string{oldID: model.KeyActive, st.NewKeyID: model.KeyActive}, keys)
			old := r.oldKeys[safetyUser]
			_, err = r.stsWith(old.ID, old.Secret.Reveal())
			require.NoError(t, err)

			// Every target that works holds the replacement; the failed one
			// holds nothing; none holds the leaked key.
			var good []model.Target
			for _, tg := range targets {
				if tg.String() != tc.failing.String() {
					good = append(good, tg)
				}
			}
			requireTargetsHold(t, r, good, st.NewKeyID)
			for _, p := range heldPairs(r, targets) {
				require.NotEqual(t, leaked, p.id, "%s holds the leaked key", p.target)
			}
			if !tc.noSeed {
				requireTargetsEmpty(t, r, []model.Target{tc.failing})
			}
		})
	}
}

// TestSafetyPlaintextStartPushesNothing: whoever may start workflows on
// the namespace starts a rotation of a configured user from the temporal
// CLI, in plaintext: naming a repository of their own in the legacy
// rotation field, or just the user. The worker refuses the unencrypted
// input: no key is created, nothing is written anywhere, no provider is
// called.
func TestSafetyPlaintextStartPushesNothing(t *testing.T) {
	attacker := model.Target{Kind: model.GitHubRepository, Repository: "mallory/loot"}
	p := zeroWaits()
	for _, tc := range []struct {
		name  string
		input any
	}{
		{
			name: "legacy rotation field with the attacker's target",
			input: map[string]any{"rotation": model.Rotation{
				Account: "demo", User: safetyUser, SecretNames: model.DefaultSecretNames,
				Targets: []model.Target{attacker}, Policy: p,
			}},
		},
		{
			name:  "account and user only",
			input: contract.RotateInput{Account: "demo", User: safetyUser},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closeRotationAtEnd(t)
			r := newRig(t, rigOptions{policy: fastPolicy()})
			r.emu.SeedTarget(attacker) // a push there would succeed
			input, err := json.Marshal(tc.input)
			require.NoError(t, err)
			id := model.WorkflowID("demo", safetyUser)
			t0 := time.Now()
			temporalCLI(t, "workflow", "start", "--type", contract.WorkflowName, "--task-queue", r.cfg.TaskQueue,
				"--workflow-id", id, "--input", string(input))

			// The worker refuses the input: the rotation fails at once,
			// and the reason is stored encrypted like every failure (who
			// started it in plaintext only sees "Encoded failure").
			_, failureConverter := connect.ClientConverters(codecKeys)
			var why string
			require.Eventually(t, func() bool {
				for _, ev := range history(t, r.client, id).GetEvents() {
					if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED {
						why = failureConverter.FailureToError(ev.GetWorkflowExecutionFailedEventAttributes().GetFailure()).Error()
						return true
					}
				}
				return false
			}, 30*time.Second, 100*time.Millisecond, "the plaintext rotation did not fail")
			require.Contains(t, why, "RotateInput "+codec.ErrUnencrypted.Error())
			if d := 5*time.Second - time.Since(t0); d > 0 {
				time.Sleep(d)
			}
			desc := temporalCLI(t, "workflow", "describe", "--workflow-id", id)
			require.Regexp(t, `Status\s+FAILED`, desc)
			require.Contains(t, desc, "Encoded failure")
			require.NotContains(t, desc, "unencrypted", "the failure is readable without the codec")

			// Nothing happened: the user has only its own key, the
			// attacker's repository and every configured target hold
			// nothing, no provider was even called.
			require.Equal(t, map[string]string{r.oldKeys[safetyUser].ID: model.KeyActive}, keyStatuses(r))
			requireTargetsEmpty(t, r, append(devstack.DemoTargets(), attacker))
			require.Zero(t, r.emu.GitHub.Faults.Total(), "GitHub was called")
			require.Zero(t, r.emu.GitLab.Faults.Total(), "GitLab was called")
			for _, op := range r.emu.AWS.Faults.Ops() {
				require.NotContains(t, op, "AccessKey", "IAM key call %s", op)
			}
		})
	}
}

// stormTargetOf names which target a provider call was for (the
// repository lookups the environment and organization pushes share are
// counted apart).
func stormTargetOf(op string) string {
	for _, m := range []struct{ part, target string }{
		{"/environments/production/secrets", "github acme/api@production"},
		{"/repos/acme/api/actions/secrets", "github acme/api"},
		{"/orgs/acme/", "github org acme"},
		{"/projects/acme/api/", "gitlab project acme/api"},
		{"/groups/acme/", "gitlab group acme"},
	} {
		if strings.Contains(op, m.part) {
			return m.target
		}
	}
	return "shared lookups (" + op + ")"
}

// TestSafetyStormOnBothProviders: GitHub and GitLab fail about one call in
// three (5xx, and 429 with Retry-After), seeded; the rotation still
// completes with exactly one key that every target holds.
func TestSafetyStormOnBothProviders(t *testing.T) {
	closeRotationAtEnd(t)
	r := newRig(t, rigOptions{})
	for i, inj := range []*faults.Injector{r.emu.GitHub.Faults, r.emu.GitLab.Faults} {
		seed := uint64(100 * (i + 1))
		// 1 - (11/12)(10/11)(4/5) = 1/3 of the calls fail.
		inj.Add(faults.Random(1.0/12, seed, http.StatusInternalServerError))
		inj.Add(faults.Random(1.0/11, seed+1, http.StatusServiceUnavailable))
		inj.Add(faults.RandomRetryAfter(1.0/5, seed+2, time.Second))
	}
	t0 := time.Now()
	st, err := rotate(t, r, safetyUser)
	elapsed := time.Since(t0)
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	for _, ts := range st.Targets {
		require.Equal(t, contract.TargetConfirmed, ts.State, ts.Target)
	}
	r.requireRotated(safetyUser, st.NewKeyID, devstack.DemoTargets())
	requireTargetsHold(t, r, devstack.DemoTargets(), st.NewKeyID)

	perTarget := map[string]int{}
	for _, inj := range []*faults.Injector{r.emu.GitHub.Faults, r.emu.GitLab.Faults} {
		for op, n := range inj.Calls() {
			perTarget[stormTargetOf(op)] += n
		}
	}
	names := make([]string, 0, len(perTarget))
	for name := range perTarget {
		names = append(names, name)
	}
	sort.Strings(names)
	total := 0
	for _, name := range names {
		t.Logf("storm: %-45s %3d calls", name, perTarget[name])
		total += perTarget[name]
	}
	t.Logf("storm: %d provider calls in all (GitHub %d, GitLab %d); rotation took %s",
		total, r.emu.GitHub.Faults.Total(), r.emu.GitLab.Faults.Total(), elapsed.Round(10*time.Millisecond))
}
