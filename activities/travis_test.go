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
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/travisemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	travisTestToken    = "Tq8vNz3KwL5pXr7YcB2mHf9D"
	travisReadOnlyTok  = "Ro4bXk7LmQ2wZp9VnC5tHs1J"
	travisTestRepoSlug = "acme/api"
)

var travisTarget = model.Target{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: travisTestRepoSlug}}

type travisTestEnv struct {
	emu *travisemu.Emulator
	url string
}

func newTravisTestEnv(t *testing.T) *travisTestEnv {
	t.Helper()
	emu := travisemu.New(travisTestToken)
	emu.AddToken(travisReadOnlyTok, travisemu.ReadOnly)
	emu.AddRepository(travisTestRepoSlug)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return &travisTestEnv{emu: emu, url: srv.URL}
}

func (e *travisTestEnv) act(token string, names model.SecretNames, targets ...model.Target) *Travis {
	if len(targets) == 0 {
		targets = []model.Target{travisTarget}
	}
	a := NewTravis(clients.NewTravisClient(e.url, model.Secret(token), nil), testSealer(), pushConfig(names, targets...))
	a.policy = testCallPolicy
	return a
}

// requireHolds checks the repository holds the new key in exactly two
// private variables for every branch.
func (e *travisTestEnv) requireHolds(t *testing.T) {
	t.Helper()
	want := map[string]string{"AWS_ACCESS_KEY_ID": circleTestKeyID, "AWS_SECRET_ACCESS_KEY": circleTestSecret}
	n := 0
	for _, v := range e.emu.EnvVars(travisTestRepoSlug) {
		if v.Branch != "" {
			continue
		}
		n++
		require.Equal(t, want[v.Name], v.Value, v.Name)
		require.False(t, v.Public, v.Name)
	}
	require.Equal(t, 2, n, "variables for every branch: %+v", e.emu.EnvVars(travisTestRepoSlug))
}

func TestTravisPushAndConfirm(t *testing.T) {
	tests := []struct {
		name  string
		seed  func(e *travisTestEnv) []string // returns the IDs that must survive
		calls map[string]int
	}{
		{"new variables", nil, map[string]int{
			"GET /repo/acme/api/env_vars": 2, "POST /repo/acme/api/env_vars": 2,
		}},
		{"previous key, one public", func(e *travisTestEnv) []string {
			id1, _ := e.emu.SetEnvVar(travisTestRepoSlug, travisemu.EnvVar{Name: "AWS_ACCESS_KEY_ID", Value: "AKIAOLD", Public: true})
			id2, _ := e.emu.SetEnvVar(travisTestRepoSlug, travisemu.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: "old"})
			// Another branch's variable of the same name is not keyrotor's.
			_, _ = e.emu.SetEnvVar(travisTestRepoSlug, travisemu.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: "branch", Branch: "main"})
			return []string{id1, id2}
		}, map[string]int{"GET /repo/acme/api/env_vars": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTravisTestEnv(t)
			var ids []string
			if tt.seed != nil {
				ids = tt.seed(e)
			}
			a := e.act(travisTestToken, model.SecretNames{})
			res, err := a.push(context.Background(), circleInput(travisTarget))
			require.NoError(t, err)
			require.Equal(t, ConfirmedMetadata+" (listed by name)", res.ConfirmedBy)
			require.Equal(t, 4, res.Calls, "listing, two writes, listing")
			require.Equal(t, 4, e.emu.Faults.Total(), e.emu.Faults.Calls())
			for op, n := range tt.calls {
				require.Equal(t, n, e.emu.Faults.Calls()[op], op)
			}
			e.requireHolds(t)
			for _, id := range ids {
				require.Equal(t, 1, e.emu.Faults.Calls()["PATCH /repo/acme/api/env_var/"+id], "updated in place: %s", id)
			}
			if tt.seed != nil {
				v := e.emu.EnvVars(travisTestRepoSlug)
				require.Len(t, v, 3)
			}

			// The same push again (a retry whose answer was lost) is harmless.
			res, err = a.push(context.Background(), circleInput(travisTarget))
			require.NoError(t, err)
			require.Equal(t, 4, res.Calls)
			e.requireHolds(t)
		})
	}
}

