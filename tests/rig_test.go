// Package tests runs keyrotor end to end: the real worker code against a
// real Temporal dev server (started here, from the pinned CLI) and the
// emulators over real HTTP, driven by the real AWS, GitHub and GitLab clients.
package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/worker/compose"
)

var (
	codecKeyFile string         // the payload key the worker and starter processes get
	codecKeys    *codec.Keyring // the same, loaded
	devServer    *testsuite.DevServer
	tclient      client.Client // shared by the tests, quiet SDK logger
	binDir       string        // the worker, starter and demo binaries built for this run
	queueSeq     atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	var err error
	devServer, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer func() { _ = devServer.Stop() }()
	keyDir, err := os.MkdirTemp("", "keyrotor-codec-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(keyDir)
	codecKeyFile, codecKeys, err = devstack.NewCodecKey(keyDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	tclient, err = devstack.Dial(devServer, codecKeys, compose.WorkerInputs()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer tclient.Close()
	binDir, err = os.MkdirTemp("", "keyrotor-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	build := exec.Command("go", "build", "-o", binDir+"/", "../worker", "../starter", "../demo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tests: build binaries:", err)
		return 1
	}
	return m.Run()
}

// fastPolicy keeps every wait of a rotation to a few seconds.
func fastPolicy() model.RotationPolicy {
	p := model.DefaultPolicy
	p.GracePeriod = time.Second
	p.DeleteAfter = time.Second
	p.IdleRecheck = time.Second
	p.IdleChecks = 2
	return p
}

// rig is one test's world: emulators, a config, its own task queue.
type rig struct {
	t       testing.TB
	emu     *devstack.Emulators
	client  client.Client
	cfgPath string
	cfg     *config.Config
	oldKeys map[string]model.NewAccessKey
}

type rigOptions struct {
	users map[string][]model.Target
	// userAccounts puts users in other accounts than "demo" (user →
	// account), each reached through a role.
	userAccounts map[string]string
	policy       model.RotationPolicy
	noSeed       []model.Target // targets left out of the emulators (they will 404)
	noStart      bool           // do not start an in-process worker
	// githubApp authenticates to GitHub as an App instead of with a token.
	githubApp bool
	// extraYAML is appended to the generated configuration (top-level
	// sections such as notify).
	extraYAML string
	// githubSecondary are the GitHub secondary limits the worker keeps to
	// (zero: lifted).
	githubSecondary config.SecondaryLimits
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	if o.users == nil {
		o.users = map[string][]model.Target{"ci-deployer": devstack.DemoTargets()}
	}
	if o.policy == (model.RotationPolicy{}) {
		o.policy = fastPolicy()
	}
	emu := devstack.StartEmulators()
	t.Cleanup(emu.Close)
	r := &rig{t: t, emu: emu, client: tclient, oldKeys: map[string]model.NewAccessKey{}}
	for user, targets := range o.users {
		var seed []model.Target
		for _, tg := range targets {
			if !containsTarget(o.noSeed, tg) {
				seed = append(seed, tg)
			}
		}
		old, err := emu.SeedUser(user, seed)
		require.NoError(t, err)
		r.oldKeys[user] = old
	}
	queue := fmt.Sprintf("keyrotor-test-%d-%d", os.Getpid(), queueSeq.Add(1))
	spec := devstack.ConfigSpec{TaskQueue: queue, Users: o.users, UserAccounts: o.userAccounts, Policy: o.policy, GitHubSecondary: o.githubSecondary}
	if o.githubApp {
		app, err := emu.AddGitHubApp(t.TempDir(), 123456, 7890123)
		require.NoError(t, err)
		spec.GitHubApp = app
	}
	path, err := emu.WriteConfig(t.TempDir(), spec)
	require.NoError(t, err)
	if o.extraYAML != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(o.extraYAML)
		require.NoError(t, errors.Join(err, f.Close()))
	}
	r.cfgPath = path
	r.cfg, err = emu.LoadConfig(path)
	require.NoError(t, err)
	if !o.noStart {
		r.startWorker()
	}
	return r
}

func containsTarget(ts []model.Target, t model.Target) bool {
	for _, x := range ts {
		if x.String() == t.String() {
			return true
		}
	}
	return false
}

// startWorker runs the real worker in this process until the test ends (or
// the returned stop is called).
func (r *rig) startWorker() (stop func()) {
	r.t.Helper()
	w, err := compose.NewWorker(context.Background(), r.client, r.cfg, compose.Options{AWS: r.emu.AWSOptions(), Keys: codecKeys})
	require.NoError(r.t, err)
	require.NoError(r.t, w.Start())
	var stopped atomic.Bool
	stop = func() {
		if stopped.CompareAndSwap(false, true) {
			w.Stop()
		}
	}
	r.t.Cleanup(stop)
	return stop
}

// workerProcess starts the worker binary, as an operator would.
func (r *rig) workerProcess() *exec.Cmd {
	cmd, _ := r.workerProcessLogged()
	return cmd
}

// workerProcessLogged starts the worker binary and returns the file its
// output goes to.
func (r *rig) workerProcessLogged() (*exec.Cmd, string) {
	return r.workerBinary(nil)
}

// workerBinary starts the worker binary with the rig's config, the
// emulators' and the dev server's environment plus env, and extra flags;
// it returns the file its output goes to. It is killed when the test ends.
func (r *rig) workerBinary(env []string, args ...string) (*exec.Cmd, string) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "worker"), append([]string{"--config", r.cfgPath}, args...)...)
	cmd.Env = append(append(append(os.Environ(), r.emu.Env()...), temporalEnv()...), env...)
	logPath := filepath.Join(r.t.TempDir(), "worker.log")
	out, err := os.Create(logPath)
	require.NoError(r.t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(r.t, cmd.Start())
	r.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	})
	return cmd, logPath
}

