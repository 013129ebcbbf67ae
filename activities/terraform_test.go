package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/tfeemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	tfToken   = "atlasv1-keyrotor-test-token"
	tfKeyID   = "AKIAIOSFODNN7EXAMPLE"
	tfSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tfKeyID2  = "AKIAI44QH8DHBEXAMPLE"
	tfSecret2 = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
)

var (
	tfWorkspaceTarget = model.Target{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "api", Category: "env"}}
	tfVarSetTarget    = model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS keys", Category: "env"}}
)

// tfEnv is an emulator with organization acme, its workspace api and its
// variable sets "AWS keys" and "AWS keys (old)" (whose name contains the
// other's), and the kind talking to it through the production client.
type tfEnv struct {
	emu        *tfeemu.Emulator
	url        string
	wsID, vsID string
	act        *Terraform
}

func newTFEnv(t *testing.T, targets ...model.Target) *tfEnv {
	t.Helper()
	if len(targets) == 0 {
		targets = []model.Target{tfWorkspaceTarget, tfVarSetTarget}
	}
	emu := tfeemu.New(tfToken)
	e := &tfEnv{emu: emu, wsID: emu.AddWorkspace("acme", "api")}
	emu.AddVariableSet("acme", "AWS keys (old)")
	e.vsID = emu.AddVariableSet("acme", "AWS keys")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.act = e.activity(tfToken, pushConfig(model.SecretNames{}, targets...))
	return e
}

func (e *tfEnv) activity(token string, rs Rotations) *Terraform {
	a := NewTerraform(clients.NewTerraform(e.url, model.Secret(token)), testSealer(), rs)
	a.policy = testCallPolicy
	return a
}

// ownerID is the emulator's ID of the target's workspace or variable set.
func (e *tfEnv) ownerID(target model.Target) string {
	if target.Kind == model.TerraformWorkspace {
		return e.wsID
	}
	return e.vsID
}

// varsPath is the emulator's operation prefix of the owner's variables.
func (e *tfEnv) varsPath(target model.Target) string {
	if target.Kind == model.TerraformWorkspace {
		return "/api/v2/workspaces/" + e.wsID + "/vars"
	}
	return "/api/v2/varsets/" + e.vsID + "/relationships/vars"
}

// findPath is the operation that finds the target's owner.
func (e *tfEnv) findPath(target model.Target) string {
	if target.Kind == model.TerraformWorkspace {
		return "GET /api/v2/organizations/acme/workspaces/api"
	}
	return "GET /api/v2/organizations/acme/varsets"
}

// calls are the calls the emulator received, by operation, without the
// per-process ping; variable IDs are replaced by "var".
func (e *tfEnv) calls() map[string]int {
	out := map[string]int{}
	for op, n := range e.emu.Faults.Calls() {
		if op == "GET /api/v2/ping" {
			continue
		}
		if i := strings.Index(op, "/var-"); i >= 0 {
			op = op[:i] + "/var"
		}
		out[op] += n
	}
	return out
}

func tfInput(target model.Target, id, secret string) PushInput {
	return pushInputFor(target, mustSeal(id, secret))
}

// tfNoLeak asserts err names the target and shows neither the secret nor
// the token.
func tfNoLeak(t *testing.T, err error, target model.Target) {
	t.Helper()
	require.Error(t, err)
	require.Contains(t, err.Error(), target.String())
	for _, leak := range []string{tfSecret, tfSecret2, tfToken, "wJalrXUtnFEMI"} {
		require.NotContains(t, err.Error(), leak)
	}
}

