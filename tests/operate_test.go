package tests

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// hourPolicy makes a rotation sit in a one-hour grace period (and a
// one-hour wait before deletion): only a signal gets it done quickly.
func hourPolicy() model.RotationPolicy {
	p := fastPolicy()
	p.GracePeriod = time.Hour
	p.DeleteAfter = time.Hour
	return p
}

// startAndAwait starts the user's rotation and waits until it reaches phase.
func startAndAwait(t *testing.T, r *rig, user string, phase contract.Phase) operator.Started {
	t.Helper()
	rot, err := r.cfg.Rotation("", user)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	awaitPhase(t, r, started.WorkflowID, phase)
	return started
}

func awaitPhase(t *testing.T, r *rig, workflowID string, phase contract.Phase) contract.Status {
	t.Helper()
	var st contract.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = operator.Status(context.Background(), r.client, workflowID)
		return err == nil && st.Phase == phase
	}, time.Minute, 100*time.Millisecond, "rotation %s never reached %s (last: %s)", workflowID, phase, st.Phase)
	return st
}

func waitFor(t *testing.T, r *rig, s operator.Started, within time.Duration) (contract.Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return operator.Wait(ctx, r.client, s)
}

// temporalCLI runs the pinned temporal CLI against the test server, as an
// operator would from a runbook.
func temporalCLI(t *testing.T, args ...string) string {
	t.Helper()
	cli, err := devstack.TemporalCLI()
	require.NoError(t, err)
	args = append(args, "--address", devServer.FrontendHostPort(), "--namespace", "default")
	out, err := exec.Command(cli, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}

// The README's one command: a revoke signal during a one-hour grace
// period deletes the old key within seconds.
func TestRevokeWithTemporalCLIDuringGrace(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	t0 := time.Now()
	temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", "revoke",
		"--input", `{"reason": "key printed in build 1234"}`)
	st, err := waitFor(t, r, started, 30*time.Second)
	require.NoError(t, err)
	require.Less(t, time.Since(t0), 15*time.Second)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.Len(t, st.Revocations, 1)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
	require.Equal(t, "key printed in build 1234", st.Revocations[0].Reason)
}

// starter revoke --now: the old key is dead before anything else, and the
// rotation still completes.
func TestRevokeNowWithStarter(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	out, code := r.starter("revoke", "--config", r.cfgPath, "--user", "ci-deployer", "--now", "--reason", "attacker has it", "--wait", "--output", "json")
	require.Equal(t, 0, code, out)
	var st contract.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.Equal(t, started.WorkflowID, model.WorkflowID(st.Account, st.User))
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.Equal(t, "now", st.Revocations[0].Mode)
	require.Contains(t, st.Revocations[0].RequestedBy, "@")
}

// A revoke naming the new key (it leaked during the rotation) replaces it.
// Every target already holds the leaked key, so the old key (which none
// uses) makes room, and the leaked key is retired as soon as its
// replacement is confirmed: no grace period for a revoked key.
func TestRevokeNewKeyEndToEnd(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	during, err := operator.Status(context.Background(), r.client, started.WorkflowID)
	require.NoError(t, err)
	leaked := during.NewKeyID
	require.NoError(t, r.client.SignalWorkflow(context.Background(), started.WorkflowID, "", contract.RevokeSignal,
		contract.RevokeInput{AccessKeyID: leaked, Reason: "new key in a log"}))
	st, err := waitFor(t, r, started, time.Minute)
	require.NoError(t, err)
	require.NotEqual(t, leaked, st.NewKeyID)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	_, err = r.stsWith(leaked, "anything")
	require.Error(t, err)
	require.Len(t, r.emu.AWS.Keys("ci-deployer"), 1, "the old key and the leaked one are both gone")
}

// Revoke when nothing runs starts a rotation that revokes as soon as the
// replacement is pushed (signal-with-start).
func TestRevokeWhenNothingRuns(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	t0 := time.Now()
	out, code := r.starter("revoke", "--config", r.cfgPath, "--user", "ci-deployer", "--reason", "found in an old artifact", "--wait")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "DONE")
	require.Less(t, time.Since(t0), 30*time.Second, "no one-hour waits")
	require.Contains(t, out, "found in an old artifact")
}

// Malformed and misdirected signals are reported, and the rotation goes on.
func TestMalformedSignalsAreReported(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", "revoke", "--input", `"not an object"`)
	temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", "revoke", "--input", `{"accessKeyId": "AKIAZZZZZZZZZEXAMPLE"}`)
	temporalCLI(t, "workflow", "signal", "--workflow-id", started.WorkflowID, "--name", "rollback")
	var st contract.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = operator.Status(context.Background(), r.client, started.WorkflowID)
		return err == nil && len(st.Notices) == 3
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, contract.PhaseGrace, st.Phase, "still waiting in the grace period")
	out, code := r.starter("status", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "grace period")
	require.Contains(t, out, "left")
	require.Contains(t, out, "rejected")
	// The rotation still works: proceed through both waits.
	out, code = r.starter("proceed", "--config", r.cfgPath, "--user", "ci-deployer", "--reason", "checked")
	require.Equal(t, 0, code, out)
	awaitPhase(t, r, started.WorkflowID, contract.PhaseWaitingToDelete)
	out, code = r.starter("proceed", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	final, err := waitFor(t, r, started, time.Minute)
	require.NoError(t, err)
	r.requireRotated("ci-deployer", final.NewKeyID, devstack.DemoTargets())
}

// The status query, `starter status` and the UI's search attributes show
// the phases as a rotation moves through them.
func TestStatusShowsEveryPhase(t *testing.T) {
	p := fastPolicy()
	p.GracePeriod, p.DeleteAfter = 3*time.Second, 3*time.Second
	r := newRig(t, rigOptions{policy: p})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	requireListed(t, r, `KeyrotorPhase = "grace" AND KeyrotorUser = "ci-deployer" AND KeyrotorAccount = "demo"`, started)
	out, code := r.starter("status", "--config", r.cfgPath, "--output", "json")
	require.Equal(t, 0, code, out)
	var overviews []operator.Overview
	require.NoError(t, json.Unmarshal([]byte(out), &overviews), out)
	require.Len(t, overviews, 1)
	require.Equal(t, "Running", overviews[0].Execution)
	require.NotNil(t, overviews[0].Status.WaitUntil)
	require.NotNil(t, overviews[0].Status.OldKeyCreatedAt)
	st, err := waitFor(t, r, started, time.Minute)
	require.NoError(t, err)
	requireListed(t, r, `KeyrotorPhase = "done" AND KeyrotorUser = "ci-deployer"`, started)
	var seen []string
	for _, e := range st.Timeline {
		if len(seen) == 0 || seen[len(seen)-1] != string(e.Phase) {
			seen = append(seen, string(e.Phase))
		}
	}
	require.Equal(t, "inspecting creating verifying pushing grace checking-idle deactivating waiting-to-delete deleting done", strings.Join(seen, " "))
	out, code = r.starter("status", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "Completed — done")
}

func requireListed(t *testing.T, r *rig, query string, s operator.Started) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := r.client.ListWorkflow(context.Background(), listRequest(query))
		if err != nil {
			return false
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetRunId() == s.RunID {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "no workflow listed for %s", query)
}

func listRequest(query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query}
}

// requestOK sends an operator request as an update and requires it accepted.
func requestOK(t *testing.T, r *rig, workflowID, name string) {
	t.Helper()
	_, err := operator.Request(context.Background(), r.client, workflowID, name, contract.ProceedInput{})
	require.NoError(t, err)
}
