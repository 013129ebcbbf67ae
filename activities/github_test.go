package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	ghToken     = "ghs_activity_test_token"
	ghKeyID     = "AKIAIOSFODNN7EXAMPLE"
	ghKeySecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// ghEnv is a seeded GitHub emulator served over HTTP.
type ghEnv struct {
	emu *githubemu.Emulator
	srv *httptest.Server
	ids map[string]int64
}

// newGHEnv seeds organization acme with repositories api and web (web has
// environment production), and other/lib outside the organization.
// wrap, when set, wraps the emulator's handler (to act between calls).
func newGHEnv(t *testing.T, wrap func(*githubemu.Emulator, http.Handler) http.Handler) *ghEnv {
	t.Helper()
	emu := githubemu.New(ghToken)
	emu.AddToken("ghs_without_access", false)
	emu.AddOrg("acme")
	ids := map[string]int64{}
	for _, r := range []string{"acme/api", "acme/web", "other/lib"} {
		ids[r] = emu.AddRepo(r)
	}
	emu.AddEnvironment("acme/web", "production")
	h := emu.Handler()
	if wrap != nil {
		h = wrap(emu, h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &ghEnv{emu: emu, srv: srv, ids: ids}
}

// activity builds the activity on a fresh go-github client, the way the
// worker does, pointed at the emulator, with the worker configuration rs.
func (e *ghEnv) activity(t *testing.T, token string, timeout time.Duration, rs Rotations) *GitHub {
	t.Helper()
	hc := &http.Client{Transport: e.srv.Client().Transport, Timeout: timeout}
	c := github.NewClient(hc).WithAuthToken(token)
	base, err := url.Parse(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = base
	act := NewGitHub(c, testSealer(), rs)
	act.policy = testCallPolicy
	return act
}

func pushInput(target model.Target) PushInput {
	return pushInputFor(target, mustSeal(ghKeyID, ghKeySecret))
}

var (
	repoTarget = model.Target{Kind: model.GitHubRepository, Repository: "acme/api"}
	envTarget  = model.Target{Kind: model.GitHubEnvironment, Repository: "acme/web", Environment: "production"}
	orgTarget  = model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: model.VisibilityPrivate}
)

func TestGitHubPushTargets(t *testing.T) {
	tests := []struct {
		name       string
		target     model.Target
		names      model.SecretNames
		scope      string // emulator scope holding the secrets
		maxCalls   int
		visibility string
		selected   []string
	}{
		{name: "repository", target: repoTarget, scope: "acme/api", maxCalls: 4},
		{name: "environment", target: envTarget, scope: "acme/web@production", maxCalls: 4},
		{name: "custom names", target: repoTarget, scope: "acme/api", maxCalls: 4,
			names: model.SecretNames{AccessKeyID: "DEPLOY_KEY_ID", SecretAccessKey: "DEPLOY_SECRET"}},
		{name: "organization private", target: orgTarget, scope: "org:acme", maxCalls: 4, visibility: "private"},
		{name: "organization default visibility", target: model.Target{Kind: model.GitHubOrganization, Organization: "acme"},
			scope: "org:acme", maxCalls: 4, visibility: "private"},
		{name: "organization all", target: model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "all"},
			scope: "org:acme", maxCalls: 4, visibility: "all"},
		// 2 lookups, 2 reads of the secrets' current selection, key, 2 puts,
		// list, 2 reads of the selection to confirm it.
		{name: "organization selected", scope: "org:acme", maxCalls: 10, visibility: "selected", selected: []string{"acme/api", "acme/web"},
			target: model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"web", "acme/api", "web"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGHEnv(t, nil)
			in := pushInput(tt.target)
			names := tt.names
			if names == (model.SecretNames{}) {
				names = model.DefaultSecretNames
			}
			before := time.Now()
			res, err := env.activity(t, ghToken, 0, pushConfig(names, tt.target)).PushGitHubSecret(context.Background(), in)
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			assertStored(t, env.emu, tt.scope, names.AccessKeyID, ghKeyID, before)
			assertStored(t, env.emu, tt.scope, names.SecretAccessKey, ghKeySecret, before)
			if res.Target != tt.target.String() || res.ConfirmedAt.Before(before) {
				t.Errorf("result %+v", res)
			}
			if total := env.emu.Faults.Total(); res.Calls != total || total > tt.maxCalls {
				t.Errorf("calls: result says %d, emulator counted %d (%v), want at most %d", res.Calls, total, env.emu.Faults.Calls(), tt.maxCalls)
			}
			if tt.visibility != "" {
				for _, n := range []string{names.AccessKeyID, names.SecretAccessKey} {
					if got := env.emu.OrgSecretVisibility("acme", n); got != tt.visibility {
						t.Errorf("%s visibility %q, want %q", n, got, tt.visibility)
					}
					if got, want := env.emu.OrgSecretRepos("acme", n), env.idsOf(tt.selected); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s selected %v, want %v", n, got, want)
					}
				}
			}
		})
	}
}