// A first push creates both variables, sensitive and not HCL, in 4 calls
// and no read-back: the writes' answers are the confirmation. A second
// push updates them by ID, in 4 calls, and each gets a new version-id.
func TestTerraformPushCreatesThenUpdates(t *testing.T) {
	for _, target := range []model.Target{tfWorkspaceTarget, tfVarSetTarget} {
		t.Run(target.String(), func(t *testing.T) {
			e := newTFEnv(t)
			res, err := e.act.push(context.Background(), tfInput(target, tfKeyID, tfSecret))
			require.NoError(t, err)
			require.Equal(t, "metadata (version-id)", res.ConfirmedBy)
			require.Equal(t, 4, res.Calls)
			require.Equal(t, map[string]int{e.findPath(target): 1, "GET " + e.varsPath(target): 1, "POST " + e.varsPath(target): 2}, e.calls())

			owner := e.ownerID(target)
			vars := e.emu.Variables(owner)
			require.Len(t, vars, 2)
			first := map[string]tfeemu.Variable{}
			for _, v := range vars {
				require.True(t, v.Sensitive, v.Key)
				require.False(t, v.HCL, v.Key)
				require.Equal(t, tfeemu.CategoryEnv, v.Category)
				require.Equal(t, terraformVariableDescription, v.Description)
				first[v.Key] = v
			}
			require.Equal(t, tfKeyID, first["AWS_ACCESS_KEY_ID"].Value)
			require.Equal(t, tfSecret, first["AWS_SECRET_ACCESS_KEY"].Value)

			e.emu.Faults.ResetCalls()
			res, err = e.act.push(context.Background(), tfInput(target, tfKeyID2, tfSecret2))
			require.NoError(t, err)
			require.Equal(t, 4, res.Calls)
			require.Equal(t, map[string]int{e.findPath(target): 1, "GET " + e.varsPath(target): 1, "PATCH " + e.varsPath(target) + "/var": 2}, e.calls(),
				"the client (and its ping) is made once per process")
			for key, want := range map[string]string{"AWS_ACCESS_KEY_ID": tfKeyID2, "AWS_SECRET_ACCESS_KEY": tfSecret2} {
				v, ok := e.emu.Variable(owner, tfeemu.CategoryEnv, key)
				require.True(t, ok)
				require.Equal(t, want, v.Value)
				require.Equal(t, first[key].ID, v.ID, "updated in place")
				require.NotEqual(t, first[key].VersionID, v.VersionID)
			}
		})
	}
}

// A variable a person made (plain, HCL) is taken over: updated by ID,
// sensitive and not HCL from now on. The same key in the other category is
// another variable, left alone.
func TestTerraformTakesOverAnExistingVariable(t *testing.T) {
	e := newTFEnv(t)
	plain, err := e.emu.SetVariable(e.wsID, tfeemu.Variable{Key: "AWS_ACCESS_KEY_ID", Value: "old", HCL: true, Description: "by hand"})
	require.NoError(t, err)
	other, err := e.emu.SetVariable(e.wsID, tfeemu.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: "a terraform variable", Category: tfeemu.CategoryTerraform})
	require.NoError(t, err)

	res, err := e.act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	require.NoError(t, err)
	require.Equal(t, 4, res.Calls)
	got, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
	require.Equal(t, plain.ID, got.ID)
	require.Equal(t, tfKeyID, got.Value)
	require.True(t, got.Sensitive)
	require.False(t, got.HCL)
	require.Equal(t, "by hand", got.Description, "an update keeps the description")
	secret, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
	require.Equal(t, tfSecret, secret.Value)
	untouched, _ := e.emu.Variable(e.wsID, tfeemu.CategoryTerraform, "AWS_SECRET_ACCESS_KEY")
	require.Equal(t, other, untouched)
}

