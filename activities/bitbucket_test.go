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
	"github.com/keyrotor/keyrotor/internal/emulator/bitbucketemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	bbToken  = "bbat-test-token-0123456789abcdef"
	bbKeyID  = "AKIABBTESTKEYEXAMPLE"
	bbSecret = "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"
	bbRepo   = "acme/api"
	// The emulator's operations on the variables, as faults name them.
	bbRepoVars = "/2.0/repositories/acme/api/pipelines_config/variables"
	bbEnvs     = "GET /2.0/repositories/acme/api/environments"
)

var (
	bbRepoTarget   = model.Target{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api"}}
	bbDeployTarget = model.Target{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "Production"}}
)

// bbEnv is the emulator behind a real HTTP server and the kind over the
// real client.
type bbEnv struct {
	emu *bitbucketemu.Emulator
	url string
	act *Bitbucket
}

func newBitbucketEnv(t *testing.T, targets ...model.Target) *bbEnv {
	t.Helper()
	emu := bitbucketemu.New(bbToken)
	emu.AddRepository(bbRepo)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	if len(targets) == 0 {
		targets = []model.Target{bbRepoTarget, bbDeployTarget}
	}
	e := &bbEnv{emu: emu, url: srv.URL}
	e.act = e.activity(bbToken, pushConfig(model.SecretNames{}, targets...))
	return e
}

// activity is the kind with token, over real HTTP.
func (e *bbEnv) activity(token string, rs Rotations) *Bitbucket {
	a := NewBitbucket(clients.NewBitbucketClient(e.url, model.Secret(token), nil), testSealer(), rs)
	a.policy = testCallPolicy
	return a
}

// production is the UUID of the repository's Production environment.
func (e *bbEnv) production(t *testing.T) string {
	t.Helper()
	env, ok := e.emu.Environment(bbRepo, "Production")
	require.True(t, ok)
	return env
}

// stored is what the target holds under name, value in the clear.
func (e *bbEnv) stored(t *testing.T, target model.Target, name string) (bitbucketemu.Variable, bool) {
	t.Helper()
	if target.Kind == model.BitbucketDeployment {
		return e.emu.DeploymentVariable(bbRepo, e.production(t), name)
	}
	return e.emu.RepositoryVariable(bbRepo, name)
}

// seed gives the target both variables, unsecured, with old values.
func (e *bbEnv) seed(t *testing.T, target model.Target) map[string]string {
	t.Helper()
	uuids := map[string]string{}
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		var uuid string
		var err error
		if target.Kind == model.BitbucketDeployment {
			uuid, err = e.emu.SetDeploymentVariable(bbRepo, e.production(t), name, "old-"+name, false)
		} else {
			uuid, err = e.emu.SetRepositoryVariable(bbRepo, name, "old-"+name, false)
		}
		require.NoError(t, err)
		uuids[name] = uuid
	}
	return uuids
}

// listed counts the target's variables by key, through the API.
func (e *bbEnv) listed(t *testing.T, target model.Target) map[string]int {
	t.Helper()
	c := clients.NewBitbucketClient(e.url, bbToken, nil)
	var vs []clients.BitbucketVariable
	var err error
	if target.Kind == model.BitbucketDeployment {
		vs, err = c.DeploymentVariables(context.Background(), "acme", "api", e.production(t))
	} else {
		vs, err = c.RepositoryVariables(context.Background(), "acme", "api")
	}
	require.NoError(t, err)
	out := map[string]int{}
	for _, v := range vs {
		out[v.Key]++
	}
	return out
}

func bbInput(target model.Target) PushInput {
	return pushInputFor(target, mustSeal(bbKeyID, bbSecret))
}

// requireHolds checks the target holds the new key, secured.
func (e *bbEnv) requireHolds(t *testing.T, target model.Target) {
	t.Helper()
	for name, want := range map[string]string{"AWS_ACCESS_KEY_ID": bbKeyID, "AWS_SECRET_ACCESS_KEY": bbSecret} {
		v, ok := e.stored(t, target, name)
		require.True(t, ok, name)
		require.True(t, v.Value == want, "%s does not hold the new value", name)
		require.True(t, v.Secured, "%s is not secured", name)
	}
	require.Equal(t, map[string]int{"AWS_ACCESS_KEY_ID": 1, "AWS_SECRET_ACCESS_KEY": 1}, e.listed(t, target))
}

// bbNoLeak checks an error names the target and holds neither the secret
// (nor any 8-character piece of it) nor the token.
func bbNoLeak(t *testing.T, err error, target model.Target) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, target.String())
	require.NotContains(t, msg, bbToken)
	for i := 0; i+minPiece <= len(bbSecret); i++ {
		require.NotContains(t, msg, bbSecret[i:i+minPiece], "a piece of the secret leaked")
	}
}

