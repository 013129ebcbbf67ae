package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// fakeAccount is an in-memory IAM user plus CI targets that enforce the
// safety rules on every call: never a third key, never zero active keys once
// the rotation started, never deactivating before every target confirmed.
// (The activities themselves are tested against the emulators; here we test
// the orchestration.)
type fakeAccount struct {
	t  *testing.T
	mu sync.Mutex

	keys                 []model.AccessKey
	seq                  int
	confirmed            map[string]string // target -> key ID it holds
	targets              int
	lastUsed             func(now time.Time) *time.Time
	pushFail             map[string]error // target -> error to return
	allowEarlyDeactivate bool             // revoke with mode now may deactivate before the push ends
	deactivatedAt        time.Time        // workflow clock at the last deactivation
	// loseCreates makes that many CreateAccessKey calls create the key but
	// lose the result, as a crash or timeout after the call would.
	loseCreates int
	// pushDelay makes every push take that long (workflow time).
	pushDelay time.Duration
	// preflight are the targets' checks the preflight reports (none: all
	// fine).
	preflight []activities.TargetCheck
	calls     []string
}

func newFakeAccount(t *testing.T, targets int, keys ...string) *fakeAccount {
	f := &fakeAccount{t: t, confirmed: map[string]string{}, targets: targets, pushFail: map[string]error{}}
	for _, status := range keys {
		f.addKey(status)
	}
	return f
}

func (f *fakeAccount) addKey(status string) model.AccessKey {
	f.seq++
	k := model.AccessKey{ID: fmt.Sprintf("AKIAFAKE%012dEXAMPLE", f.seq)[:20], Status: status}
	f.keys = append(f.keys, k)
	return k
}

func (f *fakeAccount) call(name string) {
	f.calls = append(f.calls, name)
}

func (f *fakeAccount) active() int {
	n := 0
	for _, k := range f.keys {
		if k.Status == model.KeyActive {
			n++
		}
	}
	return n
}

func (f *fakeAccount) find(id string) *model.AccessKey {
	for i := range f.keys {
		if f.keys[i].ID == id {
			return &f.keys[i]
		}
	}
	return nil
}

func (f *fakeAccount) register(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(targetActs.PreflightTargets, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PreflightTargetsInput) (activities.PreflightTargetsResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("preflight")
			return activities.PreflightTargetsResult{Checks: append([]activities.TargetCheck(nil), f.preflight...)}, nil
		})
	env.OnActivity(iamActs.InspectKeys, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.InspectKeysInput) (activities.InspectKeysResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("inspect")
			if f.active() == 2 {
				return activities.InspectKeysResult{}, temporal.NewNonRetryableApplicationError("user "+in.User+" has two active keys", activities.TypeTwoActiveKeys, nil)
			}
			var res activities.InspectKeysResult
			kept := f.keys[:0]
			for _, k := range f.keys {
				if k.Status == model.KeyInactive {
					res.DeletedInactive = append(res.DeletedInactive, k.ID)
					continue
				}
				kept = append(kept, k)
				res.ActiveKey = &k
			}
			f.keys = kept
			return res, nil
		})
	env.OnActivity(iamActs.CreateAccessKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateAccessKeyInput) (activities.CreateAccessKeyResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("create")
			// Like the real activity: a key the workflow does not know is a
			// stray from an attempt whose result was lost.
			var res activities.CreateAccessKeyResult
			kept := f.keys[:0]
			for _, k := range f.keys {
				if !slices.Contains(in.KnownKeyIDs, k.ID) {
					res.DeletedStray = append(res.DeletedStray, k.ID)
					continue
				}
				kept = append(kept, k)
			}
			f.keys = kept
			require.Less(f.t, len(f.keys), 2, "a third key would be needed")
			k := f.addKey(model.KeyActive)
			if f.loseCreates > 0 {
				f.loseCreates--
				return activities.CreateAccessKeyResult{}, errors.New("create access key for ci-deployer: context deadline exceeded")
			}
			res.Key = model.SealedAccessKey{ID: k.ID, Secret: model.SealedSecret{KeyID: "k-test", Data: []byte("fake-sealed-secret")}}
			return res, nil
		})
	env.OnActivity(iamActs.VerifyAccessKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.VerifyAccessKeyInput) (activities.VerifyAccessKeyResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("verify")
			return activities.VerifyAccessKeyResult{ARN: "arn:aws:iam::123456789012:user/" + in.User}, nil
		})
	push := func(_ context.Context, in activities.PushInput) (activities.PushResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := in.Target.String()
		f.call("push " + name)
		if err := f.pushFail[name]; err != nil {
			return activities.PushResult{}, err
		}
		f.confirmed[name] = in.Key.ID
		return activities.PushResult{Target: name}, nil
	}
	env.OnActivity(targetActs.PushToTarget, mock.Anything, mock.Anything).Return(push).After(f.pushDelay)
	env.OnActivity(iamActs.GetAccessKeyLastUsed, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.KeyInput) (activities.KeyLastUsedResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("last-used")
			if f.lastUsed == nil {
				return activities.KeyLastUsedResult{}, nil
			}
			return activities.KeyLastUsedResult{LastUsed: f.lastUsed(env.Now()), Service: "s3"}, nil
		})
	env.OnActivity(iamActs.DeactivateAccessKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("deactivate " + in.AccessKeyID)
			f.deactivatedAt = env.Now()
			if !f.allowEarlyDeactivate {
				require.Len(f.t, f.confirmed, f.targets, "old key deactivated before every target confirmed")
			}
			k := f.find(in.AccessKeyID)
			require.NotNil(f.t, k)
			k.Status = model.KeyInactive
			if !f.allowEarlyDeactivate {
				require.GreaterOrEqual(f.t, f.active(), 1, "user left without an active key")
			}
			return activities.KeyChangeResult{}, nil
		})
	env.OnActivity(iamActs.ActivateAccessKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("activate " + in.AccessKeyID)
			k := f.find(in.AccessKeyID)
			require.NotNil(f.t, k)
			k.Status = model.KeyActive
			return activities.KeyChangeResult{}, nil
		})
	env.OnActivity(iamActs.DeleteAccessKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.call("delete " + in.AccessKeyID)
			if f.targets > 0 && len(f.keys) == 1 && f.keys[0].ID == in.AccessKeyID {
				require.Fail(f.t, "the user's last key would be deleted")
			}
			kept := f.keys[:0]
			for _, k := range f.keys {
				if k.ID != in.AccessKeyID {
					kept = append(kept, k)
				}
			}
			f.keys = kept
			return activities.KeyChangeResult{}, nil
		})
}