// The terraform category is a target of its own: its variables are
// written there, not in env.
func TestTerraformCategory(t *testing.T) {
	target := model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS keys", Category: "terraform"}}
	e := newTFEnv(t, target)
	_, err := e.act.push(context.Background(), tfInput(target, tfKeyID, tfSecret))
	require.NoError(t, err)
	v, ok := e.emu.Variable(e.vsID, tfeemu.CategoryTerraform, "AWS_SECRET_ACCESS_KEY")
	require.True(t, ok)
	require.Equal(t, tfSecret, v.Value)
	_, inEnv := e.emu.Variable(e.vsID, tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
	require.False(t, inEnv)
}

// An attempt that wrote the key ID and then failed is resumed: the next
// attempt's listing shows the key ID under the version-id its write was
// answered with, so only the secret is written.
func TestTerraformResumesAfterHalfThePair(t *testing.T) {
	for _, target := range []model.Target{tfWorkspaceTarget, tfVarSetTarget} {
		t.Run(target.String(), func(t *testing.T) {
			e := newTFEnv(t)
			post := "POST " + e.varsPath(target)
			e.emu.Faults.Add(faults.Rule{Op: post, Times: 1}) // the first create passes
			e.emu.Faults.Add(faults.Rule{Op: post, Status: http.StatusServiceUnavailable, Times: testCallPolicy.tries})
			targets := NewTargets(e.act)
			tl := newTemporalLike(t, targets)
			attempts := tl.run(targets.PushToTarget, tfInput(target, tfKeyID, tfSecret), 3)
			require.Len(t, attempts, 2)
			require.Error(t, attempts[0].err)
			require.Contains(t, attempts[0].err.Error(), "HTTP 503")
			require.NoError(t, attempts[1].err)
			require.Equal(t, 3, attempts[1].res.Calls, "find, list, and the one write left")
			require.Equal(t, 1+testCallPolicy.tries+1, e.calls()[post])
			require.Len(t, e.emu.Variables(e.ownerID(target)), 2)
			v, _ := e.emu.Variable(e.ownerID(target), tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
			require.Equal(t, tfSecret, v.Value)
		})
	}
}

// A variable written by an earlier attempt and changed since (another
// version-id) is written again, with the rest of the pair.
func TestTerraformRewritesAChangedVariable(t *testing.T) {
	e := newTFEnv(t)
	post := "POST " + e.varsPath(tfWorkspaceTarget)
	e.emu.Faults.Add(faults.Rule{Op: post, Times: 1})
	e.emu.Faults.Add(faults.Rule{Op: post, Status: http.StatusServiceUnavailable, Times: testCallPolicy.tries})
	targets := NewTargets(e.act)
	tl := newTemporalLike(t, targets)
	in := tfInput(tfWorkspaceTarget, tfKeyID, tfSecret)
	first := tl.run(targets.PushToTarget, in, 1)
	require.Error(t, first[0].err)
	require.Equal(t, []string{"AWS_ACCESS_KEY_ID"}, tl.details.Written)

	// Someone writes the key ID meanwhile.
	cur, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
	cur.Value, cur.VersionID = "AKIAOTHER", ""
	_, err := e.emu.SetVariable(e.wsID, cur)
	require.NoError(t, err)

	second := tl.run(targets.PushToTarget, in, 1)
	require.NoError(t, second[0].err)
	require.Equal(t, 4, second[0].res.Calls, "both written again")
	v, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
	require.Equal(t, tfKeyID, v.Value)
}

// A create whose answer was lost is retried, refused because the key is
// now taken, and turned into an update of the variable it made: no second
// variable, the value written.
func TestTerraformLostCreate(t *testing.T) {
	for _, target := range []model.Target{tfWorkspaceTarget, tfVarSetTarget} {
		t.Run(target.String(), func(t *testing.T) {
			e := newTFEnv(t)
			e.emu.Faults.Add(faults.Rule{Op: "POST " + e.varsPath(target), LoseResult: true, Status: http.StatusBadGateway, Times: 1})
			res, err := e.act.push(context.Background(), tfInput(target, tfKeyID, tfSecret))
			require.NoError(t, err)
			require.Equal(t, 7, res.Calls, "find, list, create lost, create refused, list again, update, create")
			require.Equal(t, map[string]int{e.findPath(target): 1, "GET " + e.varsPath(target): 2, "POST " + e.varsPath(target): 3, "PATCH " + e.varsPath(target) + "/var": 1}, e.calls())
			vars := e.emu.Variables(e.ownerID(target))
			require.Len(t, vars, 2)
			for _, v := range vars {
				require.True(t, v.Sensitive)
			}
			v, _ := e.emu.Variable(e.ownerID(target), tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
			require.Equal(t, tfKeyID, v.Value)
		})
	}
}

// An update answered 404 (the variable deleted since the listing) falls
// back to a create; here the emulator still holds the variable, so the
// create is refused as taken, and the variable listed again and updated.
func TestTerraformUpdateAnswered404(t *testing.T) {
	e := newTFEnv(t)
	seeded, err := e.emu.SetVariable(e.wsID, tfeemu.Variable{Key: "AWS_ACCESS_KEY_ID", Value: "old", Sensitive: true})
	require.NoError(t, err)
	e.emu.Faults.Add(faults.Rule{Op: "PATCH /api/v2/workspaces/" + e.wsID + "/vars/" + seeded.ID, Status: http.StatusNotFound,
		Body: `{"errors":[{"status":"404","title":"not found"}]}`, Times: 1})
	res, err := e.act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	require.NoError(t, err)
	require.Equal(t, 7, res.Calls, "read, list, update (404), create (taken), list again, update, create")
	v, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
	require.Equal(t, seeded.ID, v.ID)
	require.Equal(t, tfKeyID, v.Value)
	require.Len(t, e.emu.Variables(e.wsID), 2)
}

// A transient 5xx is retried in place; go-tfe does not retry it itself.
func TestTerraformServerErrorRetriedInPlace(t *testing.T) {
	e := newTFEnv(t)
	e.emu.Faults.Add(faults.Rule{Op: "GET " + e.varsPath(tfWorkspaceTarget), Status: http.StatusBadGateway, Times: 2})
	res, err := e.act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	require.NoError(t, err)
	require.Equal(t, 6, res.Calls)
	require.Equal(t, 3, e.calls()["GET "+e.varsPath(tfWorkspaceTarget)])
}

// go-tfe waits out a 429 for X-RateLimit-Reset and retries: the attempt
// counts each retry as a call and a rate-limit wait, and heartbeats
// while go-tfe waits.
func TestTerraformRateLimitRiddenOutByGoTFE(t *testing.T) {
	e := newTFEnv(t)
	m := &recordedMetrics{}
	e.act.opts = newOptions([]Option{WithMetrics(m)})
	var beats int
	e.act.policy.record = func(context.Context, PushProgress) { beats++ }
	e.emu.Faults.Add(faults.Rule{Op: "GET " + e.varsPath(tfWorkspaceTarget), Status: http.StatusTooManyRequests,
		Header: http.Header{"X-Ratelimit-Reset": {"0.2"}}, Times: 2})
	start := time.Now()
	res, err := e.act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "go-tfe waited X-RateLimit-Reset each time")
	require.Equal(t, 6, res.Calls)
	require.Equal(t, []string{"terraform", "terraform"}, m.waits)
	require.GreaterOrEqual(t, beats, 2)
	require.Equal(t, []string{"terraform terraform-workspace confirmed"}, m.pushes)
}

// A rate limit that outlasts go-tfe's 30 retries ends the attempt with
// the wait HCP Terraform asked for, for Temporal to sleep.
func TestTerraformRateLimitOutlastingGoTFE(t *testing.T) {
	if testing.Short() {
		t.Skip("go-tfe retries 30 times")
	}
	e := newTFEnv(t)
	e.emu.Faults.Add(faults.Rule{Op: "GET " + e.varsPath(tfWorkspaceTarget), Status: http.StatusTooManyRequests,
		Header: http.Header{"X-Ratelimit-Reset": {"0.001"}}})
	_, err := e.act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	tfNoLeak(t, err, tfWorkspaceTarget)
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, TypeRateLimited, ae.Type())
	require.False(t, ae.NonRetryable())
	require.Equal(t, time.Second, ae.NextRetryDelay())
	require.Equal(t, 31, e.calls()["GET "+e.varsPath(tfWorkspaceTarget)], "go-tfe's call and its 30 retries, not repeated in place")
}

func TestTerraformErrors(t *testing.T) {
	missingWS := model.Target{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "nope", Category: "env"}}
	missingVS := model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS", Category: "env"}}
	otherOrg := model.Target{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "initech", Workspace: "api", Category: "env"}}
	tests := []struct {
		name      string
		target    model.Target
		token     string
		access    tfeemu.Access
		names     model.SecretNames
		seed      bool // the variables exist already
		wantType  string
		wantFinal bool
		wantText  string
		wantCalls int
	}{
		{"unknown token", tfWorkspaceTarget, "atlasv1-nope", 0, model.SecretNames{}, false, TypeUnauthorized, true, "HTTP 401", 1},
		{"missing workspace", missingWS, tfToken, 0, model.SecretNames{}, false, TypeNotFound, true, "read the workspace: HTTP 404", 1},
		{"missing organization", otherOrg, tfToken, 0, model.SecretNames{}, false, TypeNotFound, true, "HTTP 404", 1},
		{"a set whose name only contains the target's", missingVS, tfToken, 0, model.SecretNames{}, false, TypeNotFound, true, `organization acme has no variable set named "AWS"`, 1},
		{"read-only token, workspace", tfWorkspaceTarget, "atlasv1-read-only", tfeemu.ReadVariables, model.SecretNames{}, false, TypeUnauthorized, true, "may read the workspace but not write its variables", 1},
		{"read-only token, variable set", tfVarSetTarget, "atlasv1-read-only", tfeemu.ReadVariables, model.SecretNames{}, false, TypeNotFound, true, "create variable AWS_ACCESS_KEY_ID: HTTP 404", 3},
		{"read-only token, variable set, existing variables", tfVarSetTarget, "atlasv1-read-only", tfeemu.ReadVariables, model.SecretNames{}, true, TypeNotFound, true, "the token may not write variables there", 4},
		{"a key HCP Terraform refuses", tfWorkspaceTarget, tfToken, 0, model.SecretNames{AccessKeyID: "AWS-KEY-ID", SecretAccessKey: "AWS_SECRET_ACCESS_KEY"}, false, TypeUnprocessable, true, "HTTP 422: invalid attribute Key is not a valid environment variable name", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := []model.Target{tt.target}
			e := newTFEnv(t, targets...)
			if tt.access != 0 {
				e.emu.AddToken(tt.token, tt.access)
			}
			if tt.seed {
				for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
					_, err := e.emu.SetVariable(e.ownerID(tt.target), tfeemu.Variable{Key: key, Value: "old", Sensitive: true})
					require.NoError(t, err)
				}
			}
			act := e.activity(tt.token, pushConfig(tt.names, targets...))
			_, err := act.push(context.Background(), tfInput(tt.target, tfKeyID, tfSecret))
			tfNoLeak(t, err, tt.target)
			requireAppError(t, err, tt.wantType, tt.wantFinal)
			require.Contains(t, err.Error(), tt.wantText)
			total := 0
			for _, n := range e.calls() {
				total += n
			}
			require.Equal(t, tt.wantCalls, total, e.calls())
			if tt.wantType != TypeUnprocessable {
				for _, v := range e.emu.Variables(e.ownerID(tt.target)) {
					require.Equal(t, "old", v.Value, "nothing was written")
				}
			}
		})
	}
}

