//go:build linux

package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

const (
	account   = "cluster"
	taskQueue = "keyrotor"
	fleetSize = 50
)

// fleetUsers are the IAM users of the fleet, fleet-000 to fleet-049.
func fleetUsers() []string {
	users := make([]string, fleetSize)
	for i := range users {
		users[i] = fmt.Sprintf("fleet-%03d", i)
	}
	return users
}

// fleetTargets are a user's five targets, one of every kind, in scopes of
// its own (fleet-007/api, organization fleet-007, group fleet-007…): the
// rotations run at once, and each target must end up holding its own
// user's new key.
func fleetTargets(user string) []model.Target {
	repo := user + "/api"
	return []model.Target{
		{Kind: model.GitHubRepository, Repository: repo},
		{Kind: model.GitHubEnvironment, Repository: repo, Environment: "production"},
		{Kind: model.GitHubOrganization, Organization: user, Visibility: model.VisibilitySelected, Repositories: []string{"api", "web"}},
		{Kind: model.GitLabProject, Project: repo, EnvironmentScope: "production", Protected: true, Masked: true},
		{Kind: model.GitLabGroup, Group: user, EnvironmentScope: "*", Masked: true},
	}
}

// fleetPolicy has no waits: a fleet's time is the work itself. The idle
// check stays on (GetAccessKeyLastUsed is part of the runbook).
func fleetPolicy() model.RotationPolicy {
	p := model.DefaultPolicy
	p.GracePeriod, p.DeleteAfter = 0, 0
	p.IdleRecheck, p.IdleChecks = time.Second, 2
	return p
}

// stack is one Temporal server (the cluster, or a dev server to compare
// with) with its own emulators, a keyrotor configuration and the processes
// that run against it.
type stack struct {
	t       testing.TB
	address string
	dir     string
	keyFile string
	keys    *codec.Keyring
	client  client.Client
	emu     *devstack.Emulators
	cfgPath string
	cfg     *config.Config
	targets map[string][]model.Target
	// current is each user's key: the one its next rotation replaces.
	current map[string]model.NewAccessKey
	workers []*proc // every worker process started, for a failure's report
}

