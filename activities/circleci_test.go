package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/circleciemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	circleTestToken  = "CCIPAT_Lh7Qv2Xk9Rz4Wm1Np6Tb3Ys8Jd5Fc0"
	circleTestKeyID  = "AKIAIOSFODNN7EXAMPLE"
	circleTestSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// circleEnv is the emulator with project gh/acme/api and one context,
// served over HTTP, and the kind talking to it through the real client.
type circleEnv struct {
	emu       *circleciemu.Emulator
	url       string
	contextID string
	project   model.Target
	context   model.Target
}

func newCircleEnv(t *testing.T) *circleEnv {
	t.Helper()
	emu := circleciemu.New(circleTestToken)
	emu.AddProject("gh/acme/api")
	id := emu.AddContext("aws-deploy")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return &circleEnv{
		emu: emu, url: srv.URL, contextID: id,
		project: model.Target{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/api"}},
		context: model.Target{Kind: model.CircleCIContext, CircleCI: &model.CircleCITarget{Context: id}},
	}
}

// act is the kind with token, rotating the key into targets under names.
func (e *circleEnv) act(token string, names model.SecretNames, targets ...model.Target) *CircleCI {
	if len(targets) == 0 {
		targets = []model.Target{e.project, e.context}
	}
	a := NewCircleCI(clients.NewCircleCIClient(e.url, model.Secret(token), nil), testSealer(), pushConfig(names, targets...))
	a.policy = testCallPolicy
	return a
}

// held is what the emulator holds for the target under the default names.
func (e *circleEnv) held(t model.Target) (id, secret string) {
	get := e.emu.ProjectEnvVar
	scope := t.CircleCI.Project
	if t.Kind == model.CircleCIContext {
		get, scope = e.emu.ContextEnvVar, t.CircleCI.Context
	}
	v1, _ := get(scope, "AWS_ACCESS_KEY_ID")
	v2, _ := get(scope, "AWS_SECRET_ACCESS_KEY")
	return v1.Value, v2.Value
}

func circleInput(t model.Target) PushInput {
	return pushInputFor(t, mustSeal(circleTestKeyID, circleTestSecret))
}

// requireNoSecret asserts the error names the target and holds neither
// the secret, nor any 8-character piece of it, nor the token, nor a URL.
func requireNoSecret(t *testing.T, err error, target model.Target, token string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, target.String())
	for i := 0; i+8 <= len(circleTestSecret); i++ {
		require.NotContains(t, msg, circleTestSecret[i:i+8])
	}
	require.NotContains(t, msg, token)
	require.NotContains(t, msg, "http://")
}

func TestCircleCIPushAndConfirm(t *testing.T) {
	e := newCircleEnv(t)
	tests := []struct {
		name        string
		target      model.Target
		seedOld     func() error
		confirmedBy string
	}{
		{"project, new variables", e.project, nil, ConfirmedMasked},
		{"context, new variables", e.context, nil, ConfirmedMetadata + " (updated_at)"},
		{"project, previous key", e.project, func() error {
			_ = e.emu.SetProjectEnvVar("gh/acme/api", "AWS_ACCESS_KEY_ID", "AKIAEXAMPLEOLDKEY123")
			return e.emu.SetProjectEnvVar("gh/acme/api", "AWS_SECRET_ACCESS_KEY", "old/secret/old/secret/old/secret/old1234")
		}, ConfirmedMasked},
		{"context, previous key", e.context, func() error {
			_ = e.emu.SetContextEnvVar(e.contextID, "AWS_ACCESS_KEY_ID", "AKIAEXAMPLEOLDKEY123")
			return e.emu.SetContextEnvVar(e.contextID, "AWS_SECRET_ACCESS_KEY", "old")
		}, ConfirmedMetadata + " (updated_at)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.seedOld != nil {
				require.NoError(t, tt.seedOld())
			}
			e.emu.Faults.ResetCalls()
			a := e.act(circleTestToken, model.SecretNames{})
			res, err := a.push(context.Background(), circleInput(tt.target))
			require.NoError(t, err)
			require.Equal(t, tt.confirmedBy, res.ConfirmedBy)
			require.Equal(t, 3, res.Calls, "two writes, one listing")
			require.Equal(t, 3, e.emu.Faults.Total(), e.emu.Faults.Calls())
			require.Equal(t, tt.target.String(), res.Target)
			id, secret := e.held(tt.target)
			require.Equal(t, circleTestKeyID, id)
			require.Equal(t, circleTestSecret, secret)

			// The same push again (a retry whose answer was lost) is harmless.
			res, err = a.push(context.Background(), circleInput(tt.target))
			require.NoError(t, err)
			require.Equal(t, 3, res.Calls)
			id, secret = e.held(tt.target)
			require.Equal(t, circleTestKeyID, id)
			require.Equal(t, circleTestSecret, secret)
		})
	}
}