// A persistent 5xx ends the attempt retryable, after the policy's tries.
func TestTerraformOutage(t *testing.T) {
	e := newTFEnv(t)
	e.emu.Faults.Add(faults.Rule{Op: e.findPath(tfVarSetTarget), Status: http.StatusServiceUnavailable})
	_, err := e.act.push(context.Background(), tfInput(tfVarSetTarget, tfKeyID, tfSecret))
	tfNoLeak(t, err, tfVarSetTarget)
	var ae *temporal.ApplicationError
	require.False(t, errors.As(err, &ae) && ae.NonRetryable(), "retryable: %v", err)
	require.Contains(t, err.Error(), "find the variable set: HTTP 503")
	require.Equal(t, testCallPolicy.tries, e.calls()[e.findPath(tfVarSetTarget)])
}

// An unreachable server fails the attempt retryable, and the client is
// made by a later call once it answers.
func TestTerraformUnreachable(t *testing.T) {
	e := newTFEnv(t)
	var down atomic.Bool
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			// Hang up without an answer, as a server going away does.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		e.emu.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	act := e.activity(tfToken, pushConfig(model.SecretNames{}, tfWorkspaceTarget))
	_, err := act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	tfNoLeak(t, err, tfWorkspaceTarget)
	var ae *temporal.ApplicationError
	require.False(t, errors.As(err, &ae) && ae.NonRetryable(), "retryable: %v", err)
	require.Zero(t, e.emu.Faults.Total())
	down.Store(false)
	res, err := act.push(context.Background(), tfInput(tfWorkspaceTarget, tfKeyID, tfSecret))
	require.NoError(t, err)
	require.Equal(t, 4, res.Calls)
	require.Equal(t, 1, e.emu.Faults.Calls()["GET /api/v2/ping"])
}