// newStack seeds the emulators with users and writes the configuration.
// overrides are per-rotation policies, as YAML flow maps (e.g.
// "{gracePeriod: 1h}"), keyed by user.
func newStack(t testing.TB, address string, users map[string][]model.Target, overrides map[string]string) *stack {
	t.Helper()
	s := &stack{t: t, address: address, dir: t.TempDir(), targets: users, current: map[string]model.NewAccessKey{}}
	var err error
	s.keyFile, s.keys, err = devstack.NewCodecKey(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	dc, fc := connect.ClientConverters(s.keys)
	s.client, err = client.Dial(client.Options{HostPort: address, Namespace: "default", Logger: quietLogger(), DataConverter: dc, FailureConverter: fc})
	if err != nil {
		t.Fatalf("dial %s: %v", address, err)
	}
	t.Cleanup(s.client.Close)
	s.emu = devstack.StartEmulators()
	t.Cleanup(s.emu.Close)
	for user, targets := range users {
		old, err := s.emu.SeedUser(user, targets)
		if err != nil {
			t.Fatal(err)
		}
		s.current[user] = old
	}
	yaml := s.emu.ConfigYAML(devstack.ConfigSpec{Account: account, TaskQueue: taskQueue, Users: users, Policy: fleetPolicy()})
	for user, policy := range overrides {
		entry := fmt.Sprintf("  - user: %s\n    account: %s\n", user, account)
		if strings.Count(yaml, entry) != 1 {
			t.Fatalf("no rotation of %s in the generated configuration", user)
		}
		yaml = strings.Replace(yaml, entry, entry+"    policy: "+policy+"\n", 1)
	}
	s.cfgPath = filepath.Join(s.dir, "keyrotor.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.cfg, err = s.emu.LoadConfig(s.cfgPath); err != nil {
		t.Fatal(err)
	}
	return s
}

// env is what a worker or starter process needs: the server, the payload
// key, and (for the worker) the emulators' endpoints and tokens.
func (s *stack) env(withEmulators bool) []string {
	env := []string{
		"TEMPORAL_ADDRESS=" + s.address,
		"TEMPORAL_NAMESPACE=default",
		"KEYROTOR_CODEC_KEY_FILE=" + s.keyFile,
	}
	if withEmulators {
		env = append(env, s.emu.Env()...)
	}
	return env
}

// startWorker starts the worker binary, as an operator would.
func (s *stack) startWorker(name string) *proc {
	s.t.Helper()
	p := startProc(s.t, name, filepath.Join(s.dir, name+".log"), procOptions{env: s.env(true)},
		filepath.Join(binDir, "worker"), "--config", s.cfgPath)
	s.workers = append(s.workers, p)
	return p
}

// workerTails is the end of every worker's output.
func (s *stack) workerTails(n int) string {
	var b strings.Builder
	for _, w := range s.workers {
		fmt.Fprintf(&b, "--- %s:\n%s\n", w.name, w.tail(n))
	}
	return b.String()
}

// startWorkers starts two worker processes. The first registers keyrotor's
// search attributes (the namespace has none yet); the second starts once
// they exist, so the two do not race to add them. It returns when both
// poll the task queue.
func (s *stack) startWorkers() (a, b *proc) {
	s.t.Helper()
	a = s.startWorker("worker-a")
	err := waitUntil(2*time.Minute, 200*time.Millisecond, func() error {
		a.requireRunning(s.t)
		return s.searchAttributesRegistered()
	})
	if err != nil {
		s.t.Fatalf("worker-a never registered the search attributes: %v\n%s", err, a.tail(30))
	}
	// Every service reads the namespace's attributes from its own cache,
	// refreshed every 2s (system.namespaceCacheRefreshInterval): wait until
	// the frontend takes them in a query, then one more refresh for the
	// history service, which checks the workflows' upserts.
	err = waitUntil(time.Minute, 200*time.Millisecond, func() error {
		_, err := s.countRotations(`KeyrotorUser = "nobody" AND KeyrotorAccount = "none" AND KeyrotorPhase = "none"`)
		return err
	})
	if err != nil {
		s.t.Fatalf("the frontend never took the search attributes: %v", err)
	}
	time.Sleep(2 * time.Second)
	b = s.startWorker("worker-b")
	err = waitUntil(2*time.Minute, 200*time.Millisecond, func() error {
		a.requireRunning(s.t)
		b.requireRunning(s.t)
		if n := s.pollers(); n < 2 {
			return fmt.Errorf("%d workers poll the task queue", n)
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("%s\n%s\n%s", err, a.tail(20), b.tail(20))
	}
	return a, b
}

func (s *stack) searchAttributesRegistered() error {
	resp, err := s.client.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		return err
	}
	for _, name := range contract.SearchAttributeNames {
		if resp.GetCustomAttributes()[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			return fmt.Errorf("search attribute %s is not registered", name)
		}
	}
	return nil
}

// pollers counts the distinct workers polling the workflow task queue.
func (s *stack) pollers() int {
	resp, err := s.client.DescribeTaskQueue(context.Background(), taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return 0
	}
	ids := map[string]bool{}
	for _, p := range resp.GetPollers() {
		ids[p.GetIdentity()] = true
	}
	return len(ids)
}

// starter runs the starter binary and returns its output and exit code.
func (s *stack) starter(args ...string) (string, int) {
	out, err := run(s.env(false), filepath.Join(binDir, "starter"), args...)
	if err != nil {
		if exit, ok := err.(interface{ ExitCode() int }); ok {
			return out, exit.ExitCode()
		}
		s.t.Fatalf("starter %s: %v", strings.Join(args, " "), err)
	}
	return out, 0
}

// cli runs the pinned temporal CLI against the stack's server, as an
// operator would from a runbook.
func (s *stack) cli(args ...string) string {
	s.t.Helper()
	args = append(args, "--address", s.address, "--namespace", "default")
	out, err := run(nil, tools.cli, args...)
	if err != nil {
		s.t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// progress counts, from the emulators' state, the users whose rotation
// made its new key, those whose rotation pushes it (a target holds it), and
// those whose rotation is over (one key left, not the one they started
// with). A push starts only once the workflow task that recorded the key's
// creation completed: from then on a worker's crash cannot lose the key.
func (s *stack) progress(users []string) (created, pushing, done int) {
	for _, u := range users {
		keys := s.emu.AWS.Keys(u)
		old := s.current[u].ID
		if slices.ContainsFunc(keys, func(k awsemu.KeyState) bool { return k.ID != old }) {
			created++
		}
		if slices.ContainsFunc(s.targets[u], func(t model.Target) bool {
			id, _ := s.emu.TargetValues(t, model.DefaultSecretNames)
			return id != "" && id != old
		}) {
			pushing++
		}
		if len(keys) == 1 && keys[0].ID != old {
			done++
		}
	}
	return created, pushing, done
}

// fleetRun is what a fleet of rotations did.
type fleetRun struct {
	started  time.Duration // until every rotation was started
	elapsed  time.Duration // until the last one ended
	ended    time.Time
	statuses map[string]contract.Status
}

func (f fleetRun) perSecond() float64 { return float64(len(f.statuses)) / f.elapsed.Seconds() }

// fleet starts the users' rotations at once and waits for all of them;
// watch, when set, is called every 20ms while they run, until it returns
// true. It checks every rotation ended done with the end state keyrotor
// promises (see checkRotated).
func (s *stack) fleet(users []string, watch func() bool) fleetRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := fleetRun{statuses: map[string]contract.Status{}}
	type result struct {
		st  contract.Status
		err error
	}
	results := make([]result, len(users))
	started := make([]operator.Started, len(users))
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			rot, err := s.cfg.Rotation("", u)
			if err == nil {
				started[i], err = operator.StartRotation(ctx, s.client, taskQueue, rot)
			}
			if err == nil && started[i].AlreadyRunning {
				err = fmt.Errorf("a rotation of %s was already running", u)
			}
			results[i].err = err
		})
	}
	wg.Wait()
	run.started = time.Since(t0)
	for i := range users {
		if results[i].err != nil {
			s.t.Fatalf("start: %v", results[i].err)
		}
	}
	finished, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for watch != nil {
			select {
			case <-finished:
				return
			case <-time.After(20 * time.Millisecond):
				if watch() {
					return
				}
			}
		}
	}()
	for i := range users {
		wg.Go(func() {
			results[i].st, results[i].err = operator.Wait(ctx, s.client, started[i])
		})
	}
	wg.Wait()
	run.ended = time.Now()
	run.elapsed = run.ended.Sub(t0)
	close(finished)
	<-watched // watch reads what the checks below change
	var failed []string
	for i, u := range users {
		if results[i].err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v (phase %s)", u, results[i].err, results[i].st.Phase))
		}
		run.statuses[u] = results[i].st
	}
	if len(failed) > 0 {
		s.t.Fatalf("%d of %d rotations failed:\n%s\n%s", len(failed), len(users), strings.Join(failed, "\n"), s.workerTails(15))
	}
	for _, u := range users {
		s.checkRotated(u, run.statuses[u])
	}
	return run
}

