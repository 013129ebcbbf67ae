package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

func rotate(t *testing.T, r *rig, user string) (contract.Status, error) {
	t.Helper()
	ctx, started := startRotation(t, r, user)
	return operator.Wait(ctx, r.client, started)
}

// startRotation starts user's rotation; the context it returns bounds
// the test's calls about it (three minutes).
func startRotation(t *testing.T, r *rig, user string) (context.Context, operator.Started) {
	t.Helper()
	rot, err := r.cfg.Rotation("", user)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	return ctx, started
}

// The main promise: a full rotation into five targets of every kind.
func TestRotationEndToEnd(t *testing.T) {
	r := newRig(t, rigOptions{})
	st, err := rotate(t, r, "ci-deployer")
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.Equal(t, r.oldKeys["ci-deployer"].ID, st.OldKeyID)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	for _, ts := range st.Targets {
		require.Equal(t, contract.TargetConfirmed, ts.State, ts.Target)
	}
}

// Transient faults and rate limits on every provider are ridden out.
func TestRotationThroughFaultsAndRateLimits(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.emu.AWS.SetNewKeyDelay(2 * time.Second) // IAM eventual consistency
	r.emu.AWS.Faults.Add(faults.Rule{Op: "ListAccessKeys", Status: 503, Times: 1})
	r.emu.GitHub.Faults.Add(faults.Rule{Op: "PUT /repos/acme/api/actions/secrets", Status: 429, RetryAfter: time.Second, Times: 1})
	r.emu.GitHub.Faults.Add(faults.Rule{Op: "GET /orgs/acme/actions/secrets/public-key", Status: 502, Times: 2})
	r.emu.GitLab.Faults.Add(faults.Rule{Op: "/groups/", Status: 429, RetryAfter: time.Second, Times: 1})
	st, err := rotate(t, r, "ci-deployer")
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
}

// A create whose result is lost (the key was made, the answer never
// arrived) leaves no stray key behind.
func TestRotationLostCreateResult(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.emu.AWS.Faults.Add(faults.Rule{Op: "CreateAccessKey", LoseResult: true, Status: 500, Times: 1})
	st, err := rotate(t, r, "ci-deployer")
	require.NoError(t, err)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
}

// A target that fails for good leaves both keys active and names the target.
func TestRotationPartialFailureKeepsOldKey(t *testing.T) {
	missing := model.Target{Kind: model.GitLabGroup, Group: "ghost", EnvironmentScope: "*"}
	targets := append(devstack.DemoTargets(), missing)
	r := newRig(t, rigOptions{users: map[string][]model.Target{"ci-deployer": targets}})
	// The group can be read (the preflight passes) but refuses every write.
	r.failGitLabWrites("groups/ghost", faults.Rule{Status: http.StatusNotFound, Body: `{"message":"404 Group Not Found"}`})
	st, err := rotate(t, r, "ci-deployer")
	require.Error(t, err)
	require.Equal(t, contract.PhaseFailed, st.Phase)
	failed := st.FailedTargets()
	require.Len(t, failed, 1)
	require.Equal(t, missing.String(), failed[0].Target)
	require.Contains(t, failed[0].Error, "ghost")

	keys := r.emu.AWS.Keys("ci-deployer")
	require.Len(t, keys, 2, "both keys stay")
	for _, k := range keys {
		require.Equal(t, model.KeyActive, k.Status, "both keys stay active")
	}
	old := r.oldKeys["ci-deployer"]
	_, err = r.stsWith(old.ID, old.Secret.Reveal())
	require.NoError(t, err, "the old key keeps working for the failed target's pipelines")
}

// Two active keys: refused, nothing touched.
func TestRotationRefusesTwoActiveKeys(t *testing.T) {
	r := newRig(t, rigOptions{})
	_, err := r.emu.AWS.CreateKey("ci-deployer")
	require.NoError(t, err)
	before := r.emu.AWS.Keys("ci-deployer")
	st, err := rotate(t, r, "ci-deployer")
	require.ErrorContains(t, err, "two active access keys")
	require.Equal(t, contract.PhaseFailed, st.Phase)
	require.Equal(t, before, r.emu.AWS.Keys("ci-deployer"))
}