// A target the worker does not configure is refused before any call,
// the ping included.
func TestTerraformRefusesUnconfiguredTarget(t *testing.T) {
	e := newTFEnv(t, tfWorkspaceTarget)
	for _, target := range []model.Target{
		tfVarSetTarget,
		{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "api", Category: "terraform"}},
		{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "evil", Workspace: "api", Category: "env"}},
	} {
		_, err := e.act.push(context.Background(), tfInput(target, tfKeyID, tfSecret))
		requireAppError(t, err, TypeNotConfigured, true)
	}
	require.Zero(t, e.emu.Faults.Total())
}

func TestTerraformCheck(t *testing.T) {
	e := newTFEnv(t)
	e.emu.AddToken("atlasv1-read-only", tfeemu.ReadVariables)
	readOnly := e.activity("atlasv1-read-only", pushConfig(model.SecretNames{}))
	missing := model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS", Category: "env"}}
	tests := []struct {
		name   string
		act    *Terraform
		target model.Target
		ok     bool
		detail string
	}{
		{"workspace", e.act, tfWorkspaceTarget, true, "read the workspace: the token may write its variables"},
		{"variable set", e.act, tfVarSetTarget, true, "found the variable set and listed its variables"},
		{"read-only workspace", readOnly, tfWorkspaceTarget, false, "may read the workspace but not write its variables"},
		{"missing variable set", e.act, missing, false, `organization acme has no variable set named "AWS"`},
		{"unknown token", e.activity("atlasv1-nope", pushConfig(model.SecretNames{})), tfWorkspaceTarget, false, "cannot read the workspace: 401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.act.check(context.Background(), tt.target)
			require.Equal(t, tt.ok, c.OK, c.Detail)
			require.Contains(t, c.Detail, tt.detail)
		})
	}
	for op := range e.emu.Faults.Calls() {
		require.True(t, strings.HasPrefix(op, "GET "), "the check only reads: %s", op)
	}
}

