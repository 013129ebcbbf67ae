//go:build linux

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	codecpkg "github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// revokeUser's rotation sits in a one-hour grace period until the revoke
// signal ends it.
const revokeUser = "operator-1"

// clusterFleet is the cluster's first fleet, for the dev-server comparison.
var clusterFleet fleetRun

// laps logs how long each step took.
type laps struct {
	t           *testing.T
	start, last time.Time
}

func newLaps(t *testing.T) *laps {
	now := time.Now()
	return &laps{t: t, start: now, last: now}
}

func (l *laps) lap(format string, args ...any) {
	l.t.Helper()
	now := time.Now()
	l.t.Logf("%6.1fs  %s", now.Sub(l.last).Seconds(), fmt.Sprintf(format, args...))
	l.last = now
}

// The whole life of a deployment on a real cluster: PostgreSQL and its
// schema, the four services, the namespace, two worker processes and the
// codec server; a fleet of rotations at once; the same again with a worker
// SIGKILLed in the middle; a revoke from the temporal CLI; schedules synced
// and fired.
func TestClusterOnPostgres(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	clock := newLaps(t)
	t.Logf("worker and starter binaries built in %.1fs", buildTime.Seconds())
	validateDynamicConfig(t)
	ports := freePorts(t, 11)
	pg := startPostgres(t, ports[0])
	clock.lap("PostgreSQL: initdb and start")
	setupSchema(t, pg)
	clock.lap("temporal-sql-tool: create, setup-schema and update-schema for temporal and temporal_visibility")
	srv := startServer(t, pg, newServerPorts(ports[1:10]))
	clock.lap("temporal-server: frontend, history, matching and worker services healthy")
	createNamespace(t, srv)
	clock.lap("namespace default created")

	users := map[string][]model.Target{revokeUser: fleetTargets(revokeUser)}
	for _, u := range fleetUsers() {
		users[u] = fleetTargets(u)
	}
	s := newStack(t, srv.address, users, map[string]string{revokeUser: "{gracePeriod: 1h, deleteAfter: 1h}"})
	if rot, err := s.cfg.Rotation("", revokeUser); err != nil || rot.Policy.GracePeriod != time.Hour {
		t.Fatalf("the configuration should give %s a one-hour grace period: %v %+v", revokeUser, err, rot.Policy)
	}
	codec := s.startCodecServer(ports[10])
	workerA, workerB := s.startWorkers()
	clock.lap("codec server and two worker processes up (%d rotations × 5 targets configured)", len(users))

	// A fleet at once, both workers.
	first := s.fleet(fleetUsers(), nil)
	clusterFleet = first
	clock.lap("fleet 1: %d rotations × 5 targets started in %.1fs, all done and checked: %.2f rotations/s",
		fleetSize, first.started.Seconds(), first.perSecond())

	s.checkCodecServer(codec, "fleet-000")
	clock.lap("codec server decodes what the cluster stores encrypted")

	// The same fleet again; worker-a is SIGKILLed while rotations are
	// mid-flight, and worker-b finishes every one of them. The kill comes
	// while keys are still being created: half the fleet has made its new
	// key, the rest has not. Before CreateAccessKey ran as a regular
	// activity, a rotation whose create ran in a workflow task that the
	// kill lost failed here (the next worker's inspect found the lost
	// attempt's key as a second active key, and left it).
	// KEYROTOR_CLUSTER_KILL_WHEN_PUSHING=1 kills once every rotation pushes.
	duringCreate := os.Getenv("KEYROTOR_CLUSTER_KILL_WHEN_PUSHING") != "1"
	var killedAt time.Time
	var createdAtKill, pushingAtKill, doneAtKill int
	second := s.fleet(fleetUsers(), func() bool {
		created, pushing, done := s.progress(fleetUsers())
		if (duringCreate && created < fleetSize/2) || (!duringCreate && pushing < fleetSize) {
			return false
		}
		workerA.kill()
		killedAt, createdAtKill, pushingAtKill, doneAtKill = time.Now(), created, pushing, done
		return true
	})
	if killedAt.IsZero() || doneAtKill == fleetSize {
		t.Fatalf("worker-a was not killed in the middle of the fleet (%d of %d done then)", doneAtKill, fleetSize)
	}
	workerB.requireRunning(t)
	clock.lap("fleet 2: worker-a SIGKILLed when %d rotations had made their new key, %d pushed it and %d were done; worker-b finished all %d, %.1fs after the kill (%.2f rotations/s overall)",
		createdAtKill, pushingAtKill, doneAtKill, fleetSize, second.ended.Sub(killedAt).Seconds(), second.perSecond())

	// Visibility on PostgreSQL filters by keyrotor's search attributes.
	query := fmt.Sprintf(`KeyrotorAccount = %q AND KeyrotorPhase = %q AND ExecutionStatus = "Completed"`, account, contract.PhaseDone)
	err := waitUntil(30*time.Second, 250*time.Millisecond, func() error {
		n, err := s.countRotations(query)
		if err == nil && n != 2*fleetSize {
			err = fmt.Errorf("%d rotations listed", n)
		}
		return err
	})
	if err != nil {
		t.Fatalf("visibility, %s: %v (want %d)", query, err, 2*fleetSize)
	}
	clock.lap("visibility lists the %d finished rotations by KeyrotorAccount and KeyrotorPhase", 2*fleetSize)

	s.revokeWithCLI(revokeUser)
	clock.lap("revoke signal from the temporal CLI ended a one-hour grace period at once")

	s.syncAndTriggerSchedules("fleet-000", len(users))
	clock.lap("starter schedules sync created %d schedules (a second sync changed nothing); a trigger rotated fleet-000", len(users))

	// The surviving worker stops cleanly.
	workerB.stop(syscall.SIGTERM, 30*time.Second)
	if workerB.err != nil {
		t.Fatalf("worker-b did not stop cleanly: %v\n%s", workerB.err, workerB.tail(20))
	}
	t.Logf("total %.1fs", time.Since(clock.start).Seconds())
}

