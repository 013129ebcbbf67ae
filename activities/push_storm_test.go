package activities

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// temporalLike runs a push activity in the SDK's test activity environment
// the way Temporal would under the workflow's retry policy: a retryable
// failure runs a new attempt, which sees the heartbeat details the failed
// one recorded last.
type temporalLike struct {
	t   *testing.T
	env *testsuite.TestActivityEnvironment

	mu         sync.Mutex
	details    *PushProgress // the last heartbeat of the current attempt
	heartbeats int
}

func newTemporalLike(t *testing.T, acts ...any) *temporalLike {
	var suite testsuite.WorkflowTestSuite
	tl := &temporalLike{t: t, env: suite.NewTestActivityEnvironment()}
	for _, a := range acts {
		tl.env.RegisterActivity(a)
	}
	tl.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var p PushProgress
		if err := d.Get(&p); err != nil {
			t.Errorf("heartbeat details: %v", err)
			return
		}
		tl.mu.Lock()
		defer tl.mu.Unlock()
		tl.details = &p
		tl.heartbeats++
	})
	return tl
}

// attemptResult is how one activity attempt ended.
type attemptResult struct {
	res PushResult
	err error
}

// run executes attempts of fn until one succeeds, one fails for good, or
// maxAttempts are spent; it returns every attempt's outcome.
func (tl *temporalLike) run(fn any, in PushInput, maxAttempts int) []attemptResult {
	tl.t.Helper()
	var out []attemptResult
	for range maxAttempts {
		tl.mu.Lock()
		if tl.details != nil {
			tl.env.SetHeartbeatDetails(*tl.details)
		}
		tl.mu.Unlock()
		val, err := tl.env.ExecuteActivity(fn, in)
		var r attemptResult
		if err == nil {
			if err := val.Get(&r.res); err != nil {
				tl.t.Fatal(err)
			}
			return append(out, r)
		}
		r.err = err
		out = append(out, r)
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.NonRetryable() {
			return out
		}
	}
	return out
}

// TestPushesRideOutAStorm pushes to one target of every kind while a third
// of GitHub's answers are 502s and a third of GitLab's are 429s with
// Retry-After: 1, with the production retry policy. Every push completes,
// almost always in its first attempt.
func TestPushesRideOutAStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps through rate limits")
	}
	rideOutStorm(t, 20261201)
}

// rideOutStorm pushes to every kind of target through the storm seed makes.
func rideOutStorm(t *testing.T, seed uint64) {
	gh := newGHEnv(t, nil)
	gh.emu.Faults.Add(faults.Random(1.0/3, seed, http.StatusBadGateway))
	gl := newGitLabTestEnv(t)
	gl.emu.Faults.Add(faults.RandomRetryAfter(1.0/3, seed, time.Second))

	ghTargets := []model.Target{repoTarget, envTarget,
		{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"api", "web"}}}
	glTargets := []model.Target{
		{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
		{Kind: model.GitLabGroup, Group: "acme", Masked: true},
	}
	rs := pushConfig(model.SecretNames{}, append(slices.Clone(ghTargets), glTargets...)...)
	ghAct := gh.activity(t, ghToken, 0, rs)
	ghAct.policy = defaultCallPolicy
	glAct := newGitLabActivity(t, gl.url, gitlabTestToken, rs)
	glAct.policy = defaultCallPolicy

	push := func(fn any, target model.Target, before int, total func() int) {
		t.Helper()
		tl := newTemporalLike(t, ghAct, glAct)
		start := time.Now()
		attempts := tl.run(fn, pushInputFor(target, mustSeal(ghKeyID, ghKeySecret)), 10)
		last := attempts[len(attempts)-1]
		if last.err != nil {
			t.Fatalf("%s: %d attempts, last: %v", target, len(attempts), last.err)
		}
		t.Logf("%-36s %d attempt(s), %2d calls sent, %2d in the successful attempt, %d heartbeats, %s",
			target, len(attempts), total()-before, last.res.Calls, tl.heartbeats, time.Since(start).Round(100*time.Millisecond))
	}
	for _, target := range ghTargets {
		push(ghAct.PushGitHubSecret, target, gh.emu.Faults.Total(), gh.emu.Faults.Total)
	}
	for _, target := range glTargets {
		push(glAct.PushGitLabVariable, target, gl.emu.Faults.Total(), gl.emu.Faults.Total)
	}
	for _, scope := range []string{"acme/api", "acme/web@production", "org:acme"} {
		assertStored(t, gh.emu, scope, "AWS_SECRET_ACCESS_KEY", ghKeySecret, time.Time{})
	}
	for _, scope := range []struct{ owner, env string }{{"project:acme/api", "production"}, {"group:acme", "*"}} {
		if v, ok := gl.emu.Variable(scope.owner, "AWS_SECRET_ACCESS_KEY", scope.env); !ok || v.Value != ghKeySecret {
			t.Errorf("%s does not hold the new secret", scope.owner)
		}
	}
	t.Logf("GitHub: %d calls in all, %v", gh.emu.Faults.Total(), gh.emu.Faults.Calls())
	t.Logf("GitLab: %d calls in all, %v", gl.emu.Faults.Total(), gl.emu.Faults.Calls())
}