func testRotation(targets int) model.Rotation {
	all := []model.Target{
		{Kind: model.GitHubRepository, Repository: "acme/api"},
		{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"},
		{Kind: model.GitHubOrganization, Organization: "acme", Visibility: model.VisibilitySelected, Repositories: []string{"api", "web"}},
		{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
		{Kind: model.GitLabGroup, Group: "acme", EnvironmentScope: "*"},
	}
	p := model.DefaultPolicy
	return model.Rotation{Account: "prod", User: "ci-deployer", SecretNames: model.DefaultSecretNames, Targets: all[:targets], Policy: p}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(RotateAccessKey)
	env.RegisterWorkflowWithOptions(PushBatch, workflow.RegisterOptions{Name: PushBatchWorkflowName})
	env.RegisterActivity(configActs)
	env.RegisterActivity(iamActs)
	env.RegisterActivity(targetActs)
	return env
}

// finalStatus returns the report of a finished rotation, from its result or
// from the details of its failure.
func finalStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) (Status, error) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "error %v", err)
		require.Equal(t, TypeRotationFailed, app.Type())
		var s Status
		require.NoError(t, app.Details(&s))
		return s, err
	}
	var res RotateResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res.Status, nil
}

func TestRotateAccessKey(t *testing.T) {
	errUnauthorized := temporal.NewNonRetryableApplicationError("github acme/api: 401 Bad credentials", activities.TypeUnauthorized, nil)
	tests := []struct {
		name       string
		keys       []string
		targets    int
		pushFail   map[string]error
		verifyErr  error
		wantPhase  Phase
		wantKeys   int    // keys left
		wantCalls  string // substring of the call sequence
		avoidCalls string // must not appear in the call sequence
		wantErr    string
	}{
		{name: "full rotation", keys: []string{model.KeyActive}, targets: 5, wantPhase: PhaseDone, wantKeys: 1,
			wantCalls: "inspect,preflight,create,verify,push", avoidCalls: ""},
		{name: "user without a key gets one and nothing is retired", keys: nil, targets: 2, wantPhase: PhaseDone, wantKeys: 1,
			avoidCalls: "deactivate"},
		{name: "leftover inactive key is deleted first", keys: []string{model.KeyInactive, model.KeyActive}, targets: 1, wantPhase: PhaseDone, wantKeys: 1},
		{name: "two active keys stop before touching anything", keys: []string{model.KeyActive, model.KeyActive}, targets: 1,
			wantPhase: PhaseFailed, wantKeys: 2, avoidCalls: "create", wantErr: "two active keys"},
		{name: "a target failing for good keeps both keys active", keys: []string{model.KeyActive}, targets: 5,
			pushFail: map[string]error{"github acme/api": errUnauthorized}, wantPhase: PhaseFailed, wantKeys: 2,
			avoidCalls: "deactivate", wantErr: "1 of 5 targets failed"},
		{name: "a new key that fails verification is deleted", keys: []string{model.KeyActive}, targets: 2,
			verifyErr: temporal.NewNonRetryableApplicationError("new key signs as someone else", activities.TypeWrongIdentity, nil),
			wantPhase: PhaseFailed, wantKeys: 1, avoidCalls: "push", wantErr: "someone else"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, tc.targets, tc.keys...)
			for k, v := range tc.pushFail {
				f.pushFail[k] = v
			}
			if tc.verifyErr != nil {
				env.OnActivity(iamActs.VerifyAccessKey, mock.Anything, mock.Anything).Return(activities.VerifyAccessKeyResult{}, tc.verifyErr)
			}
			f.register(env)
			oldKeys := append([]model.AccessKey(nil), f.keys...)
			executeRotation(env, testRotation(tc.targets))
			s, err := finalStatus(t, env)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantPhase, s.Phase)
			require.Len(t, f.keys, tc.wantKeys)
			require.Equal(t, len(f.keys), f.active(), "every key left is active")
			calls := strings.Join(f.calls, ",")
			require.Contains(t, calls, tc.wantCalls)
			if tc.avoidCalls != "" {
				require.NotContains(t, calls, tc.avoidCalls)
			}
			if tc.wantPhase == PhaseDone {
				require.Equal(t, s.NewKeyID, f.keys[0].ID, "the new key is the one left")
				for _, ts := range s.Targets {
					require.Equal(t, TargetConfirmed, ts.State, ts.Target)
					require.Equal(t, s.NewKeyID, f.confirmed[ts.Target])
				}
				for _, k := range oldKeys {
					require.Nil(t, f.find(k.ID), "old key %s still exists", k.ID)
				}
			}
			for name := range tc.pushFail {
				require.Contains(t, failedNames(s), name)
			}
		})
	}
}