// A write whose answer does not show a new version-id is not confirmed:
// retryable, and nothing is recorded for it, so the next attempt writes it
// again.
func TestTerraformWriteAnswerMustShowANewVersion(t *testing.T) {
	e := newTFEnv(t)
	seeded, err := e.emu.SetVariable(e.wsID, tfeemu.Variable{Key: "AWS_ACCESS_KEY_ID", Value: "old", Sensitive: true})
	require.NoError(t, err)
	stale := `{"data":{"id":"` + seeded.ID + `","type":"vars","attributes":{"key":"AWS_ACCESS_KEY_ID","value":null,"category":"env","sensitive":true,"hcl":false,"version-id":"` + seeded.VersionID + `"}}}`
	e.emu.Faults.Add(faults.Rule{Op: "PATCH /api/v2/workspaces/" + e.wsID + "/vars/" + seeded.ID, LoseResult: true, Status: http.StatusOK, Body: stale, Times: 1})
	targets := NewTargets(e.act)
	tl := newTemporalLike(t, targets)
	attempts := tl.run(targets.PushToTarget, tfInput(tfWorkspaceTarget, tfKeyID, tfSecret), 3)
	require.Len(t, attempts, 2)
	tfNoLeak(t, attempts[0].err, tfWorkspaceTarget)
	requireAppError(t, attempts[0].err, TypeNotConfirmed, false)
	require.Contains(t, attempts[0].err.Error(), "the write of variable AWS_ACCESS_KEY_ID was answered without a new version-id; writing again")
	require.NoError(t, attempts[1].err)
	require.Equal(t, 4, attempts[1].res.Calls, "both written")
}

// Pushes ride out a storm: a quarter of the answers are 502s, a quarter
// 429s (which go-tfe waits out), and an eighth of the writes are made but
// their answers lost. Every push completes with the production policy,
// and each target ends with exactly its two variables, holding the key.
func TestTerraformRidesOutAStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out rate limits")
	}
	for seed := uint64(1); seed <= 3; seed++ {
		e := newTFEnv(t)
		e.act.policy = defaultCallPolicy
		e.emu.Faults.Add(faults.Rule{Op: "/vars", LoseResult: true, Status: http.StatusBadGateway, Rate: 1.0 / 8, Seed: seed})
		e.emu.Faults.Add(faults.Rule{Op: "/api/v2/", Status: http.StatusBadGateway, Rate: 1.0 / 4, Seed: seed + 10})
		e.emu.Faults.Add(faults.Rule{Op: "/api/v2/", Status: http.StatusTooManyRequests, Header: http.Header{"X-Ratelimit-Reset": {"0.01"}}, Rate: 1.0 / 4, Seed: seed + 20})
		targets := NewTargets(e.act)
		for _, target := range []model.Target{tfWorkspaceTarget, tfVarSetTarget} {
			tl := newTemporalLike(t, targets)
			attempts := tl.run(targets.PushToTarget, tfInput(target, tfKeyID, tfSecret), 10)
			last := attempts[len(attempts)-1]
			require.NoError(t, last.err, "seed %d %s", seed, target)
			vars := e.emu.Variables(e.ownerID(target))
			require.Len(t, vars, 2)
			for _, v := range vars {
				require.True(t, v.Sensitive)
			}
			id, _ := e.emu.Variable(e.ownerID(target), tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID")
			secret, _ := e.emu.Variable(e.ownerID(target), tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
			require.Equal(t, tfKeyID, id.Value)
			require.Equal(t, tfSecret, secret.Value)
			t.Logf("seed %d %-32s %d attempt(s), %2d calls in the successful one", seed, target, len(attempts), last.res.Calls)
		}
	}
}
