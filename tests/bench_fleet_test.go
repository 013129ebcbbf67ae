package tests

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/ratelimit"
	"github.com/keyrotor/keyrotor/worker/compose"
)

// fleetEnv sets the fleet benchmark's size (users; 1,000 when unset).
const fleetEnv = "KEYROTOR_BENCH_FLEET"

// fleetWindowEnv sets how many of the fleet benchmark's rotations run at
// once (fleetWindow when unset; 0 starts them all at once).
const fleetWindowEnv = "KEYROTOR_BENCH_FLEET_WINDOW"

// fleetWindow keeps the two cores busy (one rotation alone is mostly
// waiting on round trips) while the server holds few open rotations: a
// fleet started all at once keeps every rotation's state in the server's
// and the worker's caches, and each wait for a result long-polls while its
// rotation runs. At 1,000 users, 50 at once took 32.1 s, all at once 35.9 s.
const fleetWindow = 50

// liftedQuota is far more calls than any benchmark makes in its window.
const liftedQuota = 1 << 30

// fleetTargets are user i's five targets, none shared with another user:
// three GitHub (a repository, an environment of it, an organization) and
// two GitLab (a project, a group).
func fleetTargets(i int) []model.Target {
	repo := fmt.Sprintf("acme/r-%d", i)
	return []model.Target{
		{Kind: model.GitHubRepository, Repository: repo},
		{Kind: model.GitHubEnvironment, Repository: repo, Environment: "production"},
		{Kind: model.GitHubOrganization, Organization: fmt.Sprintf("org-%d", i), Visibility: model.VisibilityPrivate},
		{Kind: model.GitLabProject, Project: fmt.Sprintf("acme/p-%d", i), EnvironmentScope: "production", Protected: true, Masked: true},
		{Kind: model.GitLabGroup, Group: fmt.Sprintf("g-%d", i), EnvironmentScope: "*", Masked: true},
	}
}

// liftQuotas makes the GitHub and GitLab quotas, the workers' assumed ones
// and the emulators', too large to pace anything (restored when tb ends).
func liftQuotas(tb testing.TB) {
	gh, gl := compose.GitHubQuota, compose.GitLabQuota
	compose.GitHubQuota = ratelimit.Quota{Limit: liftedQuota, Window: time.Hour}
	compose.GitLabQuota = ratelimit.Quota{Limit: liftedQuota, Window: time.Hour}
	tb.Cleanup(func() { compose.GitHubQuota, compose.GitLabQuota = gh, gl })
}

// zeroWaits is a policy with no grace or delete wait and no idle check.
func zeroWaits() model.RotationPolicy {
	p := model.DefaultPolicy
	p.GracePeriod, p.DeleteAfter, p.RequireOldKeyIdle = 0, 0, false
	return p
}

// fleetRun is what runFleet measured.
type fleetRun struct {
	wall    time.Duration
	started []operator.Started
	status  map[string]contract.Status // by user
}

// runFleet starts a rotation of every user and requires each to end done.
// With window 0 it starts them all at once (32 start requests in flight),
// then waits for all of them (64 waits in flight, in start order); with a
// window of N it keeps N running, starting the next as one ends, as
// `starter rotate --all --max-concurrent N` does.
func runFleet(ctx context.Context, tb testing.TB, r *rig, users []string, window int) fleetRun {
	tb.Helper()
	rots := make([]model.Rotation, len(users))
	for i, u := range users {
		rot, err := r.cfg.Rotation("", u)
		require.NoError(tb, err)
		rots[i] = rot
	}
	run := fleetRun{started: make([]operator.Started, len(users)), status: map[string]contract.Status{}}
	statuses := make([]contract.Status, len(users))
	errs := make([]error, len(users))
	start := func(i int) {
		run.started[i], errs[i] = operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rots[i])
	}
	wait := func(i int) {
		if errs[i] == nil {
			statuses[i], errs[i] = operator.Wait(ctx, r.client, run.started[i])
		}
	}
	began := time.Now()
	if window > 0 {
		parallel(window, len(users), func(i int) { start(i); wait(i) })
	} else {
		parallel(32, len(users), start)
		parallel(64, len(users), wait)
	}
	run.wall = time.Since(began)
	for i, err := range errs {
		require.NoError(tb, err, users[i])
		require.Equal(tb, contract.PhaseDone, statuses[i].Phase, "%s: %s", users[i], statuses[i].Error)
		run.status[users[i]] = statuses[i]
	}
	return run
}