// A worker killed mid-rotation (SIGKILL, during the grace period) and a
// second worker finishing the job: one key, no stray.
func TestWorkerKilledMidRotation(t *testing.T) {
	p := fastPolicy()
	p.GracePeriod = 8 * time.Second
	r := newRig(t, rigOptions{policy: p, noStart: true})
	first := r.workerProcess()

	ctx, started := startRotation(t, r, "ci-deployer")
	require.Eventually(t, func() bool {
		st, err := operator.Status(ctx, r.client, started.WorkflowID)
		return err == nil && st.Phase == contract.PhaseGrace
	}, time.Minute, 200*time.Millisecond, "rotation never reached the grace period")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()

	second := r.workerProcess()
	st, err := operator.Wait(ctx, r.client, started)
	require.NoError(t, err)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())

	// And the second worker stops cleanly on SIGTERM.
	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.Wait())
}

// A worker SIGKILLed in the workflow task that ran the idle check, the
// deactivation and the delete (no waits between them: one task), after IAM
// deleted the old key but before the task completed. Those local activities'
// results die with the task, so the next worker runs the idle check again,
// on a key that no longer exists: that is idle, not a failure. (The cluster
// test's fleet once failed here with "access key … does not exist".)
func TestWorkerKilledAfterDeletingOldKey(t *testing.T) {
	p := fastPolicy()
	p.GracePeriod, p.DeleteAfter = 0, 0
	r := newRig(t, rigOptions{policy: p, noStart: true})
	// IAM deletes the key, then the answer never comes back.
	r.emu.AWS.Faults.Add(faults.Rule{Op: "DeleteAccessKey", LoseResult: true, Delay: time.Minute, Times: 1})
	first := r.workerProcess()

	ctx, started := startRotation(t, r, "ci-deployer")
	require.Eventually(t, func() bool { return r.emu.AWS.Faults.Calls()["DeleteAccessKey"] > 0 },
		time.Minute, 50*time.Millisecond, "the old key was never deleted")
	require.Eventually(t, func() bool { return len(r.emu.AWS.Keys("ci-deployer")) == 1 },
		10*time.Second, 10*time.Millisecond, "IAM never deleted the old key")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()

	r.workerProcess()
	st, err := operator.Wait(ctx, r.client, started)
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
}

// The operator CLI: validate, rotate --wait --output json, and a second
// start while one runs reports the running rotation.
func TestStarterCLI(t *testing.T) {
	p := fastPolicy()
	p.GracePeriod = 3 * time.Second
	r := newRig(t, rigOptions{policy: p})

	out, code := r.starter("validate", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "OK")

	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "started")
	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer", "--wait", "--output", "json")
	require.Equal(t, 0, code, out)
	var st contract.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	require.Equal(t, contract.PhaseDone, st.Phase)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.NotContains(t, out, r.emu.AdminSecret.Reveal())

	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "nobody")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "nobody")
	out, code = r.starter("rotate", "--config", r.cfgPath)
	require.Equal(t, 2, code, out)
	require.True(t, strings.Contains(out, "--user"), out)
}

// The worker authenticates to GitHub as a GitHub App (installation token
// exchange with a JWT), as organisations prefer, with no token anywhere.
func TestRotationWithGitHubApp(t *testing.T) {
	r := newRig(t, rigOptions{githubApp: true, noStart: true})
	worker, workerLog := r.workerProcessLogged()
	out, code := r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer", "--wait", "--output", "json")
	require.Equal(t, 0, code, out)
	var st contract.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.Equal(t, 1, r.emu.GitHub.Faults.Calls()["POST /app/installations/7890123/access_tokens"], "one installation token for every GitHub call")
	require.NoError(t, worker.Process.Signal(syscall.SIGTERM))
	require.NoError(t, worker.Wait())
	logBytes, err := os.ReadFile(workerLog)
	require.NoError(t, err)
	require.NotContains(t, string(logBytes), "PRIVATE KEY")
}
