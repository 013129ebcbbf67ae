package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/ratelimit"
	"github.com/keyrotor/keyrotor/worker/compose"
)

// TestFleetKeepsWithinTheGitHubQuota starts 200 rotations at once, each
// pushing to its own GitHub repository, against an emulator whose quota is
// scaled from 5,000 an hour to 200 every 5 seconds. The worker's limiter
// spreads the fleet over the windows: GitHub never refuses a call, and the
// fleet uses at least 90% of its budget (80% of the quota) in every window
// it keeps busy.
func TestFleetKeepsWithinTheGitHubQuota(t *testing.T) {
	const users, limit, budget = 200, 200, 0.8
	window := 5 * time.Second
	run := runQuotaFleet(t, users, limit, window)

	windows := run.windows
	allowed := int(limit * budget)
	calls := 0
	var used []int
	for i, w := range windows {
		calls += w.Used
		used = append(used, w.Used)
		require.Zero(t, w.Refused, "window %d refused %d calls: %+v", i, w.Refused, windows)
		require.LessOrEqual(t, w.Used, limit)
		// The first window starts with the fleet, the last ends with it:
		// the ones between must be kept busy.
		if i > 0 && i < len(windows)-1 {
			require.GreaterOrEqual(t, w.Used, allowed*9/10, "window %d used %d of the %d allowed: %+v", i, w.Used, allowed, windows)
		}
	}
	require.GreaterOrEqual(t, len(windows), 3, "the fleet should span several windows: %+v", windows)
	t.Logf("%d rotations in %s: %d GitHub calls (%.1f per target) over %d windows of %s; used per window %v (budget %d, quota %d)",
		users, run.elapsed.Round(time.Second), calls, float64(calls)/users, len(windows), window, used, allowed, limit)
}

// quotaRun is what runQuotaFleet saw: the fleet's wall time and the
// GitHub emulator's quota windows.
type quotaRun struct {
	elapsed time.Duration
	windows []githubemu.QuotaUsed
}

// runQuotaFleet starts a fleet of users rotations at once, each pushing to
// its own GitHub repository, against an emulator whose quota is scaled to
// limit calls a window (compose.GitHubQuota too, restored when tb ends),
// waits for all of them and checks each ended rotated.
// TestFleetKeepsWithinTheGitHubQuota and BenchmarkQuotaPacing share it.
func runQuotaFleet(tb testing.TB, users, limit int, window time.Duration) quotaRun {
	tb.Helper()
	saved := compose.GitHubQuota
	compose.GitHubQuota = ratelimit.Quota{Limit: limit, Window: window}
	tb.Cleanup(func() { compose.GitHubQuota = saved })

	fleet := map[string][]model.Target{}
	for i := range users {
		fleet[fmt.Sprintf("ci-%03d", i)] = []model.Target{{Kind: model.GitHubRepository, Repository: fmt.Sprintf("acme/repo-%03d", i)}}
	}
	r := newRig(tb, rigOptions{users: fleet, policy: zeroWaits(), noStart: true})
	r.emu.GitHub.SetQuota(limit, window)
	r.startWorker()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	type ended struct {
		user string
		st   contract.Status
		err  error
	}
	results := make(chan ended, users)
	for user := range fleet {
		rot, err := r.cfg.Rotation("", user)
		require.NoError(tb, err)
		started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
		require.NoError(tb, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := operator.Wait(ctx, r.client, started)
			results <- ended{user, st, err}
		}()
	}
	wg.Wait()
	close(results)
	elapsed := time.Since(began)
	for e := range results {
		require.NoError(tb, e.err, e.user)
		require.Equal(tb, contract.PhaseDone, e.st.Phase, "%s: %s", e.user, e.st.Error)
		r.requireRotated(e.user, e.st.NewKeyID, fleet[e.user])
	}
	return quotaRun{elapsed: elapsed, windows: r.emu.GitHub.QuotaHistory()}
}