func (e *ghEnv) idsOf(repos []string) []int64 {
	var out []int64
	for _, r := range repos {
		out = append(out, e.ids[r])
	}
	return out
}

func assertStored(t *testing.T, emu *githubemu.Emulator, scope, name, want string, after time.Time) {
	t.Helper()
	got, updated, ok := emu.Secret(scope, name)
	if !ok || got != want {
		t.Errorf("%s %s: emulator decrypted %q (present %v), want %q", scope, name, got, ok, want)
	}
	if updated.Before(after) {
		t.Errorf("%s %s: updated at %v, before the push started %v", scope, name, updated, after)
	}
}

// TestGitHubPushTwice checks that a second rotation overwrites the first
// and is confirmed too (the read-back sees the newer updated_at).
func TestGitHubPushTwice(t *testing.T) {
	env := newGHEnv(t, nil)
	act := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, repoTarget))
	if _, err := act.PushGitHubSecret(context.Background(), pushInput(repoTarget)); err != nil {
		t.Fatal(err)
	}
	in := pushInput(repoTarget)
	in.Key = mustSeal("AKIANEWKEYEXAMPLE000", "second-secret-value")
	res, err := act.PushGitHubSecret(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// The second push uses the public key the worker cached: 2 writes and
	// the read-back.
	if v, _, _ := env.emu.Secret("acme/api", "AWS_SECRET_ACCESS_KEY"); v != "second-secret-value" || res.Calls != 3 {
		t.Errorf("stored %q in %d calls", v, res.Calls)
	}
}

// rotateKeyAfterFetch rotates the repository's public key right after a
// client fetched it, as if GitHub rotated it mid-push.
func rotateKeyAfterFetch(emu *githubemu.Emulator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/acme/api/actions/secrets/public-key") {
			emu.RotatePublicKey("acme/api")
		}
	})
}