func TestBitbucketPushAndConfirm(t *testing.T) {
	tests := []struct {
		name   string
		target model.Target
		seeded bool
		calls  map[string]int // by operation, of the first push
	}{
		{"repository, new variables", bbRepoTarget, false,
			map[string]int{"GET " + bbRepoVars: 2, "POST " + bbRepoVars: 2}},
		{"repository, existing variables", bbRepoTarget, true,
			map[string]int{"GET " + bbRepoVars: 2, "PUT": 2}},
		{"deployment, new variables", bbDeployTarget, false,
			map[string]int{bbEnvs: 1, "GET deployments": 2, "POST deployments": 2}},
		{"deployment, existing variables", bbDeployTarget, true,
			map[string]int{bbEnvs: 1, "GET deployments": 2, "PUT": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBitbucketEnv(t)
			var seeded map[string]string
			if tt.seeded {
				seeded = e.seed(t, tt.target)
			}
			res, err := e.act.push(context.Background(), bbInput(tt.target))
			require.NoError(t, err)
			require.Equal(t, "metadata (uuid, listed by key)", res.ConfirmedBy)
			require.Equal(t, tt.target.String(), res.Target)
			want := 4
			if tt.target.Kind == model.BitbucketDeployment {
				want = 5
			}
			require.Equal(t, want, res.Calls, "calls: %v", e.emu.Faults.Calls())
			require.Equal(t, tt.calls, groupOps(e.emu.Faults.Calls()))
			e.requireHolds(t, tt.target)
			for name, uuid := range seeded {
				v, _ := e.stored(t, tt.target, name)
				require.Equal(t, uuid, v.UUID, "%s was updated in place", name)
			}

			// A repeated push (an answer lost, a retried activity) is
			// harmless: it updates the same two variables.
			res, err = e.act.push(context.Background(), bbInput(tt.target))
			require.NoError(t, err)
			require.Equal(t, want, res.Calls)
			e.requireHolds(t, tt.target)
		})
	}
}

// groupOps folds the emulator's operations into a few kinds, so the
// expectations need no UUIDs.
func groupOps(calls map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range calls {
		method, path, _ := strings.Cut(op, " ")
		switch {
		case op == bbEnvs || path == bbRepoVars:
			out[op] += n
		case method == http.MethodPut:
			out["PUT"] += n
		case strings.Contains(path, "/deployments_config/"):
			out[method+" deployments"] += n
		default:
			out[op] += n
		}
	}
	return out
}

func TestBitbucketErrors(t *testing.T) {
	missingRepo := model.Target{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "gone"}}
	missingEnv := model.Target{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "Nowhere"}}
	echo := `{"type": "error", "error": {"message": "Bad request", "detail": "value ` + bbSecret + ` and ` + bbSecret[5:25] + ` refused"}}`
	tests := []struct {
		name      string
		target    model.Target
		token     string            // "" for the good one
		names     model.SecretNames // zero for the defaults
		seed      bool              // the variables exist
		fault     *faults.Rule
		wantType  string // "" for a plain retryable error
		final     bool
		wantMsg   string
		wantDelay time.Duration
	}{
		{name: "401 bad token", target: bbRepoTarget, token: "bbat-wrong", wantType: TypeUnauthorized, final: true,
			wantMsg: "the access token is invalid, expired or revoked"},
		{name: "403 token without pipeline:variable", target: bbDeployTarget, token: "bbat-read-only", wantType: TypeUnauthorized, final: true,
			wantMsg: "needs the pipeline:variable scope"},
		{name: "404 repository", target: missingRepo, wantType: TypeNotFound, final: true, wantMsg: "Repository acme/gone not found"},
		{name: "404 environment name", target: missingEnv, wantType: TypeNotFound, final: true,
			wantMsg: `has no deployment environment named "Nowhere"`},
		{name: "400 invalid variable name", target: bbRepoTarget, names: model.SecretNames{AccessKeyID: "1AWS_KEY", SecretAccessKey: "AWS_SECRET"},
			wantType: TypeUnprocessable, final: true, wantMsg: "Variable names can only contain"},
		{name: "400 quoting the secret", target: bbRepoTarget, fault: &faults.Rule{Op: "POST ", Status: 400, Body: echo},
			wantType: TypeUnprocessable, final: true, wantMsg: "[REDACTED]"},
		{name: "5xx every time", target: bbDeployTarget, fault: &faults.Rule{Op: "GET ", Status: 503}, wantMsg: "503 Service Unavailable"},
		{name: "429 without a wait", target: bbRepoTarget, fault: bbRule(bitbucketemu.RateLimit("POST ", 1)), wantType: TypeRateLimited,
			wantMsg: "Rate limit for this resource has been exceeded", wantDelay: time.Minute},
		{name: "429 with a long Retry-After", target: bbRepoTarget, fault: &faults.Rule{Op: "GET ", Status: 429, RetryAfter: time.Hour, Times: 1},
			wantType: TypeRateLimited, wantDelay: time.Hour},
		{name: "409 on an update", target: bbRepoTarget, seed: true, fault: &faults.Rule{Op: "PUT ", Status: 409, Times: 1}, wantMsg: "changed meanwhile; retrying"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBitbucketEnv(t, tt.target)
			e.emu.AddToken("bbat-read-only", bitbucketemu.ScopeRepository, bitbucketemu.ScopePipeline)
			token := bbToken
			if tt.token != "" {
				token = tt.token
			}
			a := e.activity(token, pushConfig(tt.names, tt.target))
			if tt.seed {
				e.seed(t, tt.target)
			}
			if tt.fault != nil {
				e.emu.Faults.Add(*tt.fault)
			}
			_, err := a.push(context.Background(), bbInput(tt.target))
			bbNoLeak(t, err, tt.target)
			t.Logf("%v", err)
			require.Contains(t, err.Error(), tt.wantMsg)
			var ae *temporal.ApplicationError
			if tt.wantType == "" {
				require.False(t, errors.As(err, &ae) && ae.NonRetryable(), "retryable: %v", err)
				return
			}
			requireAppError(t, err, tt.wantType, tt.final)
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.wantDelay, ae.NextRetryDelay())
		})
	}
}