// TestPushResumesFromHeartbeat: an attempt that ends after writing the key
// ID (a long rate limit on the second write) leaves its progress in the
// heartbeat; the next attempt writes only the secret and reads back (for
// GitHub with the public key the worker cached: 2 calls).
func TestPushResumesFromHeartbeat(t *testing.T) {
	gh := newGHEnv(t, nil)
	gh.emu.Faults.Add(faults.Rule{Op: "PUT /repos/acme/api/actions/secrets/AWS_SECRET_ACCESS_KEY", Status: 429, RetryAfter: time.Hour, Times: 1})
	gl := newGitLabTestEnv(t)
	gl.emu.Faults.Add(faults.Rule{Op: "AWS_SECRET_ACCESS_KEY", Status: 429, RetryAfter: time.Hour, Times: 1})
	glTarget := model.Target{Kind: model.GitLabGroup, Group: "acme"}
	rs := pushConfig(model.SecretNames{}, repoTarget, glTarget)
	ghAct, glAct := gh.activity(t, ghToken, 0, rs), newGitLabActivity(t, gl.url, gitlabTestToken, rs)

	tests := []struct {
		name       string
		fn         any
		target     model.Target
		calls      func() map[string]int
		firstWrite string
		wantCalls  int // of the second attempt
	}{
		{"github", ghAct.PushGitHubSecret, repoTarget, gh.emu.Faults.Calls, "PUT /repos/acme/api/actions/secrets/AWS_ACCESS_KEY_ID", 2},
		{"gitlab", glAct.PushGitLabVariable, glTarget, gl.emu.Faults.Calls, "PUT /api/v4/groups/acme/variables/AWS_ACCESS_KEY_ID", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTemporalLike(t, ghAct, glAct)
			attempts := tl.run(tt.fn, pushInputFor(tt.target, mustSeal(ghKeyID, ghKeySecret)), 3)
			if len(attempts) != 2 || attempts[1].err != nil {
				t.Fatalf("attempts: %+v", attempts)
			}
			var ae *temporal.ApplicationError
			if !errors.As(attempts[0].err, &ae) || ae.Type() != TypeRateLimited {
				t.Errorf("first attempt: %v", attempts[0].err)
			}
			if got := attempts[1].res.Calls; got != tt.wantCalls {
				t.Errorf("second attempt made %d calls, want %d: %v", got, tt.wantCalls, tt.calls())
			}
			if n := tt.calls()[tt.firstWrite]; n != 1 {
				t.Errorf("%s sent %d times, want once", tt.firstWrite, n)
			}
			if tl.details == nil || tl.details.KeyID != ghKeyID || !tl.details.wrote("AWS_ACCESS_KEY_ID") {
				t.Errorf("last heartbeat %+v", tl.details)
			}
		})
	}
}