func TestCircleCIPushErrors(t *testing.T) {
	type kase struct {
		name      string
		target    func(e *circleEnv) model.Target
		token     string
		names     model.SecretNames
		rule      *faults.Rule
		wantType  string // "" with wantOK false: a plain retryable error
		final     bool
		wantDelay time.Duration
		wantCalls int
		wantOK    bool
		contains  string
	}
	project := func(e *circleEnv) model.Target { return e.project }
	ctxTarget := func(e *circleEnv) model.Target { return e.context }
	tests := []kase{
		{name: "unknown token", target: project, token: "not-a-token", wantType: TypeUnauthorized, final: true, wantCalls: 1, contains: "401 Unauthorized"},
		{name: "unknown token, context", target: ctxTarget, token: "not-a-token", wantType: TypeUnauthorized, final: true, wantCalls: 1},
		{name: "403", target: project, rule: &faults.Rule{Op: "POST ", Status: http.StatusForbidden, Body: `{"message":"Permission denied"}`},
			wantType: TypeUnauthorized, final: true, wantCalls: 1, contains: "Permission denied"},
		{name: "missing project", target: func(*circleEnv) model.Target {
			return model.Target{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/missing"}}
		}, wantType: TypeNotFound, final: true, wantCalls: 1, contains: "Project not found"},
		{name: "missing context", target: func(*circleEnv) model.Target {
			return model.Target{Kind: model.CircleCIContext, CircleCI: &model.CircleCITarget{Context: "00000000-0000-4000-8000-000000000000"}}
		}, wantType: TypeNotFound, final: true, wantCalls: 1, contains: "Context not found"},
		{name: "name CircleCI refuses (400)", target: ctxTarget, names: model.SecretNames{AccessKeyID: "1KEY", SecretAccessKey: "AWS_SECRET_ACCESS_KEY"},
			wantType: TypeUnprocessable, final: true, wantCalls: 1, contains: "must start with a letter"},
		{name: "422", target: project, rule: &faults.Rule{Op: "POST ", Status: http.StatusUnprocessableEntity, Body: `{"message":"nope"}`},
			wantType: TypeUnprocessable, final: true, wantCalls: 1},
		{name: "an echo of the secret is redacted", target: ctxTarget,
			rule:     &faults.Rule{Op: "AWS_SECRET", Status: http.StatusBadRequest, Body: `{"message":"bad value ` + circleTestSecret[3:30] + `"}`},
			wantType: TypeUnprocessable, final: true, wantCalls: 2, contains: "[REDACTED]"},
		{name: "5xx retried in place", target: project, rule: &faults.Rule{Op: "POST ", Status: http.StatusBadGateway, Times: 2},
			wantOK: true, wantCalls: 5},
		{name: "5xx on the listing retried", target: ctxTarget, rule: &faults.Rule{Op: "GET ", Status: http.StatusServiceUnavailable, Times: 1},
			wantOK: true, wantCalls: 4},
		{name: "5xx that lasts", target: project, rule: &faults.Rule{Op: "POST ", Status: http.StatusInternalServerError},
			wantCalls: testCallPolicy.tries},
		{name: "a lost answer is written again", target: ctxTarget, rule: &faults.Rule{Op: "PUT ", Status: http.StatusGatewayTimeout, LoseResult: true, Times: 1},
			wantOK: true, wantCalls: 4},
		{name: "429 beyond what an attempt sleeps", target: project, rule: ptr(circleciemu.RateLimit("POST ", 30*time.Second, 0)),
			wantType: TypeRateLimited, wantDelay: 30 * time.Second, wantCalls: 1},
		{name: "429 slept through", target: ctxTarget, rule: ptr(circleciemu.RateLimit("PUT ", time.Second, 1)),
			wantOK: true, wantCalls: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCircleEnv(t)
			target := tt.target(e)
			token := circleTestToken
			if tt.token != "" {
				token = tt.token
			}
			if tt.rule != nil {
				e.emu.Faults.Add(*tt.rule)
			}
			res, err := e.act(token, tt.names, target).push(context.Background(), circleInput(target))
			require.Equal(t, tt.wantCalls, e.emu.Faults.Total(), e.emu.Faults.Calls())
			if tt.wantOK {
				require.NoError(t, err)
				require.Equal(t, tt.wantCalls, res.Calls)
				return
			}
			requireNoSecret(t, err, target, circleTestToken)
			if tt.contains != "" {
				require.Contains(t, err.Error(), tt.contains)
			}
			var app *temporal.ApplicationError
			if tt.wantType == "" {
				require.False(t, errors.As(err, &app) && app.NonRetryable(), "retryable: %v", err)
				return
			}
			requireAppError(t, err, tt.wantType, tt.final)
			require.ErrorAs(t, err, &app)
			require.Equal(t, tt.wantDelay, app.NextRetryDelay())
		})
	}
}