func bbRule(r faults.Rule) *faults.Rule { return &r }

// TestBitbucketRidesOut: failures a call outlives in place, and a create
// that meets 409, end in a confirmed push with one variable per key.
func TestBitbucketRidesOut(t *testing.T) {
	tests := []struct {
		name   string
		target model.Target
		fault  faults.Rule
		calls  int
	}{
		{"502 twice", bbDeployTarget, faults.Rule{Op: "POST ", Status: 502, Times: 2}, 5 + 2},
		{"429 with Retry-After: 1", bbRepoTarget, faults.Rule{Op: "POST ", Status: 429, RetryAfter: time.Second, Times: 1}, 4 + 1},
		// The create lands but its answer is lost: the retried create
		// meets 409, lists for the UUID and updates.
		{"409 after a lost create", bbRepoTarget, faults.Rule{Op: "POST ", Status: 502, LoseResult: true, Times: 1}, 4 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBitbucketEnv(t)
			e.emu.Faults.Add(tt.fault)
			res, err := e.act.push(context.Background(), bbInput(tt.target))
			require.NoError(t, err)
			require.Equal(t, tt.calls, res.Calls, "%v", e.emu.Faults.Calls())
			e.requireHolds(t, tt.target)
		})
	}
}

// TestBitbucketResumes: an attempt that ends after writing the key ID
// leaves the environment's UUID and the variables' in its heartbeat; the
// next attempt neither looks the environment up nor lists before writing.
func TestBitbucketResumes(t *testing.T) {
	e := newBitbucketEnv(t)
	uuids := e.seed(t, bbDeployTarget)
	e.emu.Faults.Add(faults.Rule{Op: "PUT /2.0/repositories/acme/api/deployments_config/environments/" + e.production(t) + "/variables/" + uuids["AWS_SECRET_ACCESS_KEY"],
		Status: 500, Times: testCallPolicy.tries})
	targets := NewTargets(e.act)
	tl := newTemporalLike(t, targets)
	attempts := tl.run(targets.PushToTarget, bbInput(bbDeployTarget), 3)
	require.Len(t, attempts, 2, "%+v", attempts)
	require.Error(t, attempts[0].err)
	require.NoError(t, attempts[1].err)
	require.Equal(t, 2, attempts[1].res.Calls, "the secret's update and the confirming list: %v", e.emu.Faults.Calls())
	require.Equal(t, 1, e.emu.Faults.Calls()[bbEnvs], "the environment is looked up once")
	require.Equal(t, e.production(t), tl.details.EnvironmentUUID)
	e.requireHolds(t, bbDeployTarget)
}

func TestBitbucketCheck(t *testing.T) {
	missingEnv := model.Target{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "Nowhere"}}
	missingRepo := model.Target{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "gone"}}
	tests := []struct {
		name   string
		target model.Target
		token  string
		ok     bool
		detail string
	}{
		{"repository", bbRepoTarget, bbToken, true, "listed the repository's Pipelines variables"},
		{"deployment", bbDeployTarget, bbToken, true, "listed the deployment environment's variables"},
		{"repository, no scope", bbRepoTarget, "bbat-read-only", false, "cannot list the repository's Pipelines variables: 403 Forbidden; the access token needs the pipeline:variable scope"},
		{"deployment, no scope", bbDeployTarget, "bbat-read-only", false, "cannot list the environment's deployment variables: 403 Forbidden"},
		{"missing repository", missingRepo, bbToken, false, "404 Not Found"},
		{"missing environment", missingEnv, bbToken, false, `no deployment environment named "Nowhere"`},
		{"bad token", bbRepoTarget, "bbat-wrong", false, "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBitbucketEnv(t)
			e.emu.AddToken("bbat-read-only", bitbucketemu.ScopeRepository, bitbucketemu.ScopePipeline)
			c := e.activity(tt.token, pushConfig(model.SecretNames{}, tt.target)).check(context.Background(), tt.target)
			require.Equal(t, tt.ok, c.OK, c.Detail)
			require.Contains(t, c.Detail, tt.detail)
			require.Zero(t, e.emu.Faults.Calls()["POST "+bbRepoVars], "a check writes nothing")
		})
	}
}