// TestStatusSaysWhenAPushWaitsForQuota: once the budget of a GitHub quota
// window is spent, the next push's turn is minutes away; the push hands
// the wait to Temporal, and `starter status` says the target is waiting
// for GitHub quota, and until when.
func TestStatusSaysWhenAPushWaitsForQuota(t *testing.T) {
	const limit = 50 // 40 calls a window at the 80% budget
	window := 10 * time.Minute
	saved := compose.GitHubQuota
	compose.GitHubQuota = ratelimit.Quota{Limit: limit, Window: window}
	t.Cleanup(func() { compose.GitHubQuota = saved })
	first := model.Target{Kind: model.GitHubRepository, Repository: "acme/first"}
	second := model.Target{Kind: model.GitHubRepository, Repository: "acme/second"}
	r := newRig(t, rigOptions{users: map[string][]model.Target{"ci-first": {first}, "ci-second": {second}}, policy: zeroWaits(), noStart: true})
	r.emu.GitHub.SetQuota(limit, window)
	r.startWorker()

	st, err := rotate(t, r, "ci-first")
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	// Something else spends the token's quota down to keyrotor's reserve.
	for range limit - int(limit*(1-0.8)) - 4 {
		req, err := http.NewRequest(http.MethodGet, r.emu.GitHubURL+"repos/acme/first", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+r.emu.GitHubToken.Reveal())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	rot, err := r.cfg.Rotation("", "ci-second")
	require.NoError(t, err)
	started, err := operator.StartRotation(context.Background(), r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.client.CancelWorkflow(context.Background(), started.WorkflowID, "") })
	var out string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		out, _ = r.starter("status", "--config", r.cfgPath, "--user", "ci-second")
		if strings.Contains(out, "waiting for github quota until") || time.Now().After(deadline) {
			break
		}
	}
	require.Contains(t, out, "waiting for github quota until", "status never said the push waits for quota")
	require.Contains(t, out, "github acme/second")
	for _, w := range r.emu.GitHub.QuotaHistory() {
		require.Zero(t, w.Refused, "GitHub refused calls: %+v", r.emu.GitHub.QuotaHistory())
	}
}

// TestFleetKeepsWithinGitHubSecondaryLimits: GitHub also limits the points
// a minute's requests cost (a read 1, a write 5) and the requests at once.
// Scaled to 150 points every 2 s and 6 at once, and enforced by the
// emulator, a fleet of 30 rotations gets no refusal from a worker that
// keeps to them, while it keeps the windows busy; the same fleet from a
// worker that ignores them is refused (the control: the emulator enforces
// what the test claims to keep).
func TestFleetKeepsWithinGitHubSecondaryLimits(t *testing.T) {
	const points, concurrent = 150, 6
	window := 2 * time.Second
	run := func(t *testing.T, keep bool) githubemu.SecondaryUsed {
		fleet := map[string][]model.Target{}
		var users []string
		for i := range 30 {
			u := fmt.Sprintf("ci-%03d", i)
			users = append(users, u)
			fleet[u] = []model.Target{{Kind: model.GitHubRepository, Repository: "acme/sec-" + u}}
		}
		o := rigOptions{users: fleet, policy: zeroWaits()}
		if keep {
			o.githubSecondary = config.SecondaryLimits{Points: points, Window: window, Concurrent: concurrent}
		}
		r := newRig(t, o)
		r.emu.GitHub.SetSecondaryLimits(points, window, concurrent)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		fr := runFleet(ctx, t, r, users, 0)
		for _, u := range users {
			r.requireRotated(u, fr.status[u].NewKeyID, fleet[u])
		}
		used := r.emu.GitHub.SecondaryUsage()
		t.Logf("keeping to the limits %t: %s; refused %d, most points in a window %d of %d, most at once %d of %d",
			keep, fr.wall.Round(100*time.Millisecond), used.Refused, used.MaxPoints, points, used.MaxInFlight, concurrent)
		return used
	}
	kept := run(t, true)
	require.Zero(t, kept.Refused)
	require.LessOrEqual(t, kept.MaxInFlight, concurrent)
	require.GreaterOrEqual(t, kept.MaxPoints, points*6/10, "the fleet keeps a window busy")
	ignored := run(t, false)
	require.Positive(t, ignored.Refused, "without keeping to them, the emulator refuses")
}

// TestFleetRidesOutIAMThrottling: IAM throttles each account's requests.
// With the emulator's IAM scaled to 10 requests a second per account, a
// fleet of 20 rotations in two accounts, started at once, is throttled,
// and each account's client slows down to its rate (the SDK's adaptive
// retry mode): every rotation ends done.
func TestFleetRidesOutIAMThrottling(t *testing.T) {
	users, accounts := fleetUsers("iam", 20)
	r := newRig(t, rigOptions{users: users, userAccounts: accounts, policy: zeroWaits(), noStart: true})
	r.emu.AWS.SetIAMRate(10, time.Second)
	r.startWorker()
	var names []string
	for u := range users {
		names = append(names, u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fr := runFleet(ctx, t, r, names, 0)
	for _, u := range names {
		r.requireRotated(u, fr.status[u].NewKeyID, users[u])
	}
	throttled := r.emu.AWS.IAMThrottled()
	t.Logf("20 rotations in 2 accounts, IAM at 10 requests a second each: %s, %d IAM requests throttled", fr.wall.Round(100*time.Millisecond), throttled)
	require.Positive(t, throttled, "the fleet is faster than the rate: the emulator throttles")
}