// TestPushHeartbeatsWhileWaiting: a rate-limit wait slept in place
// heartbeats at the policy's interval, so a HeartbeatTimeout shorter than
// the wait does not kill the attempt.
func TestPushHeartbeatsWhileWaiting(t *testing.T) {
	gl := newGitLabTestEnv(t)
	gl.emu.Faults.Add(faults.Rule{Op: "PUT ", Status: 429, RetryAfter: 3 * time.Second, Times: 1})
	target := model.Target{Kind: model.GitLabGroup, Group: "acme"}
	act := newGitLabActivity(t, gl.url, gitlabTestToken, pushConfig(model.SecretNames{}, target))
	var (
		mu    sync.Mutex
		beats []time.Time
	)
	act.policy.heartbeat = 500 * time.Millisecond
	act.policy.record = func(context.Context, PushProgress) {
		mu.Lock()
		defer mu.Unlock()
		beats = append(beats, time.Now())
	}
	if _, err := act.PushGitLabVariable(context.Background(), pushInputFor(target, mustSeal(ghKeyID, ghKeySecret))); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].Sub(beats[i-1]); gap > 700*time.Millisecond {
			t.Errorf("no heartbeat for %s", gap)
		}
	}
	if len(beats) < 6 {
		t.Errorf("%d heartbeats during a 3s wait, want one every 500ms", len(beats))
	}
}

// TestPushWaitEndsWhenCancelled: an attempt sleeping through a rate limit
// stops as soon as Temporal cancels it (missed heartbeat, worker stopping).
func TestPushWaitEndsWhenCancelled(t *testing.T) {
	gl := newGitLabTestEnv(t)
	gl.emu.Faults.Add(faults.Rule{Op: "PUT ", Status: 429, RetryAfter: time.Minute})
	target := model.Target{Kind: model.GitLabGroup, Group: "acme"}
	act := newGitLabActivity(t, gl.url, gitlabTestToken, pushConfig(model.SecretNames{}, target))
	act.policy = defaultCallPolicy
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := act.PushGitLabVariable(ctx, pushInputFor(target, mustSeal(ghKeyID, ghKeySecret)))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("returned %v after %s", err, time.Since(start))
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.NonRetryable() {
		t.Errorf("cancelled wait is final: %v", err)
	}
}

// A cancel that arrives between the two writes of a key pair waits for the
// second: a target holding the new key ID with the old secret signs nothing.
// Before the fix the push stopped at the heartbeat after the first write.
func TestPushFinishesThePairWhenCancelled(t *testing.T) {
	gl := newGitLabTestEnv(t)
	// The secret's write is slow: the cancel lands after the key ID's.
	gl.emu.Faults.Add(faults.Rule{Op: "variables/AWS_SECRET_ACCESS_KEY", Delay: 600 * time.Millisecond, Times: 1})
	target := model.Target{Kind: model.GitLabGroup, Group: "acme"}
	act := newGitLabActivity(t, gl.url, gitlabTestToken, pushConfig(model.SecretNames{}, target))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := act.PushGitLabVariable(ctx, pushInputFor(target, mustSeal(ghKeyID, ghKeySecret)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancel is honoured once the pair is written, want context.Canceled; got %v", err)
	}
	for key, want := range map[string]string{"AWS_ACCESS_KEY_ID": ghKeyID, "AWS_SECRET_ACCESS_KEY": ghKeySecret} {
		if v, ok := gl.emu.Variable("group:acme", key, "*"); !ok || v.Value != want {
			t.Errorf("%s: the pair was torn by the cancel (present %t)", key, ok)
		}
	}
}