// checkRotated checks a finished rotation against the emulators: it ended
// done, it replaced the user's key, the user has exactly one key (the new
// one, active), every target holds it with the same secret, STS accepts it
// and refuses the old one. The new key becomes the user's current key.
func (s *stack) checkRotated(user string, st contract.Status) {
	s.t.Helper()
	old := s.current[user]
	if st.Phase != contract.PhaseDone {
		s.t.Fatalf("rotation of %s ended %s: %s", user, st.Phase, st.Error)
	}
	if st.OldKeyID != old.ID {
		s.t.Fatalf("rotation of %s replaced %s; the user's key was %s", user, st.OldKeyID, old.ID)
	}
	if _, err := s.emu.CheckRotated(user, st.NewKeyID, old, s.targets[user]); err != nil {
		s.t.Fatal(err)
	}
	for _, ts := range st.Targets {
		if ts.State != contract.TargetConfirmed {
			s.t.Fatalf("rotation of %s: target %s is %s", user, ts.Target, ts.State)
		}
	}
	id, secret := s.emu.TargetValues(s.targets[user][0], model.DefaultSecretNames)
	s.current[user] = model.NewAccessKey{ID: id, Secret: model.Secret(secret)}
}

// countRotations counts the runs visibility lists for a query (eventually
// consistent, like every visibility read).
func (s *stack) countRotations(query string) (int64, error) {
	resp, err := s.client.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// quietLogger reports only the SDK's warnings and errors.
func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