// failPath answers status to exactly one method and path (fault rules match
// substrings, and the list path is a prefix of the public-key path).
func failPath(method, path string, status int) func(*githubemu.Emulator, http.Handler) http.Handler {
	return func(_ *githubemu.Emulator, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == method && r.URL.Path == path {
				http.Error(w, `{"message":"Server Error"}`, status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestGitHubPushErrors(t *testing.T) {
	reset := time.Now().Add(90 * time.Second)
	tests := []struct {
		name      string
		target    model.Target
		token     string
		timeout   time.Duration
		wrap      func(*githubemu.Emulator, http.Handler) http.Handler
		fault     *faults.Rule
		wantType  string        // "" means a plain retryable error
		retryable bool          // for ApplicationErrors
		wantDelay time.Duration // NextRetryDelay, ±2s
	}{
		{name: "bad token 401", target: repoTarget, token: "ghs_wrong", wantType: TypeUnauthorized},
		{name: "token without access 403", target: envTarget, token: "ghs_without_access", wantType: TypeUnauthorized},
		{name: "unknown repository 404", target: model.Target{Kind: model.GitHubRepository, Repository: "acme/nope"}, wantType: TypeNotFound},
		{name: "unknown environment 404", target: model.Target{Kind: model.GitHubEnvironment, Repository: "acme/web", Environment: "staging"}, wantType: TypeNotFound},
		{name: "unknown organization 404", target: model.Target{Kind: model.GitHubOrganization, Organization: "nope", Visibility: "all"}, wantType: TypeNotFound},
		{name: "unknown selected repository 404", wantType: TypeNotFound,
			target: model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"api", "nope"}}},
		{name: "selected repository outside organization 422", wantType: TypeUnprocessable,
			target: model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"other/lib"}}},
		{name: "public key rotated mid-push 422", target: repoTarget, wrap: rotateKeyAfterFetch, wantType: TypeStalePublicKey, retryable: true},
		{name: "422 echoing the secret", target: repoTarget, wantType: TypeUnprocessable,
			fault: &faults.Rule{Op: "PUT ", Status: 422, Body: `{"message":"cannot store ` + ghKeySecret + `"}`, Times: 1}},
		{name: "invalid target", target: model.Target{Kind: model.GitHubRepository, Repository: "no-slash"}, wantType: TypeValidation},
		{name: "429 with Retry-After", target: repoTarget, wantType: TypeRateLimited, retryable: true, wantDelay: 7 * time.Second,
			fault: ptr(githubemu.SecondaryRateLimit("PUT ", http.StatusTooManyRequests, 7*time.Second, 1))},
		{name: "403 secondary limit with Retry-After", target: envTarget, wantType: TypeRateLimited, retryable: true, wantDelay: 30 * time.Second,
			fault: ptr(githubemu.SecondaryRateLimit("public-key", http.StatusForbidden, 30*time.Second, 1))},
		{name: "403 secondary limit without Retry-After", target: orgTarget, wantType: TypeRateLimited, retryable: true, wantDelay: time.Minute,
			fault: ptr(githubemu.SecondaryRateLimit("GET /orgs", http.StatusForbidden, 0, 1))},
		{name: "403 plain Retry-After", target: repoTarget, wantType: TypeRateLimited, retryable: true, wantDelay: 12 * time.Second,
			fault: &faults.Rule{Op: "GET ", Status: http.StatusForbidden, RetryAfter: 12 * time.Second, Times: 1}},
		{name: "403 primary limit", target: repoTarget, wantType: TypeRateLimited, retryable: true, wantDelay: 90 * time.Second,
			fault: ptr(githubemu.PrimaryRateLimit("secrets", reset, 1))},
		{name: "503 on every try", target: repoTarget, fault: &faults.Rule{Op: "PUT ", Status: 503}},
		{name: "500 on read-back", target: orgTarget, wrap: failPath(http.MethodGet, "/orgs/acme/actions/secrets", 500)},
		{name: "timeout on every try", target: repoTarget, timeout: 200 * time.Millisecond, fault: &faults.Rule{Op: "public-key", Delay: 2 * time.Second}},
		{name: "write not visible in read-back", target: repoTarget, wantType: TypeNotConfirmed, retryable: true,
			fault: &faults.Rule{Op: "PUT /repos/acme/api/actions/secrets/AWS_SECRET_ACCESS_KEY", Status: http.StatusNoContent, Times: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGHEnv(t, tt.wrap)
			if tt.fault != nil {
				env.emu.Faults.Add(*tt.fault)
			}
			token := tt.token
			if token == "" {
				token = ghToken
			}
			_, err := env.activity(t, token, tt.timeout, pushConfig(model.SecretNames{}, tt.target)).PushGitHubSecret(context.Background(), pushInput(tt.target))
			if err == nil {
				t.Fatal("push succeeded")
			}
			assertSafeError(t, err, tt.target.String())
			var ae *temporal.ApplicationError
			isApp := errors.As(err, &ae)
			if tt.wantType == "" {
				if isApp && ae.NonRetryable() {
					t.Fatalf("want a retryable error, got non-retryable %v", err)
				}
				return
			}
			if !isApp || ae.Type() != tt.wantType {
				t.Fatalf("want ApplicationError %s, got %T %v", tt.wantType, err, err)
			}
			if ae.NonRetryable() == tt.retryable {
				t.Errorf("retryable=%v, want %v: %v", !ae.NonRetryable(), tt.retryable, err)
			}
			if d := ae.NextRetryDelay() - tt.wantDelay; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("NextRetryDelay %v, want ≈%v", ae.NextRetryDelay(), tt.wantDelay)
			}
		})
	}
}