// A write CircleCI acknowledges without making it is caught by the
// listing, and retried: masked value (project) or updated_at (context).
func TestCircleCINotConfirmed(t *testing.T) {
	t.Run("project", func(t *testing.T) {
		e := newCircleEnv(t)
		require.NoError(t, e.emu.SetProjectEnvVar("gh/acme/api", "AWS_SECRET_ACCESS_KEY", "old-old-old-1234"))
		e.emu.Faults.Add(faults.Rule{Op: "POST ", Status: http.StatusCreated, Body: `{"name":"X","value":"xxxxWXYZ"}`})
		_, err := e.act(circleTestToken, model.SecretNames{}).push(context.Background(), circleInput(e.project))
		requireNoSecret(t, err, e.project, circleTestToken)
		requireAppError(t, err, TypeNotConfirmed, false)
	})
	t.Run("context", func(t *testing.T) {
		e := newCircleEnv(t)
		require.NoError(t, e.emu.SetContextEnvVar(e.contextID, "AWS_ACCESS_KEY_ID", "old"))
		require.NoError(t, e.emu.SetContextEnvVar(e.contextID, "AWS_SECRET_ACCESS_KEY", "old"))
		e.emu.Faults.Add(faults.Rule{Op: "PUT ", Status: http.StatusOK,
			Body: `{"variable":"X","context_id":"` + e.contextID + `","updated_at":"2099-01-01T00:00:00Z"}`})
		_, err := e.act(circleTestToken, model.SecretNames{}).push(context.Background(), circleInput(e.context))
		requireNoSecret(t, err, e.context, circleTestToken)
		requireAppError(t, err, TypeNotConfirmed, false)
		require.Contains(t, err.Error(), "before the write at 2099-01-01T00:00:00Z")
	})
}

func TestCircleCICheck(t *testing.T) {
	e := newCircleEnv(t)
	missing := model.Target{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/missing"}}
	tests := []struct {
		name   string
		token  string
		target model.Target
		ok     bool
		detail string
	}{
		{"project", circleTestToken, e.project, true, "listed the project's environment variables"},
		{"context", circleTestToken, e.context, true, "listed the context's environment variables"},
		{"missing project", circleTestToken, missing, false, "404 Not Found"},
		{"unknown token", "nope", e.context, false, "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := e.emu.Faults.Calls()
			c := e.act(tt.token, model.SecretNames{}, tt.target).check(context.Background(), tt.target)
			require.Equal(t, tt.ok, c.OK, c.Detail)
			require.Contains(t, c.Detail, tt.detail)
			for op, n := range e.emu.Faults.Calls() {
				if n != calls[op] {
					require.True(t, strings.HasPrefix(op, "GET "), "check changed something: %s", op)
				}
			}
		})
	}
}
