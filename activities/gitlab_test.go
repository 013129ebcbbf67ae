package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/gitlabemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	gitlabTestToken = "glpat-keyrotor-test"
	gitlabTestKeyID = "AKIAIOSFODNN7EXAMPLE"
	// A real-looking AWS secret: Base64 with "/" and "+".
	gitlabTestSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// gitlabTestEnv is an emulator with project acme/api and group acme, and the
// activity talking to it through the production client constructor.
type gitlabTestEnv struct {
	emu *gitlabemu.Emulator
	url string
	act *GitLab
}

// newGitLabTestEnv serves the emulator; the activity's worker
// configuration rotates the key into targets under the default names.
func newGitLabTestEnv(t *testing.T, targets ...model.Target) *gitlabTestEnv {
	t.Helper()
	return newGitLabTestEnvWith(t, pushConfig(model.SecretNames{}, targets...))
}

// newGitLabTestEnvWith is newGitLabTestEnv with the worker configuration rs.
func newGitLabTestEnvWith(t *testing.T, rs Rotations) *gitlabTestEnv {
	t.Helper()
	emu := gitlabemu.New(gitlabTestToken)
	emu.AddGroup("acme")
	emu.AddProject("acme/api")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return &gitlabTestEnv{emu: emu, url: srv.URL, act: newGitLabActivity(t, srv.URL, gitlabTestToken, rs)}
}

func newGitLabActivity(t *testing.T, url, token string, rs Rotations) *GitLab {
	t.Helper()
	c, err := clients.NewGitLabClient(url, model.Secret(token))
	if err != nil {
		t.Fatal(err)
	}
	act := NewGitLab(c, testSealer(), rs)
	act.policy = testCallPolicy
	return act
}

func gitlabInput(target model.Target) PushInput {
	return pushInputFor(target, mustSeal(gitlabTestKeyID, gitlabTestSecret))
}

// gitlabAppError asserts err is an ApplicationError of the given type,
// retryable or not, naming the target and leaking neither secret nor token.
func gitlabAppError(t *testing.T, err error, in PushInput, wantType string, wantNonRetryable bool) *temporal.ApplicationError {
	t.Helper()
	gitlabNoLeak(t, err, in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not an ApplicationError", err, err)
	}
	if appErr.Type() != wantType || appErr.NonRetryable() != wantNonRetryable {
		t.Fatalf("error type %q nonRetryable=%v, want %q nonRetryable=%v (%v)",
			appErr.Type(), appErr.NonRetryable(), wantType, wantNonRetryable, err)
	}
	return appErr
}

// gitlabNoLeak asserts err names the target and carries no secret, token or URL.
func gitlabNoLeak(t *testing.T, err error, in PushInput) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	if !strings.Contains(msg, in.Target.String()) {
		t.Errorf("error %q does not name target %q", msg, in.Target.String())
	}
	for _, leak := range []string{gitlabTestSecret, gitlabTestToken, "http://"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q contains %q", msg, leak)
		}
	}
}

func TestGitLabPushCreatesVariables(t *testing.T) {
	tests := []struct {
		name      string
		target    model.Target
		scope     string // emulator scope
		envScope  string
		wantCalls int
	}{
		{
			name:   "project default scope",
			target: model.Target{Kind: model.GitLabProject, Project: "acme/api"},
			scope:  "project:acme/api", envScope: "*",
		},
		{
			name:   "project environment scope, protected and masked",
			target: model.Target{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
			scope:  "project:acme/api", envScope: "production",
		},
		{
			name:   "project by numeric ID",
			target: model.Target{Kind: model.GitLabProject, Project: "1", Masked: true},
			scope:  "project:acme/api", envScope: "*",
		},
		{
			name:   "group with wildcard scope",
			target: model.Target{Kind: model.GitLabGroup, Group: "acme", EnvironmentScope: "review/*", Masked: true, Protected: true},
			scope:  "group:acme", envScope: "review/*",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGitLabTestEnv(t, tt.target)
			res, err := env.act.PushGitLabVariable(context.Background(), gitlabInput(tt.target))
			if err != nil {
				t.Fatal(err)
			}
			// Each variable: update (404) + create, then one read-back of both.
			if res.Calls != 5 || env.emu.Faults.Total() != 5 {
				t.Errorf("calls = %d (emulator saw %d), want 5: %v", res.Calls, env.emu.Faults.Total(), env.emu.Faults.Calls())
			}
			if res.Target != tt.target.String() || res.ConfirmedAt.IsZero() {
				t.Errorf("result = %+v", res)
			}
			gitlabAssertHolds(t, env.emu, tt.scope, tt.envScope, tt.target)
			if n := len(env.emu.Variables(tt.scope)); n != 2 {
				t.Errorf("%s holds %d variables, want 2", tt.scope, n)
			}
		})
	}
}