// starter runs the starter binary and returns its output and exit code.
func (r *rig) starter(args ...string) (string, int) {
	return r.starterWithEnv(nil, args...)
}

// starterWithEnv runs the starter binary with extra environment variables.
func (r *rig) starterWithEnv(env []string, args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "starter"), args...)
	cmd.Env = append(append(os.Environ(), temporalEnv()...), env...)
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	require.NoError(r.t, err, string(out))
	return string(out), 0
}

// temporalEnv points a worker or starter process at the test server, with
// the payload key.
func temporalEnv() []string {
	return []string{
		"TEMPORAL_ADDRESS=" + devServer.FrontendHostPort(),
		"TEMPORAL_NAMESPACE=default",
		"KEYROTOR_CODEC_KEY_FILE=" + codecKeyFile,
	}
}

// stsWith signs GetCallerIdentity with the given key.
func (r *rig) stsWith(id, secret string) (string, error) { return r.emu.CallerARN(id, secret) }

// requireRotated checks the end state the product promises.
func (r *rig) requireRotated(user string, newKeyID string, targets []model.Target) {
	r.t.Helper()
	_, err := r.emu.CheckRotated(user, newKeyID, r.oldKeys[user], targets)
	require.NoError(r.t, err)
}

// failGitLabWrites makes every write to a GitLab scope ("groups/ghost",
// "projects/acme/api") answer as rule says, while reads still work: the
// rotation's read-only preflight passes, and the push fails.
func (r *rig) failGitLabWrites(scope string, rule faults.Rule) {
	for _, m := range []string{"PUT", "POST"} {
		rr := rule
		rr.Op = m + " /api/v4/" + scope + "/"
		r.emu.GitLab.Faults.Add(rr)
	}
}

// failGitHubWrites makes every secret write to a GitHub repository answer
// as rule says, while reads still work.
func (r *rig) failGitHubWrites(repo string, rule faults.Rule) {
	rule.Op = "PUT /repos/" + repo + "/actions/secrets/"
	r.emu.GitHub.Faults.Add(rule)
}