// parallel calls f(0..n-1) from at most width goroutines, in order of i.
func parallel(width, n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(width, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// resetPeakRSS starts the kernel's peak resident set (VmHWM) over from
// the current one (Linux: 5 written to /proc/self/clear_refs).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is this process's peak resident set since resetPeakRSS, in
// bytes, from /proc/self/status (VmHWM); 0 where there is none.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// cpuUse is the CPU time, user and system, that this process and its
// Temporal dev server have used so far.
type cpuUse struct {
	self, server time.Duration
	hasServer    bool // the dev server's process was found
}

// clockTicks is Linux's unit of a process's times in /proc/<pid>/stat
// (USER_HZ, 100 on every architecture Go runs Linux on).
const clockTicks = 100

// readCPU reads this process's CPU time (getrusage) and that of its child
// named temporal, the dev server (from /proc/<pid>/stat: Linux only).
func readCPU() cpuUse {
	var use cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		use.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime ...: comm may hold spaces
		// and parentheses, so the fields are counted from its last ")".
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if s[open+1:end] != "temporal" || len(f) < 13 || f[1] != self {
			continue
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			use.server += time.Duration(utime+stime) * time.Second / clockTicks
			use.hasServer = true
		}
	}
	return use
}

// BenchmarkFleet rotates a fleet: 1,000 users (KEYROTOR_BENCH_FLEET sets
// another size) with five targets each, three GitHub and two GitLab, every
// one distinct, quotas lifted, zero waits, fleetWindow rotations at a time
// (KEYROTOR_BENCH_FLEET_WINDOW), on one in-process worker against the dev
// server. Each iteration is one fleet; it reports the
// fleet's wall time, rotations and targets a second, history events per
// rotation (a sample of 20), API calls per target by provider, the
// peak resident set of this process (VmHWM, reset before the fleet: the
// worker, the emulators holding every user, key and secret, and the
// client starting and waiting for the fleet), and, over the fleet, the CPU
// time per rotation of this process and of the dev server and how busy
// they kept the cores.
func BenchmarkFleet(b *testing.B) {
	n := 1000
	if v := os.Getenv(fleetEnv); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, fleetEnv)
	}
	users := make([]string, n)
	spec := map[string][]model.Target{}
	for i := range n {
		users[i] = fmt.Sprintf("fleet-%05d", i)
		spec[users[i]] = fleetTargets(i)
	}
	ghTargets, glTargets := 0, 0
	for _, t := range fleetTargets(0) {
		if t.Kind.Provider() == "github" {
			ghTargets++
		} else {
			glTargets++
		}
	}
	window := fleetWindow
	if v := os.Getenv(fleetWindowEnv); v != "" {
		var err error
		window, err = strconv.Atoi(v)
		require.NoError(b, err, fleetWindowEnv)
	}
	liftQuotas(b)
	// All at once, the whole fleet is open: the worker's workflow cache
	// (10,000 by default, shared by the process's workers and sized when
	// the first starts) must hold every rotation, or the ones evicted are
	// replayed from their histories on each workflow task.
	if window == 0 && n > 5000 {
		worker.SetStickyWorkflowCacheSize(n + 1000)
	}

	var wall, cpuSelf, cpuServer time.Duration
	hasServer := true
	var peak float64
	var gh, gl, aws, events, sampled int
	for range b.N {
		b.StopTimer()
		r := newRig(b, rigOptions{users: spec, policy: zeroWaits(), noStart: true})
		r.emu.GitHub.SetQuota(liftedQuota, time.Hour)
		r.emu.GitLab.SetQuota(liftedQuota, time.Hour)
		runtime.GC()
		resetPeakRSS()
		stop := r.startWorker()
		ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
		before := readCPU()
		b.StartTimer()
		run := runFleet(ctx, b, r, users, window)
		b.StopTimer()
		after := readCPU()
		cpuSelf += after.self - before.self
		cpuServer += after.server - before.server
		hasServer = hasServer && after.hasServer
		wall += run.wall
		peak = max(peak, peakRSS())
		gh += r.emu.GitHub.Faults.Total()
		gl += r.emu.GitLab.Faults.Total()
		aws += r.emu.AWS.Faults.Total()
		for i := 0; i < n; i += max(1, n/20) {
			events += historyLength(ctx, b, r, run.started[i])
			sampled++
			u := users[i]
			r.requireRotated(u, run.status[u].NewKeyID, spec[u])
		}
		cancel()
		stop()
		b.StartTimer()
	}
	fleets := float64(b.N)
	secs := wall.Seconds() / fleets
	b.ReportMetric(float64(n), "users")
	b.ReportMetric(float64(window), "at-once")
	b.ReportMetric(secs, "wall-s")
	b.ReportMetric(float64(n)/secs, "rotations/s")
	b.ReportMetric(float64(n*(ghTargets+glTargets))/secs, "targets/s")
	b.ReportMetric(float64(events)/float64(sampled), "history-events/rotation")
	b.ReportMetric(float64(gh)/(fleets*float64(n*ghTargets)), "github-calls/target")
	b.ReportMetric(float64(gl)/(fleets*float64(n*glTargets)), "gitlab-calls/target")
	b.ReportMetric(float64(aws)/(fleets*float64(n)), "aws-calls/rotation")
	b.ReportMetric(peak/(1<<20), "peak-rss-MiB")
	rotations := fleets * float64(n)
	b.ReportMetric(float64(cpuSelf.Microseconds())/1000/rotations, "test-cpu-ms/rotation")
	if hasServer {
		b.ReportMetric(float64(cpuServer.Microseconds())/1000/rotations, "server-cpu-ms/rotation")
		// How busy the fleet kept the machine's cores: with the CPU time
		// per rotation, this is the wall time apart from the machine's
		// speed (wall = CPU / (cores × busy)).
		busy := (cpuSelf + cpuServer).Seconds() / (wall.Seconds() * float64(runtime.NumCPU()))
		b.ReportMetric(100*busy, "cores-busy-%")
	}
}