// gitlabAssertHolds checks the emulator holds exactly the new key with the target's flags.
func gitlabAssertHolds(t *testing.T, emu *gitlabemu.Emulator, scope, envScope string, target model.Target) {
	t.Helper()
	want := map[string]string{"AWS_ACCESS_KEY_ID": gitlabTestKeyID, "AWS_SECRET_ACCESS_KEY": gitlabTestSecret}
	for key, value := range want {
		v, ok := emu.Variable(scope, key, envScope)
		if !ok {
			t.Fatalf("%s has no %s in scope %s", scope, key, envScope)
		}
		if v.Value != value || v.Masked != target.Masked || v.Protected != target.Protected || !v.Raw || v.VariableType != "env_var" {
			t.Errorf("%s = %+v, want value %q masked=%v protected=%v raw", key, v, value, target.Masked, target.Protected)
		}
	}
}

func TestGitLabPushUpdatesExisting(t *testing.T) {
	target := model.Target{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Masked: true}
	env := newGitLabTestEnv(t, target)
	// Values from the previous rotation, plus the same keys in another scope
	// that must not be touched.
	for _, scope := range []string{"production", "staging"} {
		for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if err := env.emu.SetVariable("project:acme/api", gitlabemu.Variable{
				Key: key, Value: "old-value-" + scope, EnvironmentScope: scope, Protected: true,
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	res, err := env.act.PushGitLabVariable(context.Background(), gitlabInput(target))
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 3 {
		t.Errorf("calls = %d, want 3 (one update per variable, one read-back)", res.Calls)
	}
	calls := env.emu.Faults.Calls()
	for op, want := range map[string]int{
		"PUT /api/v4/projects/acme/api/variables/AWS_ACCESS_KEY_ID":     1,
		"PUT /api/v4/projects/acme/api/variables/AWS_SECRET_ACCESS_KEY": 1,
		"GET /api/v4/projects/acme/api/variables":                       1,
	} {
		if calls[op] != want {
			t.Errorf("%s called %d times, want %d (all: %v)", op, calls[op], want, calls)
		}
	}
	// The flags follow the configuration: protected is turned off, masked on.
	gitlabAssertHolds(t, env.emu, "project:acme/api", "production", target)
	if v, _ := env.emu.Variable("project:acme/api", "AWS_SECRET_ACCESS_KEY", "staging"); v.Value != "old-value-staging" {
		t.Errorf("staging scope changed: %+v", v)
	}

	// A retry of the same attempt is a plain update again.
	res, err = env.act.PushGitLabVariable(context.Background(), gitlabInput(target))
	if err != nil || res.Calls != 3 {
		t.Fatalf("second push: calls %d, err %v", res.Calls, err)
	}
}

func TestGitLabPushRejectsBeforeCalling(t *testing.T) {
	project := model.Target{Kind: model.GitLabProject, Project: "acme/api", Masked: true}
	tests := []struct {
		name     string
		mutate   func(*PushInput, *model.SecretNames)
		wantType string
		wantIn   string
	}{
		{"secret with whitespace", func(in *PushInput, _ *model.SecretNames) { in.Key = mustSeal(in.Key.ID, "abcd efgh ijkl") }, TypeUnmaskable, "AWS_SECRET_ACCESS_KEY"},
		{"secret with newline", func(in *PushInput, _ *model.SecretNames) { in.Key = mustSeal(in.Key.ID, "abcdefgh\nijkl") }, TypeUnmaskable, "AWS_SECRET_ACCESS_KEY"},
		{"key ID too short", func(in *PushInput, _ *model.SecretNames) { in.Key = mustSeal("AKIA", gitlabTestSecret) }, TypeUnmaskable, "AWS_ACCESS_KEY_ID"},
		{"invalid variable name", func(_ *PushInput, n *model.SecretNames) { n.AccessKeyID = "AWS-KEY" }, TypeValidation, "AWS-KEY"},
		{"same names", func(_ *PushInput, n *model.SecretNames) { n.SecretAccessKey = n.AccessKeyID }, TypeValidation, "different"},
		{"no project", func(in *PushInput, _ *model.SecretNames) { in.Target.Project = "" }, TypeValidation, "not a GitLab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gitlabInput(project)
			names := model.DefaultSecretNames
			tt.mutate(&in, &names)
			env := newGitLabTestEnvWith(t, pushConfig(names, in.Target))
			_, err := env.act.PushGitLabVariable(context.Background(), in)
			gitlabAppError(t, err, in, tt.wantType, true)
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}
			if strings.Contains(err.Error(), openTestKey(t, in.Key).Secret.Reveal()) {
				t.Errorf("error %q contains the secret", err)
			}
			if n := env.emu.Faults.Total(); n != 0 {
				t.Errorf("%d calls made, want none", n)
			}
		})
	}
}

func TestGitLabPushErrors(t *testing.T) {
	project := model.Target{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Masked: true}
	tests := []struct {
		name         string
		target       model.Target
		token        string
		rule         *faults.Rule
		wantType     string // "" for a plain retryable error
		nonRetryable bool
		wantDelay    time.Duration
		wantIn       string
	}{
		{name: "unknown token", target: project, token: "glpat-wrong", wantType: TypeUnauthorized, nonRetryable: true, wantIn: "401"},
		{name: "developer token", target: project, token: "glpat-developer", wantType: TypeUnauthorized, nonRetryable: true, wantIn: "403"},
		{name: "missing project", target: model.Target{Kind: model.GitLabProject, Project: "acme/nope"}, wantType: TypeNotFound, nonRetryable: true, wantIn: "project not found"},
		{name: "missing group", target: model.Target{Kind: model.GitLabGroup, Group: "nope"}, wantType: TypeNotFound, nonRetryable: true, wantIn: "group not found"},
		{
			name: "rate limited with Retry-After", target: project,
			rule:     &faults.Rule{Op: "PUT ", Status: 429, RetryAfter: 17 * time.Second},
			wantType: TypeRateLimited, wantDelay: 17 * time.Second, wantIn: "429",
		},
		{
			name: "rate limited with RateLimit-Reset", target: project,
			rule:     &faults.Rule{Op: "PUT ", Status: 429, Header: http.Header{"Ratelimit-Reset": {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}}},
			wantType: TypeRateLimited, wantDelay: time.Minute, wantIn: "429",
		},
		{
			name: "server unavailable", target: project,
			rule:   &faults.Rule{Op: "PUT ", Status: 503},
			wantIn: "HTTP 503",
		},
		{
			name: "value refused by GitLab", target: project,
			// The update finds nothing, so the create carries the value and is refused.
			rule:     &faults.Rule{Op: "POST ", Status: 400, Body: `{"message":{"value":["is invalid"]}}`},
			wantType: TypeUnmaskable, nonRetryable: true, wantIn: "value is invalid",
		},
		{
			name: "server echoes the secret", target: project,
			rule:     &faults.Rule{Op: "PUT ", Status: 400, Body: `{"message":{"value":["` + gitlabTestSecret + ` is invalid"]}}`},
			wantType: TypeUnmaskable, nonRetryable: true, wantIn: "[REDACTED]",
		},
		{
			name: "other validation error", target: project,
			rule:     &faults.Rule{Op: "PUT ", Status: 400, Body: `{"message":{"environment_scope":["is invalid"]}}`},
			wantType: TypeUnprocessable, nonRetryable: true, wantIn: "environment_scope is invalid",
		},
		{
			name: "taken on create, gone on update", target: project,
			rule:   &faults.Rule{Op: "POST ", Status: 400, Body: `{"message":{"key":["(AWS_ACCESS_KEY_ID) has already been taken"]}}`},
			wantIn: "appeared and disappeared",
		},
		{
			name: "read-back shows another value", target: project,
			rule: &faults.Rule{Op: "GET ", Status: 200, Body: `[{"key":"AWS_ACCESS_KEY_ID","value":"AKIAOTHER0000000000","masked":true,` +
				`"protected":false,"raw":true,"environment_scope":"production","variable_type":"env_var"}]`},
			wantType: TypeNotConfirmed, wantIn: "does not hold the new value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGitLabTestEnv(t, tt.target)
			env.emu.AddToken("glpat-developer", gitlabemu.Developer)
			act := env.act
			if tt.token != "" {
				act = newGitLabActivity(t, env.url, tt.token, pushConfig(model.SecretNames{}, tt.target))
			}
			if tt.rule != nil {
				env.emu.Faults.Add(*tt.rule)
			}
			in := gitlabInput(tt.target)
			_, err := act.PushGitLabVariable(context.Background(), in)
			if err == nil {
				t.Fatal("push succeeded")
			}
			if tt.wantType == "" {
				gitlabNoLeak(t, err, in)
				var appErr *temporal.ApplicationError
				if errors.As(err, &appErr) && appErr.NonRetryable() {
					t.Fatalf("error %v is non-retryable", err)
				}
			} else {
				appErr := gitlabAppError(t, err, in, tt.wantType, tt.nonRetryable)
				if d := appErr.NextRetryDelay(); d < tt.wantDelay-2*time.Second || d > tt.wantDelay {
					t.Errorf("NextRetryDelay = %s, want %s", d, tt.wantDelay)
				}
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}
			// client-go must not retry by itself: a 5xx is tried as often as
			// the policy says, a rate limit longer than it sleeps through once.
			want := 1
			if tt.rule != nil && tt.rule.Status >= 500 {
				want = testCallPolicy.tries
			}
			if tt.rule != nil && tt.rule.Status >= 429 && env.emu.Faults.Total() != want {
				t.Errorf("%d calls, want %d: %v", env.emu.Faults.Total(), want, env.emu.Faults.Calls())
			}
		})
	}
}