// assertSafeError checks the error names the target and never reveals the
// secret or the token, however it is printed.
func assertSafeError(t *testing.T, err error, target string) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(text, ghKeySecret) || strings.Contains(text, ghToken) {
			t.Fatalf("error leaks the secret or the token: %s", text)
		}
	}
	if !strings.Contains(err.Error(), target) {
		t.Errorf("error does not name target %q: %v", target, err)
	}
}

// TestGitHubRidesOutFailures checks a failed call is repeated in place
// when that can help: after a short backoff for a 5xx or a timeout, after
// the provider's own wait for a short rate limit. A rate limit longer than
// the policy sleeps through ends the attempt at once, with GitHub's wait
// as NextRetryDelay, and a refusal is never repeated.
func TestGitHubRidesOutFailures(t *testing.T) {
	tests := []struct {
		name      string
		fault     faults.Rule
		wantCalls int           // of the attempt
		wantType  string        // "" for success
		wantDelay time.Duration // NextRetryDelay of a rate limit, ±2s
	}{
		{name: "502 once", fault: faults.Rule{Op: "PUT ", Status: 502, Times: 1}, wantCalls: 5},
		{name: "500 twice on the read-back", fault: faults.Rule{Op: "GET /repos/acme/api/actions/secrets", Status: 500, Times: 2}, wantCalls: 6},
		{name: "short secondary limit (403 + Retry-After)", fault: githubemu.SecondaryRateLimit("PUT ", http.StatusForbidden, time.Second, 1), wantCalls: 5},
		{name: "short 429 + Retry-After", fault: githubemu.SecondaryRateLimit("public-key", http.StatusTooManyRequests, time.Second, 1), wantCalls: 5},
		{name: "short primary limit", fault: githubemu.PrimaryRateLimit("PUT ", time.Now().Add(time.Second), 1), wantCalls: 5},
		{name: "long secondary limit", fault: githubemu.SecondaryRateLimit("PUT ", http.StatusForbidden, 10*time.Second, 1),
			wantCalls: 2, wantType: TypeRateLimited, wantDelay: 10 * time.Second},
		{name: "long primary limit", fault: githubemu.PrimaryRateLimit("PUT ", time.Now().Add(time.Hour), 1),
			wantCalls: 2, wantType: TypeRateLimited, wantDelay: time.Hour},
		{name: "422 is not repeated", fault: faults.Rule{Op: "PUT ", Status: 422, Times: 1}, wantCalls: 2, wantType: TypeUnprocessable},
		{name: "404 is not repeated", fault: faults.Rule{Op: "public-key", Status: 404, Times: 1}, wantCalls: 1, wantType: TypeNotFound},
		{name: "plain 403 is not repeated", fault: faults.Rule{Op: "public-key", Status: 403, Times: 1}, wantCalls: 1, wantType: TypeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGHEnv(t, nil)
			env.emu.Faults.Add(tt.fault)
			res, err := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, repoTarget)).PushGitHubSecret(context.Background(), pushInput(repoTarget))
			if n := env.emu.Faults.Total(); n != tt.wantCalls {
				t.Errorf("%d calls, want %d: %v", n, tt.wantCalls, env.emu.Faults.Calls())
			}
			if tt.wantType == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Calls != tt.wantCalls {
					t.Errorf("result counts %d calls, want %d", res.Calls, tt.wantCalls)
				}
				assertStored(t, env.emu, "acme/api", "AWS_SECRET_ACCESS_KEY", ghKeySecret, time.Time{})
				return
			}
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) || ae.Type() != tt.wantType {
				t.Fatalf("want %s, got %v", tt.wantType, err)
			}
			assertSafeError(t, err, repoTarget.String())
			// The table was built up to a few seconds ago.
			if d := ae.NextRetryDelay() - tt.wantDelay; d < -5*time.Second || d > 2*time.Second {
				t.Errorf("NextRetryDelay %v, want ≈%v", ae.NextRetryDelay(), tt.wantDelay)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestGitHubSecretNamesIgnoreCase: GitHub stores and lists secret names in
// upper case, so names configured in lower case are written and confirmed
// as GitHub shows them.
func TestGitHubSecretNamesIgnoreCase(t *testing.T) {
	names := model.SecretNames{AccessKeyID: "aws_access_key_id", SecretAccessKey: "Deploy_Secret"}
	for _, target := range []model.Target{repoTarget, envTarget, orgTarget} {
		t.Run(target.String(), func(t *testing.T) {
			env := newGHEnv(t, nil)
			res, err := env.activity(t, ghToken, 0, pushConfig(names, target)).PushGitHubSecret(context.Background(), pushInput(target))
			if err != nil {
				t.Fatal(err)
			}
			if res.Calls != 4 {
				t.Errorf("%d calls, want 4", res.Calls)
			}
			scope := map[model.TargetKind]string{model.GitHubRepository: "acme/api", model.GitHubEnvironment: "acme/web@production", model.GitHubOrganization: "org:acme"}[target.Kind]
			assertStored(t, env.emu, scope, "AWS_ACCESS_KEY_ID", ghKeyID, time.Time{})
			assertStored(t, env.emu, scope, "DEPLOY_SECRET", ghKeySecret, time.Time{})
		})
	}
}

// TestGitHubSameNameInTwoCases: two configured names that differ only in
// case are one GitHub secret, and refused before any call.
func TestGitHubSameNameInTwoCases(t *testing.T) {
	env := newGHEnv(t, nil)
	names := model.SecretNames{AccessKeyID: "AWS_KEY", SecretAccessKey: "aws_key"}
	_, err := env.activity(t, ghToken, 0, pushConfig(names, repoTarget)).PushGitHubSecret(context.Background(), pushInput(repoTarget))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != TypeValidation || env.emu.Faults.Total() != 0 {
		t.Fatalf("got %v after %d calls, want %s before any", err, env.emu.Faults.Total(), TypeValidation)
	}
}

// TestGitHubOrgSecretKeepsRepositoriesGrantedByHand: a rotation writes
// selected_repository_ids, which replaces the list; repositories a person
// gave access to the secret keep it, and the configured ones are confirmed.
func TestGitHubOrgSecretKeepsRepositoriesGrantedByHand(t *testing.T) {
	env := newGHEnv(t, nil)
	handID := env.emu.AddRepo("acme/tools")
	target := model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"api"}}
	act := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, target))
	if _, err := act.PushGitHubSecret(context.Background(), pushInput(target)); err != nil {
		t.Fatal(err)
	}
	// A person shares the secret with one more repository, over the API the
	// organization settings page uses.
	c := github.NewClient(env.srv.Client()).WithAuthToken(ghToken)
	c.BaseURL, _ = url.Parse(env.srv.URL + "/")
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if _, err := c.Actions.AddSelectedRepoToOrgSecret(context.Background(), "acme", name, &github.Repository{ID: &handID}); err != nil {
			t.Fatal(err)
		}
	}
	env.emu.Faults.ResetCalls()

	in := pushInput(target)
	in.Key = mustSeal("AKIANEWKEYEXAMPLE000", "second-secret-value")
	res, err := act.PushGitHubSecret(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{env.ids["acme/api"], handID}
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if got := env.emu.OrgSecretRepos("acme", name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s shared with %v, want %v (the configured repository and the one granted by hand)", name, got, want)
		}
	}
	if v, _, _ := env.emu.Secret("org:acme", "AWS_SECRET_ACCESS_KEY"); v != "second-secret-value" {
		t.Errorf("stored %q", v)
	}
	// 2 selection reads, 2 puts, list, 2 selection reads: the repository's
	// ID and the public key are the worker's from the first push.
	if res.Calls != 7 || env.emu.Faults.Total() != 7 {
		t.Errorf("%d calls (emulator %d), want 7: %v", res.Calls, env.emu.Faults.Total(), env.emu.Faults.Calls())
	}
}

