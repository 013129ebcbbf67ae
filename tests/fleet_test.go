package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// fleetUsers makes n users named prefix-NN, each with one repository
// target of its own; the last third are in the account "ops".
func fleetUsers(prefix string, n int) (map[string][]model.Target, map[string]string) {
	users, accounts := map[string][]model.Target{}, map[string]string{}
	for i := range n {
		u := fmt.Sprintf("%s-%02d", prefix, i)
		users[u] = []model.Target{{Kind: model.GitHubRepository, Repository: "acme/" + u}}
		if i >= n-n/3 {
			accounts[u] = "ops"
		}
	}
	return users, accounts
}

// summaryJSON runs `starter status --summary --output json`.
func summaryJSON(t *testing.T, r *rig) operator.FleetSummary {
	t.Helper()
	out, code := r.starter("status", "--config", r.cfgPath, "--summary", "--output", "json")
	require.Equal(t, 0, code, out)
	var s operator.FleetSummary
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	return s
}

// runsOf counts the runs of a workflow ID in visibility.
func runsOf(t *testing.T, r *rig, workflowID string) int {
	t.Helper()
	resp, err := r.client.ListWorkflow(context.Background(), listRequest(fmt.Sprintf("WorkflowId = '%s'", workflowID)))
	require.NoError(t, err)
	return len(resp.GetExecutions())
}

// rotate --all rotates a fleet across two accounts, three at a time, and
// lists every user; status --summary counts them by phase and account.
func TestFleetRotateAll(t *testing.T) {
	users, accounts := fleetUsers("fleet", 10)
	r := newRig(t, rigOptions{users: users, userAccounts: accounts})
	t0 := time.Now()
	out, code := r.starter("rotate", "--config", r.cfgPath, "--all", "--max-concurrent", "3", "--wait")
	require.Equal(t, 0, code, out)
	t.Logf("10 rotations, 3 at a time: %s", time.Since(t0).Round(time.Second))
	require.Contains(t, out, "rotating 10 users, at most 3 at once")
	require.Contains(t, out, "10 users: 0 running (0 pushing, 0 waiting), 10 done, 0 failed", "the last progress line (not a terminal: plain lines)")
	for user, targets := range users {
		rot, err := r.cfg.Rotation("", user)
		require.NoError(t, err)
		st, err := operator.Wait(context.Background(), r.client, operator.Started{WorkflowID: rot.WorkflowID()})
		require.NoError(t, err)
		r.requireRotated(user, st.NewKeyID, targets)
		line := tableLine(t, out, user)
		require.Contains(t, line, rot.Account)
		require.Contains(t, line, "done")
		require.Contains(t, line, st.NewKeyID)
	}

	s := summaryJSON(t, r)
	require.Equal(t, 10, s.Users)
	require.Equal(t, map[string]int{"done": 10}, s.ByPhase)
	require.Len(t, s.ByAccount, 2)
	require.Equal(t, "demo", s.ByAccount[0].Account)
	require.Equal(t, 7, s.ByAccount[0].ByPhase["done"])
	require.Equal(t, "ops", s.ByAccount[1].Account)
	require.Equal(t, 3, s.ByAccount[1].ByPhase["done"])
	require.NotNil(t, s.OldestKey)
	require.Empty(t, s.Holds)

	// Rotated within the last hour: a second run skips them all.
	out, code = r.starter("rotate", "--config", r.cfgPath, "--all", "--account", "ops", "--skip-rotated-within", "1h", "--wait")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "3 users: 0 running (0 pushing, 0 waiting), 0 done, 0 failed, 3 skipped")
	require.Equal(t, 1, runsOf(t, r, "rotate/ops/fleet-09"))

	out, code = r.starter("status", "--config", r.cfgPath, "--summary")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "10 users, 0 with a running rotation")
	require.Contains(t, out, "holds: none")
}

// One user's target does not exist (404): its rotation fails, the table says
// why and the exit status is 1. A second `rotate --all` while the first's
// rotations run starts none of them again.
func TestFleetFailureAndRerun(t *testing.T) {
	users, _ := fleetUsers("rerun", 4)
	missing := users["rerun-03"][0]
	p := fastPolicy()
	p.GracePeriod = 5 * time.Second // the good rotations run long enough to be found running
	r := newRig(t, rigOptions{users: users, noSeed: []model.Target{missing}, policy: p})

	first := exec.Command(filepath.Join(binDir, "starter"), "rotate", "--config", r.cfgPath, "--all", "--max-concurrent", "4", "--wait")
	first.Env = append(os.Environ(), temporalEnv()...)
	var firstOut bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	require.NoError(t, first.Start())
	t.Cleanup(func() {
		if first.ProcessState == nil {
			_ = first.Process.Kill()
			_, _ = first.Process.Wait()
		}
	})
	good := []string{"rerun-00", "rerun-01", "rerun-02"}
	require.Eventually(t, func() bool {
		for _, u := range good {
			if runsOf(t, r, "rotate/demo/"+u) != 1 {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)

	// The failed user's rotation may have ended by now: a re-run starts it
	// again (resuming retries failures), but none of the running ones.
	out, _ := r.starter("rotate", "--config", r.cfgPath, "--all")
	t.Log("second run:\n" + out)
	for _, u := range good {
		line := tableLine(t, out, u)
		require.Contains(t, line, "running", "the first run's rotations are reported, not started again")
		require.Contains(t, line, "was running")
	}

	err := first.Wait()
	t.Log("first run:\n" + firstOut.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode())
	line := tableLine(t, firstOut.String(), "rerun-03")
	require.Contains(t, line, "failed")
	require.Contains(t, line, "acme/rerun-03")
	require.Contains(t, firstOut.String(), "1 of 4 rotations failed")
	for _, u := range good {
		require.Contains(t, tableLine(t, firstOut.String(), u), "done")
		require.Equal(t, 1, runsOf(t, r, "rotate/demo/"+u), "%s started twice", u)
	}

	var s operator.FleetSummary
	require.Eventually(t, func() bool {
		s = summaryJSON(t, r)
		return s.Running == 0
	}, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, map[string]int{"done": 3, "failed": 1}, s.ByPhase)
}

// tableLine is the summary table's line of a user.
func tableLine(t *testing.T, out, user string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == user {
			return l
		}
	}
	t.Fatalf("no line for %s in:\n%s", user, out)
	return ""
}