// BenchmarkQuotaPacing is TestFleetKeepsWithinTheGitHubQuota's fleet (200
// rotations at once, GitHub's quota scaled to 300 calls every 5 seconds,
// keyrotor's budget 80% of it) as a benchmark: it reports the wall time,
// the share of the budget the fleet used in each full window (every window
// but the first and the last, which the fleet starts and ends in: their
// mean and their least; and the mean as a share of the quota) and GitHub's limit responses (refused calls), which
// must be none.
func BenchmarkQuotaPacing(b *testing.B) {
	const users, limit, budget = 200, 300, 0.8
	window := 5 * time.Second
	var wall time.Duration
	var share, least float64 = 0, math.Inf(1)
	full, refused := 0, 0
	for range b.N {
		run := runQuotaFleet(b, users, limit, window)
		wall += run.elapsed
		for i, w := range run.windows {
			refused += w.Refused
			if i > 0 && i < len(run.windows)-1 {
				s := float64(w.Used) / (limit * budget)
				share += s
				least = min(least, s)
				full++
			}
		}
	}
	require.Zero(b, refused, "GitHub refused calls")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
	if full > 0 {
		b.ReportMetric(100*share/float64(full), "budget-used-%/window")
		b.ReportMetric(100*least, "least-budget-used-%/window")
		b.ReportMetric(100*budget*share/float64(full), "quota-used-%/window")
	}
	b.ReportMetric(float64(full)/float64(b.N), "full-windows")
	b.ReportMetric(float64(refused), "limit-responses")
}

// cliEnv sets the size of BenchmarkCLIComparison (users; 200 when unset).
const cliEnv = "KEYROTOR_BENCH_CLI_USERS"