func TestTravisPushErrors(t *testing.T) {
	missing := model.Target{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: "acme/missing"}}
	tests := []struct {
		name      string
		target    model.Target
		token     string
		rule      *faults.Rule
		wantType  string // "" with wantOK false: a plain retryable error
		final     bool
		wantDelay time.Duration
		wantCalls int
		wantOK    bool
		contains  string
	}{
		{name: "unknown token (403)", token: "not-a-token", wantType: TypeUnauthorized, final: true, wantCalls: 1, contains: "access denied (wrong_credentials)"},
		{name: "read-only token (403)", token: travisReadOnlyTok, wantType: TypeUnauthorized, final: true, wantCalls: 2, contains: "insufficient_access"},
		{name: "401", rule: &faults.Rule{Op: "GET ", Status: http.StatusUnauthorized}, wantType: TypeUnauthorized, final: true, wantCalls: 1},
		{name: "missing repository", target: missing, wantType: TypeNotFound, final: true, wantCalls: 1, contains: "repository not found"},
		{name: "422", rule: &faults.Rule{Op: "POST ", Status: http.StatusUnprocessableEntity,
			Body: `{"@type":"error","error_type":"unprocessable_entity","error_message":"value ` + circleTestSecret + ` is invalid"}`},
			wantType: TypeUnprocessable, final: true, wantCalls: 2, contains: "[REDACTED]"},
		{name: "400", rule: &faults.Rule{Op: "POST ", Status: http.StatusBadRequest, Body: `{"@type":"error","error_type":"wrong_params","error_message":"wrong parameters"}`},
			wantType: TypeUnprocessable, final: true, wantCalls: 2},
		{name: "5xx retried in place", rule: &faults.Rule{Op: "POST ", Status: http.StatusBadGateway, Times: 2}, wantOK: true, wantCalls: 6},
		{name: "5xx that lasts", rule: &faults.Rule{Op: "GET ", Status: http.StatusInternalServerError}, wantCalls: testCallPolicy.tries},
		// The create happened, its answer was lost: the retry meets 409,
		// looks the variable up and updates it (3 calls), all counted.
		{name: "lost create answer", rule: &faults.Rule{Op: "POST ", Status: http.StatusBadGateway, LoseResult: true, Times: 1}, wantOK: true, wantCalls: 7},
		{name: "429 without Retry-After waits a window", rule: ptr(travisemu.RateLimit("POST ", 0)),
			wantType: TypeRateLimited, wantDelay: travisDefaultWait, wantCalls: 2},
		{name: "429 with Retry-After slept through", rule: &faults.Rule{Op: "POST ", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 1, Body: "Retry later\n"},
			wantOK: true, wantCalls: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTravisTestEnv(t)
			target := travisTarget
			if tt.target.Travis != nil {
				target = tt.target
			}
			token := travisTestToken
			if tt.token != "" {
				token = tt.token
			}
			if tt.rule != nil {
				e.emu.Faults.Add(*tt.rule)
			}
			res, err := e.act(token, model.SecretNames{}, target).push(context.Background(), circleInput(target))
			require.Equal(t, tt.wantCalls, e.emu.Faults.Total(), e.emu.Faults.Calls())
			if tt.wantOK {
				require.NoError(t, err)
				require.Equal(t, tt.wantCalls, res.Calls)
				e.requireHolds(t)
				return
			}
			requireNoSecret(t, err, target, token)
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

// A create Travis acknowledges without making it is caught by the listing.
func TestTravisNotConfirmed(t *testing.T) {
	e := newTravisTestEnv(t)
	e.emu.Faults.Add(faults.Rule{Op: "POST ", Status: http.StatusCreated,
		Body: `{"@type":"env_var","id":"00000000-0000-4000-8000-000000000000","name":"X","public":false}`})
	_, err := e.act(travisTestToken, model.SecretNames{}).push(context.Background(), circleInput(travisTarget))
	requireNoSecret(t, err, travisTarget, travisTestToken)
	requireAppError(t, err, TypeNotConfirmed, false)
	require.Contains(t, err.Error(), "is not listed")
}

func TestTravisCheck(t *testing.T) {
	e := newTravisTestEnv(t)
	missing := model.Target{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: "acme/missing"}}
	tests := []struct {
		name   string
		token  string
		target model.Target
		ok     bool
		detail string
	}{
		{"repository", travisTestToken, travisTarget, true, "listed the repository's environment variables"},
		{"missing repository", travisTestToken, missing, false, "404 Not Found"},
		{"unknown token", "nope", travisTarget, false, "403 Forbidden"},
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

// A retried attempt resumes from the heartbeat: a variable the failed
// attempt wrote is not written again, and the pair is confirmed.
func TestCircleCIAndTravisResume(t *testing.T) {
	ce := newCircleEnv(t)
	te := newTravisTestEnv(t)
	tests := []struct {
		name    string
		kind    TargetKind
		target  model.Target
		faults  *faults.Injector
		rules   []faults.Rule
		written string // the writes' operation
		want    int    // how often it is sent
		resumed int    // the second attempt's calls
	}{
		{"circleci context", ce.act(circleTestToken, model.SecretNames{}), ce.context, ce.emu.Faults,
			[]faults.Rule{{Op: "PUT /api/v2/context/" + ce.contextID + "/environment-variable/AWS_SECRET_ACCESS_KEY", Status: http.StatusBadGateway, Times: testCallPolicy.tries}},
			"PUT /api/v2/context/" + ce.contextID + "/environment-variable/AWS_ACCESS_KEY_ID", 1, 2},
		{"circleci project", ce.act(circleTestToken, model.SecretNames{}), ce.project, ce.emu.Faults,
			[]faults.Rule{{Op: "GET ", Status: http.StatusBadGateway, Times: testCallPolicy.tries}},
			"POST /api/v2/project/gh/acme/api/envvar", 2, 1},
		{"travis", te.act(travisTestToken, model.SecretNames{}), travisTarget, te.emu.Faults,
			// The first listing passes; the confirmation fails the attempt.
			[]faults.Rule{{Op: "GET ", Times: 1}, {Op: "GET ", Status: http.StatusBadGateway, Times: testCallPolicy.tries}},
			"POST /repo/acme/api/env_vars", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.faults.Clear()
			tt.faults.ResetCalls()
			for _, r := range tt.rules {
				tt.faults.Add(r)
			}
			targets := NewTargets(tt.kind)
			attempts := newTemporalLike(t, targets).run(targets.PushToTarget, circleInput(tt.target), 3)
			require.Len(t, attempts, 2, "one failed attempt, one that resumes")
			require.NoError(t, attempts[1].err)
			// Both writes sent once in all: the second attempt made only
			// what the first had not.
			require.Equal(t, tt.want, tt.faults.Calls()[tt.written], tt.faults.Calls())
			require.Equal(t, tt.resumed, attempts[1].res.Calls)
		})
	}
}