// TestGitHubOrgSelectionNotConfirmed: a configured repository that the
// secret is not shared with after the write fails the read-back.
func TestGitHubOrgSelectionNotConfirmed(t *testing.T) {
	target := model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"api", "web"}}
	// The selection GitHub reports after the write lacks acme/web.
	env := newGHEnv(t, func(emu *githubemu.Emulator, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/repositories") && emu.OrgSecretRepos("acme", "AWS_ACCESS_KEY_ID") != nil {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"total_count":1,"repositories":[{"id":%d,"name":"api","full_name":"acme/api"}]}`, emu.OrgSecretRepos("acme", "AWS_ACCESS_KEY_ID")[0])
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, err := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, target)).PushGitHubSecret(context.Background(), pushInput(target))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != TypeNotConfirmed || !strings.Contains(err.Error(), "not shared with acme/web") {
		t.Fatalf("got %v, want %s naming acme/web", err, TypeNotConfirmed)
	}
}

// A public key the worker cached is fetched again when GitHub refuses a
// write for its key_id (GitHub rotated it between rotations).
func TestGitHubCachedKeyRefreshedWhenRotated(t *testing.T) {
	env := newGHEnv(t, nil)
	act := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, repoTarget))
	if _, err := act.PushGitHubSecret(context.Background(), pushInput(repoTarget)); err != nil {
		t.Fatal(err)
	}
	env.emu.RotatePublicKey("acme/api")
	env.emu.Faults.ResetCalls()
	in := pushInput(repoTarget)
	in.Key = mustSeal("AKIANEWKEYEXAMPLE000", "second-secret-value")
	res, err := act.PushGitHubSecret(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := env.emu.Secret("acme/api", "AWS_SECRET_ACCESS_KEY"); v != "second-secret-value" {
		t.Errorf("stored %q", v)
	}
	// The refused write, the key, both writes, the read-back.
	if res.Calls != 5 {
		t.Errorf("%d calls, want 5: %v", res.Calls, env.emu.Faults.Calls())
	}
}