func failedNames(s Status) []string {
	var out []string
	for _, t := range s.FailedTargets() {
		out = append(out, t.Target)
	}
	return out
}

// The runbook order: deactivate only after the grace period, delete only
// after deleteAfter, with the status query showing each wait.
func TestRotateAccessKeyTimersAndStatus(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 5, model.KeyActive)
	f.register(env)
	r := testRotation(5)
	r.Policy.GracePeriod = 24 * time.Hour
	r.Policy.DeleteAfter = 72 * time.Hour
	start := env.Now()

	var sawGrace, sawWaitDelete bool
	check := func(at time.Duration) {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(StatusQuery)
			require.NoError(t, err)
			var s Status
			require.NoError(t, v.Get(&s))
			require.NotContains(t, fmt.Sprintf("%+v", s), "fake-sealed-secret", "status holds the (sealed) secret")
			switch s.Phase {
			case PhaseGrace:
				sawGrace = true
				require.NotEmpty(t, s.OldKeyID)
				require.NotEmpty(t, s.NewKeyID)
				require.NotNil(t, s.WaitUntil)
				require.Equal(t, "grace period", s.Waiting)
				require.NotContains(t, strings.Join(f.calls, ","), "deactivate")
				for _, ts := range s.Targets {
					require.Equal(t, TargetConfirmed, ts.State)
				}
			case PhaseWaitingToDelete:
				sawWaitDelete = true
				require.Contains(t, strings.Join(f.calls, ","), "deactivate")
				require.NotContains(t, strings.Join(f.calls, ","), "delete")
			}
		}, at)
	}
	check(12 * time.Hour)
	check(48 * time.Hour)
	executeRotation(env, r)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.True(t, sawGrace, "status never showed the grace period")
	require.True(t, sawWaitDelete, "status never showed the wait before deletion")
	require.Equal(t, PhaseDone, s.Phase)
	require.GreaterOrEqual(t, env.Now().Sub(start), 96*time.Hour)
}