// The first fleet again on a dev server (temporal server start-dev, SQLite
// in memory), for comparison. Skipped with -short.
func TestDevServerFleetForComparison(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if testing.Short() {
		t.Skip("a comparison only; -short skips it")
	}
	if clusterFleet.elapsed == 0 {
		t.Skip("the cluster's fleet did not run")
	}
	dev, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop() })
	users := map[string][]model.Target{}
	for _, u := range fleetUsers() {
		users[u] = fleetTargets(u)
	}
	s := newStack(t, dev.FrontendHostPort(), users, nil)
	s.startWorkers()
	f := s.fleet(fleetUsers(), nil)
	t.Logf("the same fleet of %d rotations × 5 targets, two worker processes: dev server %.1fs (%.2f rotations/s), cluster on PostgreSQL %.1fs (%.2f rotations/s)",
		fleetSize, f.elapsed.Seconds(), f.perSecond(), clusterFleet.elapsed.Seconds(), clusterFleet.perSecond())
}

// codecServer is the running codec server.
type codecServer struct {
	url, tokenFile string
	proc           *proc
}

// startCodecServer starts 'starter codec-server' with a token file.
func (s *stack) startCodecServer(port int) codecServer {
	s.t.Helper()
	cs := codecServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), tokenFile: filepath.Join(s.dir, "codec-server.token")}
	if err := os.WriteFile(cs.tokenFile, []byte(randomHex(32)+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	cs.proc = startProc(s.t, "codec-server", filepath.Join(s.dir, "codec-server.log"), procOptions{env: s.env(false)},
		filepath.Join(binDir, "starter"), "codec-server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--token-file", cs.tokenFile)
	err := waitUntil(30*time.Second, 100*time.Millisecond, func() error {
		cs.proc.requireRunning(s.t)
		resp, err := http.Post(cs.url+"/decode", "application/json", strings.NewReader(`{"payloads": []}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			return fmt.Errorf("a request without the token got %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("codec server: %v\n%s", err, cs.proc.tail(20))
	}
	return cs
}

// checkCodecServer shows the user's last rotation with the temporal CLI:
// without the codec server its input is ciphertext; through it (endpoint
// and token from the environment, so the token is on no command line) the
// input is the rotation's JSON.
func (s *stack) checkCodecServer(cs codecServer, user string) {
	s.t.Helper()
	show := []string{"workflow", "show", "--workflow-id", model.WorkflowID(account, user), "--output", "json", "--address", s.address, "--namespace", "default"}
	out, err := run(nil, tools.cli, show...)
	if err != nil {
		s.t.Fatalf("temporal workflow show: %v\n%s", err, out)
	}
	if enc, _, err := startInput(out); err != nil || enc != codecpkg.EncodingEncrypted {
		s.t.Fatalf("the rotation's input as the cluster stores it: encoding %q (%v), want %s", enc, err, codecpkg.EncodingEncrypted)
	}
	token, err := os.ReadFile(cs.tokenFile)
	if err != nil {
		s.t.Fatal(err)
	}
	env := []string{"TEMPORAL_CODEC_ENDPOINT=" + cs.url, "TEMPORAL_CODEC_AUTH=Bearer " + strings.TrimSpace(string(token))}
	out, err = run(env, tools.cli, show...)
	if err != nil {
		s.t.Fatalf("temporal workflow show through the codec server: %v\n%s", err, out)
	}
	enc, data, err := startInput(out)
	var in contract.RotateInput
	if err == nil {
		err = json.Unmarshal(data, &in)
	}
	if err != nil || enc != "json/plain" || in.Account != account || in.User != user {
		s.t.Fatalf("the codec server did not decode the rotation's input: encoding %q, input %+v (%v)\n%s", enc, in, err, cs.proc.tail(10))
	}
}

// startInput finds the workflow input in 'temporal workflow show --output
// json': its encoding and data.
func startInput(shown string) (encoding string, data []byte, err error) {
	var h struct {
		Events []struct {
			Started *struct {
				Input struct {
					Payloads []struct {
						Metadata map[string][]byte `json:"metadata"`
						Data     []byte            `json:"data"`
					} `json:"payloads"`
				} `json:"input"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(shown), &h); err != nil {
		return "", nil, err
	}
	if len(h.Events) == 0 || h.Events[0].Started == nil || len(h.Events[0].Started.Input.Payloads) != 1 {
		return "", nil, fmt.Errorf("no workflow input in the history")
	}
	p := h.Events[0].Started.Input.Payloads[0]
	return string(p.Metadata["encoding"]), p.Data, nil
}

// revokeWithCLI starts the user's rotation with the starter, waits for its
// one-hour grace period, and sends the README's revoke signal with the
// temporal CLI: the old key goes at once.
func (s *stack) revokeWithCLI(user string) {
	s.t.Helper()
	out, code := s.starter("rotate", "--config", s.cfgPath, "--user", user)
	if code != 0 {
		s.t.Fatalf("starter rotate: exit %d\n%s", code, out)
	}
	id := model.WorkflowID(account, user)
	var st contract.Status
	err := waitUntil(time.Minute, 200*time.Millisecond, func() error {
		var err error
		st, err = operator.Status(context.Background(), s.client, id)
		if err == nil && st.Phase != contract.PhaseGrace {
			err = fmt.Errorf("phase %s", st.Phase)
		}
		return err
	})
	if err != nil {
		s.t.Fatalf("rotation %s never reached its grace period: %v", id, err)
	}
	t0 := time.Now()
	s.cli("workflow", "signal", "--workflow-id", id, "--name", "revoke", "--input", `{"reason": "printed in build 1234"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err = operator.Wait(ctx, s.client, operator.Started{WorkflowID: id})
	if err != nil {
		s.t.Fatalf("rotation %s after the revoke: %v", id, err)
	}
	if d := time.Since(t0); d > 45*time.Second {
		s.t.Fatalf("the revoked rotation took %s to end: the revoke did not cut the one-hour grace period", d)
	}
	if len(st.Revocations) != 1 || st.Revocations[0].State != contract.RevocationDone || st.Revocations[0].Reason != "printed in build 1234" {
		s.t.Fatalf("revocations: %+v", st.Revocations)
	}
	s.checkRotated(user, st)
}

// syncAndTriggerSchedules syncs the schedules (one per rotation), checks a
// second sync changes nothing, then triggers the user's schedule and checks
// the rotation it started.
func (s *stack) syncAndTriggerSchedules(user string, rotations int) {
	s.t.Helper()
	out, code := s.starter("schedules", "sync", "--config", s.cfgPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d created, 0 updated, 0 deleted, 0 unchanged", rotations)) {
		s.t.Fatalf("starter schedules sync: exit %d\n%s", code, out)
	}
	out, code = s.starter("schedules", "sync", "--config", s.cfgPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("0 created, 0 updated, 0 deleted, %d unchanged", rotations)) {
		s.t.Fatalf("a second starter schedules sync: exit %d\n%s", code, out)
	}
	id := model.WorkflowID(account, user)
	out, code = s.starter("schedules", "trigger", "--config", s.cfgPath, "--user", user)
	if code != 0 || !strings.Contains(out, "schedule "+id+" triggered") {
		s.t.Fatalf("starter schedules trigger: exit %d\n%s", code, out)
	}
	var run *client.ScheduleWorkflowExecution
	err := waitUntil(time.Minute, 200*time.Millisecond, func() error {
		d, err := s.client.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
		if err != nil {
			return err
		}
		if len(d.Info.RecentActions) == 0 || d.Info.RecentActions[0].StartWorkflowResult == nil {
			return fmt.Errorf("schedule %s took no action", id)
		}
		run = d.Info.RecentActions[0].StartWorkflowResult
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := operator.ScheduledRunResult(ctx, s.client, run.WorkflowID, run.FirstExecutionRunID)
	if err != nil || !res.Started || res.WorkflowID != id {
		s.t.Fatalf("the scheduled run did not start rotation %s: %+v %v", id, res, err)
	}
	st, err := operator.Wait(ctx, s.client, operator.Started{WorkflowID: res.WorkflowID, RunID: res.RunID})
	if err != nil {
		s.t.Fatalf("scheduled rotation %s: %v", id, err)
	}
	s.checkRotated(user, st)
	out, code = s.starter("schedules", "list", "--config", s.cfgPath, "--user", user)
	if code != 0 || !strings.Contains(out, "started rotation "+id) {
		s.t.Fatalf("starter schedules list: exit %d\n%s", code, out)
	}
}