// A rotation's preflight and push spend the protocol's minimum on a target
// the worker confirmed within preflightTrust: 2 writes and 1 read-back. The
// first rotation adds one read of the public key, which the push then seals
// with; once the trust has passed, the preflight checks again.
func TestPreflightTrustsRecentPushes(t *testing.T) {
	env := newGHEnv(t, nil)
	rs := pushConfig(model.SecretNames{}, repoTarget)
	gh := env.activity(t, ghToken, 0, rs)
	acts := NewTargetsFor(rs, gh)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	acts.now = func() time.Time { return now }
	ctx := context.Background()
	rotate := func() (calls int, check TargetCheck) {
		t.Helper()
		before := env.emu.Faults.Total()
		pre, err := acts.PreflightTargets(ctx, PreflightTargetsInput{Account: pushAccount, User: pushUser})
		if err != nil || len(pre.Checks) != 1 || !pre.Checks[0].OK {
			t.Fatalf("preflight: %+v %v", pre, err)
		}
		if _, err := acts.PushToTarget(ctx, pushInput(repoTarget)); err != nil {
			t.Fatal(err)
		}
		return env.emu.Faults.Total() - before, pre.Checks[0]
	}
	tests := []struct {
		name      string
		advance   time.Duration
		calls     int
		checkSays string
	}{
		{"first rotation: the public key, 2 writes, 1 read-back", 0, 4, "read the Actions secrets public key"},
		{"within the trust: 2 writes, 1 read-back", 30 * time.Minute, 3, "this worker wrote and confirmed it 30m0s ago; not checked again"},
		{"after it: checked again", preflightTrust + time.Minute, 4, "read the Actions secrets public key"},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		calls, check := rotate()
		if calls != tt.calls || check.Detail != tt.checkSays {
			t.Errorf("%s: %d calls, check %q", tt.name, calls, check.Detail)
		}
	}
}