// A pipeline still using the old key after the push holds the rotation
// instead of breaking it; proceed releases the hold.
func TestRotateAccessKeyHoldsWhileOldKeyIsUsed(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.lastUsed = func(now time.Time) *time.Time { return &now } // always just used
	f.register(env)
	r := testRotation(1)
	r.Policy.GracePeriod = time.Hour
	r.Policy.IdleRecheck = time.Hour
	r.Policy.IdleChecks = 3

	var held Status
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(StatusQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&held))
		env.SignalWorkflow(ProceedSignal, ProceedInput{Reason: "checked the pipelines by hand"})
	}, 30*time.Hour)
	executeRotation(env, r)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseHolding, held.Phase)
	require.Contains(t, held.HeldReason, "after the push")
	require.Equal(t, 3, strings.Count(strings.Join(f.calls, ","), "last-used"))
	require.Equal(t, PhaseDone, s.Phase)
	require.Len(t, f.keys, 1)
}

// A transient push error is retried; the rotation completes.
func TestRotateAccessKeyRetriesTransientPushErrors(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	attempts := 0
	env.OnActivity(targetActs.PushToTarget, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PushInput) (activities.PushResult, error) {
			attempts++
			if attempts < 3 {
				return activities.PushResult{}, errors.New("github acme/api: 502 Bad Gateway")
			}
			f.mu.Lock()
			f.confirmed[in.Target.String()] = in.Key.ID
			f.mu.Unlock()
			return activities.PushResult{Target: in.Target.String()}, nil
		}).Times(3)
	f.register(env)
	executeRotation(env, testRotation(1))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, 3, attempts)
	require.Equal(t, PhaseDone, s.Phase)
}

// proceed cuts a long grace period short.
func TestRotateAccessKeyProceedSkipsGrace(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.register(env)
	r := testRotation(1)
	r.Policy.GracePeriod = 30 * 24 * time.Hour
	r.Policy.DeleteAfter = 0
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(ProceedSignal, nil) }, time.Hour)
	executeRotation(env, r)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
	require.Less(t, env.Now().Sub(start), 2*time.Hour)
}

// A Create whose result was lost leaves a stray key; the retry removes it
// and the user never needs a third key.
func TestRotateAccessKeyLostCreateResult(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 2, model.KeyActive)
	f.loseCreates = 1
	f.register(env)
	executeRotation(env, testRotation(2))
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
	require.Len(t, f.keys, 1)
	require.Equal(t, s.NewKeyID, f.keys[0].ID)
	require.Equal(t, 2, strings.Count(strings.Join(f.calls, ","), "create"))
	var sawStray bool
	for _, e := range s.Timeline {
		sawStray = sawStray || strings.Contains(e.Message, "stray key")
	}
	require.True(t, sawStray, "the timeline records the stray key")
}

// executeRotation runs the rotation of r with r as the worker's configuration.
func executeRotation(env *testsuite.TestWorkflowEnvironment, r model.Rotation) {
	env.OnActivity(configActs.ResolveRotation, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveRotationInput) (activities.ResolveRotationResult, error) {
			return activities.ResolveRotationResult{Rotation: r}, nil
		})
	env.ExecuteWorkflow(RotateAccessKey, contract.NewRotateInput(r))
}

// A target the worker may not write fails the rotation before a key
// exists; a check that could not tell does not stop it.
func TestPreflightFailsBeforeAKeyExists(t *testing.T) {
	tests := []struct {
		name      string
		checks    []activities.TargetCheck
		wantPhase Phase
	}{
		{"denied", []activities.TargetCheck{{Target: "github acme/api", Denied: true, Detail: "cannot read the Actions secrets public key: 404 Not Found"}}, PhaseFailed},
		{"inconclusive", []activities.TargetCheck{{Target: "github acme/api", Detail: "cannot read the Actions secrets public key: connection reset"}}, PhaseDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 1, model.KeyActive)
			f.lastUsed = func(time.Time) *time.Time { return nil }
			f.preflight = tc.checks
			f.register(env)
			executeRotation(env, testRotation(1))
			s, _ := finalStatus(t, env)
			require.Equal(t, tc.wantPhase, s.Phase, s.Error)
			if tc.wantPhase == PhaseFailed {
				require.NotContains(t, strings.Join(f.calls, ","), "create", "no key is created")
				require.Contains(t, s.Error, "1 of 1 targets cannot be written (github acme/api); no key was created")
				require.Equal(t, TargetFailed, s.Targets[0].State)
				require.Contains(t, s.Targets[0].Error, "404 Not Found")
				require.Equal(t, 1, f.active(), "the user keeps its one key")
			}
		})
	}
}