func TestGitLabPushTimeoutIsRetryable(t *testing.T) {
	in := gitlabInput(model.Target{Kind: model.GitLabGroup, Group: "acme"})
	env := newGitLabTestEnv(t, in.Target)
	env.emu.Faults.Add(faults.Rule{Op: "PUT ", Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := env.act.PushGitLabVariable(ctx, in)
	gitlabNoLeak(t, err, in)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Errorf("timeout is non-retryable: %v", err)
	}
}

// The activity's pre-check must agree with the emulator's model of GitLab
// for raw variables, which is what the activity writes.
func TestGitLabMaskableMatchesGitLab(t *testing.T) {
	for _, v := range []string{gitlabTestSecret, gitlabTestKeyID, "1234567", "12345678", "abcd 1234", "abcd1234\n", "abcd1234$!", "ab\vcd1234", "ünïcödé!"} {
		if got, want := gitlabMaskable(v), gitlabemu.Maskable(v, true); got != want {
			t.Errorf("gitlabMaskable(%q) = %v, GitLab says %v", v, got, want)
		}
	}
}

// TestGitLabRidesOutFailures checks a failed call is repeated in place
// when that can help, and that a create whose answer was lost (GitLab made
// the variable, the client never heard) ends as an update, not a failure.
func TestGitLabRidesOutFailures(t *testing.T) {
	target := model.Target{Kind: model.GitLabGroup, Group: "acme", Masked: true}
	tests := []struct {
		name      string
		rule      faults.Rule
		wantCalls int
		wantType  string // "" for success
		wantDelay time.Duration
	}{
		{name: "502 once", rule: faults.Rule{Op: "POST ", Status: 502, Times: 1}, wantCalls: 6},
		{name: "timeout once", rule: faults.Rule{Op: "GET ", Delay: 2 * time.Second, Times: 1}, wantCalls: 6},
		{name: "429 with a short Retry-After", rule: faults.Rule{Op: "PUT ", Status: 429, RetryAfter: time.Second, Times: 1}, wantCalls: 6},
		// update 404, create lost, create again: taken, update: 4 calls for the first variable.
		{name: "create answer lost", rule: faults.Rule{Op: "POST ", Status: 502, LoseResult: true, Times: 1}, wantCalls: 7},
		{name: "429 with a long Retry-After", rule: faults.Rule{Op: "PUT ", Status: 429, RetryAfter: time.Minute, Times: 1},
			wantCalls: 1, wantType: TypeRateLimited, wantDelay: time.Minute},
		{name: "403 is not repeated", rule: faults.Rule{Op: "PUT ", Status: 403, Times: 1}, wantCalls: 1, wantType: TypeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGitLabTestEnv(t)
			// The worker's client, with its 30s timeout shortened so a hung
			// call is a quick test.
			c, err := gitlab.NewClient(gitlabTestToken, gitlab.WithBaseURL(env.url), gitlab.WithoutRetries(),
				gitlab.WithHTTPClient(&http.Client{Timeout: 500 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			act := NewGitLab(c, testSealer(), pushConfig(model.SecretNames{}, target))
			act.policy = testCallPolicy
			env.emu.Faults.Add(tt.rule)
			in := gitlabInput(target)
			res, err := act.PushGitLabVariable(context.Background(), in)
			if n := env.emu.Faults.Total(); n != tt.wantCalls {
				t.Errorf("%d calls, want %d: %v", n, tt.wantCalls, env.emu.Faults.Calls())
			}
			if tt.wantType != "" {
				appErr := gitlabAppError(t, err, in, tt.wantType, tt.wantType != TypeRateLimited)
				if d := appErr.NextRetryDelay(); d < tt.wantDelay-2*time.Second || d > tt.wantDelay {
					t.Errorf("NextRetryDelay = %s, want %s", d, tt.wantDelay)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Calls != tt.wantCalls {
				t.Errorf("result counts %d calls, want %d", res.Calls, tt.wantCalls)
			}
			gitlabAssertHolds(t, env.emu, "group:acme", "*", target)
		})
	}
}