// cliScript rotates each user's keys as a shell script around the AWS CLI
// would: list the user's keys, delete each, create a new one and append it
// to a CSV file, one CLI process per call.
const cliScript = `#!/bin/bash
set -euo pipefail
csv=$1
shift
echo "user,access_key_id,secret_access_key" > "$csv"
for user in "$@"; do
  for id in $(aws --endpoint-url "$ENDPOINT" iam list-access-keys --user-name "$user" \
      --query 'AccessKeyMetadata[].AccessKeyId' --output text); do
    aws --endpoint-url "$ENDPOINT" iam delete-access-key --user-name "$user" --access-key-id "$id"
  done
  aws --endpoint-url "$ENDPOINT" iam create-access-key --user-name "$user" \
    --query 'AccessKey.[UserName,AccessKeyId,SecretAccessKey]' --output text | tr '\t' ',' >> "$csv"
done
`

// BenchmarkCLIComparison rotates the same users' keys, in the same IAM
// emulator, two ways: keyrotor's fleet (all at once, zero waits, each
// new key checked with STS and pushed to one GitHub repository), then the
// AWS CLI from a shell script, one user after another (cliScript), which
// neither checks nor pushes the key. It reports both wall times and their
// ratio. It skips where the AWS CLI is not installed.
func BenchmarkCLIComparison(b *testing.B) {
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		b.Skip("the AWS CLI (aws) is not installed: install it (apt-get install -y awscli) to compare keyrotor with a script around it")
	}
	n := 200
	if v := os.Getenv(cliEnv); v != "" {
		n, err = strconv.Atoi(v)
		require.NoError(b, err, cliEnv)
	}
	users := make([]string, n)
	spec := map[string][]model.Target{}
	for i := range n {
		users[i] = fmt.Sprintf("cli-%04d", i)
		spec[users[i]] = []model.Target{{Kind: model.GitHubRepository, Repository: fmt.Sprintf("acme/c-%d", i)}}
	}
	liftQuotas(b)
	script := filepath.Join(b.TempDir(), "rotate-keys.sh")
	require.NoError(b, os.WriteFile(script, []byte(cliScript), 0o700))

	var rotor, cli time.Duration
	for range b.N {
		b.StopTimer()
		r := newRig(b, rigOptions{users: spec, policy: zeroWaits(), noStart: true})
		r.emu.GitHub.SetQuota(liftedQuota, time.Hour)
		stop := r.startWorker()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		b.StartTimer()
		run := runFleet(ctx, b, r, users, 0)
		b.StopTimer()
		rotor += run.wall
		stop()
		cancel()

		csv := filepath.Join(b.TempDir(), "keys.csv")
		cmd := exec.Command("bash", append([]string{script, csv}, users...)...)
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(awsCLI)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"ENDPOINT="+r.emu.AWSURL,
			"AWS_ACCESS_KEY_ID="+r.emu.AdminKeyID,
			"AWS_SECRET_ACCESS_KEY="+r.emu.AdminSecret.Reveal(),
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_EC2_METADATA_DISABLED=true",
		)
		b.StartTimer()
		began := time.Now()
		out, err := cmd.CombinedOutput()
		cli += time.Since(began)
		b.StopTimer()
		require.NoError(b, err, string(out))

		// The CSV has a line per user, and its keys are live.
		data, err := os.ReadFile(csv)
		require.NoError(b, err)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
		require.Len(b, lines, n, string(data))
		for i, l := range lines {
			f := strings.Split(l, ",")
			require.Len(b, f, 3, l)
			require.Equal(b, users[i], f[0])
			require.NotEqual(b, run.status[users[i]].NewKeyID, f[1], "the script made a new key")
			if i%max(1, n/10) == 0 {
				_, err := r.stsWith(f[1], f[2])
				require.NoError(b, err, "the CSV's key for %s", f[0])
			}
		}
		b.StartTimer()
	}
	k := float64(b.N)
	b.ReportMetric(float64(n), "users")
	b.ReportMetric(rotor.Seconds()/k, "keyrotor-wall-s")
	b.ReportMetric(cli.Seconds()/k, "cli-script-wall-s")
	b.ReportMetric(cli.Seconds()/rotor.Seconds(), "cli/keyrotor")
}
