package activities

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The IAM user whose key the push tests send, and its account.
const (
	pushAccount = "123456789012"
	pushUser    = "ci-deployer"
)

// testCallPolicy retries failed calls in place quickly, and sleeps through
// rate limits of up to 5s only, so the error tests see longer ones end the
// attempt with their NextRetryDelay.
var testCallPolicy = callPolicy{
	tries:     3,
	initial:   time.Millisecond,
	max:       5 * time.Millisecond,
	maxWait:   5 * time.Second,
	heartbeat: time.Second,
}

// pushConfig is a worker configuration that rotates pushUser's key into
// targets under names (the defaults when names is zero), and nothing else.
func pushConfig(names model.SecretNames, targets ...model.Target) testRotations {
	if names == (model.SecretNames{}) {
		names = model.DefaultSecretNames
	}
	return testRotations{{Account: pushAccount, User: pushUser, SecretNames: names, Targets: targets}}
}

// pushInputFor asks to push key into target for pushUser.
func pushInputFor(target model.Target, key model.SealedAccessKey) PushInput {
	return PushInput{Account: pushAccount, User: pushUser, Target: target, Key: key}
}

// TestPushRefusesUnconfiguredTarget checks a push naming a target, a user
// or an account the worker's configuration does not list is refused for
// good before any call reaches GitHub or GitLab: whoever can start a
// workflow must not be able to send a fresh key anywhere else.
func TestPushRefusesUnconfiguredTarget(t *testing.T) {
	configured := []model.Target{
		repoTarget,
		{Kind: model.GitLabProject, Project: "acme/api"},
	}
	tests := []struct {
		name   string
		target model.Target
		mutate func(*PushInput)
	}{
		{"other GitHub repository", model.Target{Kind: model.GitHubRepository, Repository: "attacker/loot"}, nil},
		{"GitHub environment of a configured repository", model.Target{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"}, nil},
		{"GitHub organization", model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "all"}, nil},
		{"other user", repoTarget, func(in *PushInput) { in.User = "someone-else" }},
		{"other account", repoTarget, func(in *PushInput) { in.Account = "210987654321" }},
		{"other GitLab project", model.Target{Kind: model.GitLabProject, Project: "attacker/loot"}, nil},
		{"GitLab project in another scope", model.Target{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production"}, nil},
		{"GitLab group", model.Target{Kind: model.GitLabGroup, Group: "acme"}, nil},
		{"other user on GitLab", configured[1], func(in *PushInput) { in.User = "someone-else" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := pushConfig(model.SecretNames{}, configured...)
			gh := newGHEnv(t, nil)
			gl := newGitLabTestEnvWith(t, rs)
			in := pushInputFor(tt.target, mustSeal(ghKeyID, ghKeySecret))
			if tt.mutate != nil {
				tt.mutate(&in)
			}
			var err error
			if strings.HasPrefix(string(tt.target.Kind), "github") {
				_, err = gh.activity(t, ghToken, 0, rs).PushGitHubSecret(context.Background(), in)
			} else {
				_, err = gl.act.PushGitLabVariable(context.Background(), in)
			}
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) || ae.Type() != TypeNotConfigured || !ae.NonRetryable() {
				t.Fatalf("want non-retryable %s, got %T %v", TypeNotConfigured, err, err)
			}
			if strings.Contains(err.Error(), ghKeySecret) {
				t.Fatalf("error shows the secret: %v", err)
			}
			if n := gh.emu.Faults.Total() + gl.emu.Faults.Total(); n != 0 {
				t.Errorf("%d calls reached the providers (%v %v), want none", n, gh.emu.Faults.Calls(), gl.emu.Faults.Calls())
			}
		})
	}
}

// slowCheckKind is a GitHub-repository kind whose check takes delay, or
// until its context ends.
type slowCheckKind struct{ delay time.Duration }

func (slowCheckKind) kinds() []model.TargetKind { return []model.TargetKind{model.GitHubRepository} }
func (slowCheckKind) push(context.Context, PushInput) (PushResult, error) {
	return PushResult{}, errors.New("not pushed")
}
func (k slowCheckKind) check(ctx context.Context, _ model.Target) TargetCheck {
	select {
	case <-time.After(k.delay):
		return TargetCheck{OK: true, Detail: "checked"}
	case <-ctx.Done():
		return TargetCheck{Detail: "not checked: " + ctx.Err().Error()}
	}
}
func (slowCheckKind) plan(model.Target, model.SecretNames) TargetPlan { return TargetPlan{} }

// A preflight whose checks cannot all finish before the activity's
// deadline answers in time with the ones that did, the rest unchecked
// (never denied): a thousand targets on a paced quota must not lose every
// check to the timeout.
func TestPreflightAnswersBeforeItsDeadline(t *testing.T) {
	var targets []model.Target
	for i := range 200 {
		targets = append(targets, model.Target{Kind: model.GitHubRepository, Repository: "acme/r" + strconv.Itoa(i)})
	}
	acts := NewTargetsFor(pushConfig(model.SecretNames{}, targets...), slowCheckKind{delay: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := acts.PreflightTargets(ctx, PreflightTargetsInput{Account: pushAccount, User: pushUser})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the preflight answered after its deadline")
	}
	checked, unchecked := 0, 0
	for _, c := range res.Checks {
		switch {
		case c.Denied:
			t.Fatalf("%s denied: %s", c.Target, c.Detail)
		case c.OK:
			checked++
		case strings.HasPrefix(c.Detail, "not checked"):
			unchecked++
		}
	}
	// 8 at a time, 100 ms each, for about 0.9 s: some 72 are done (the
	// bound leaves room for a slow machine), the rest left unchecked.
	if checked+unchecked != 200 || checked < 24 || unchecked < 100 {
		t.Errorf("%d checked, %d unchecked of 200", checked, unchecked)
	}
}
