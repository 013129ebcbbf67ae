package githubemu

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

const testToken = "ghs_test_token"

// fixture is a seeded emulator served over HTTP, with a go-github client.
type fixture struct {
	emu    *Emulator
	srv    *httptest.Server
	client *github.Client
	repoID int64
	envID  int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	emu := New(testToken)
	repoID := emu.AddRepo("acme/api")
	emu.AddEnvironment("acme/web", "production")
	envID := emu.AddRepo("acme/web")
	emu.AddRepo("other/lib")
	emu.AddOrg("acme")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return &fixture{emu: emu, srv: srv, client: clientFor(t, srv, testToken), repoID: repoID, envID: envID}
}

// clientFor builds a fresh go-github client (fresh rate-limit memory) for srv.
func clientFor(t *testing.T, srv *httptest.Server, token string) *github.Client {
	t.Helper()
	c := github.NewClient(srv.Client())
	if token != "" {
		c = c.WithAuthToken(token)
	}
	u, err := url.Parse(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// seal encrypts value for pk the way GitHub's documentation asks.
func seal(t *testing.T, pk *github.PublicKey, value string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(pk.GetKey())
	if err != nil || len(raw) != 32 {
		t.Fatalf("public key %q is not a base64 curve25519 key: %v", pk.GetKey(), err)
	}
	var key [32]byte
	copy(key[:], raw)
	sealed, err := box.SealAnonymous(nil, []byte(value), &key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sealed)
}

// statusOf returns the HTTP status of a go-github error.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// scopeAPI drives one kind of scope through go-github.
type scopeAPI struct {
	name  string // scope name for Emulator.Secret
	key   func(context.Context, *github.Client) (*github.PublicKey, *github.Response, error)
	put   func(context.Context, *github.Client, *github.EncryptedSecret) (*github.Response, error)
	get   func(context.Context, *github.Client, string) (*github.Secret, *github.Response, error)
	list  func(context.Context, *github.Client) (*github.Secrets, *github.Response, error)
	extra func(*github.EncryptedSecret) // adds org-only fields
}

func scopes(f *fixture) []scopeAPI {
	return []scopeAPI{
		{
			name: "acme/api",
			key: func(ctx context.Context, c *github.Client) (*github.PublicKey, *github.Response, error) {
				return c.Actions.GetRepoPublicKey(ctx, "acme", "api")
			},
			put: func(ctx context.Context, c *github.Client, s *github.EncryptedSecret) (*github.Response, error) {
				return c.Actions.CreateOrUpdateRepoSecret(ctx, "acme", "api", s)
			},
			get: func(ctx context.Context, c *github.Client, n string) (*github.Secret, *github.Response, error) {
				return c.Actions.GetRepoSecret(ctx, "acme", "api", n)
			},
			list: func(ctx context.Context, c *github.Client) (*github.Secrets, *github.Response, error) {
				return c.Actions.ListRepoSecrets(ctx, "acme", "api", nil)
			},
		},
		{
			name: "acme/web@production",
			key: func(ctx context.Context, c *github.Client) (*github.PublicKey, *github.Response, error) {
				return c.Actions.GetEnvPublicKey(ctx, int(f.envID), "production")
			},
			put: func(ctx context.Context, c *github.Client, s *github.EncryptedSecret) (*github.Response, error) {
				return c.Actions.CreateOrUpdateEnvSecret(ctx, int(f.envID), "production", s)
			},
			get: func(ctx context.Context, c *github.Client, n string) (*github.Secret, *github.Response, error) {
				return c.Actions.GetEnvSecret(ctx, int(f.envID), "production", n)
			},
			list: func(ctx context.Context, c *github.Client) (*github.Secrets, *github.Response, error) {
				return c.Actions.ListEnvSecrets(ctx, int(f.envID), "production", nil)
			},
		},
		{
			name: "org:acme",
			key: func(ctx context.Context, c *github.Client) (*github.PublicKey, *github.Response, error) {
				return c.Actions.GetOrgPublicKey(ctx, "acme")
			},
			put: func(ctx context.Context, c *github.Client, s *github.EncryptedSecret) (*github.Response, error) {
				return c.Actions.CreateOrUpdateOrgSecret(ctx, "acme", s)
			},
			get: func(ctx context.Context, c *github.Client, n string) (*github.Secret, *github.Response, error) {
				return c.Actions.GetOrgSecret(ctx, "acme", n)
			},
			list: func(ctx context.Context, c *github.Client) (*github.Secrets, *github.Response, error) {
				return c.Actions.ListOrgSecrets(ctx, "acme", nil)
			},
			extra: func(s *github.EncryptedSecret) { s.Visibility = "private" },
		},
	}
}

func TestSealedBoxRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, sc := range scopes(f) {
		t.Run(sc.name, func(t *testing.T) {
			pk, _, err := sc.key(ctx, f.client)
			if err != nil {
				t.Fatalf("public key: %v", err)
			}
			if pk.GetKeyID() != f.emu.PublicKeyID(sc.name) {
				t.Fatalf("key_id %q, emulator holds %q", pk.GetKeyID(), f.emu.PublicKeyID(sc.name))
			}
			var lastUpdate time.Time
			for i, want := range []struct {
				value  string
				status int
			}{{"first-value", http.StatusCreated}, {"second-value", http.StatusNoContent}} {
				es := &github.EncryptedSecret{Name: "AWS_SECRET_ACCESS_KEY", KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, want.value)}
				if sc.extra != nil {
					sc.extra(es)
				}
				resp, err := sc.put(ctx, f.client, es)
				if err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
				if resp.StatusCode != want.status {
					t.Errorf("put %d: status %d, want %d", i, resp.StatusCode, want.status)
				}
				got, updated, ok := f.emu.Secret(sc.name, "AWS_SECRET_ACCESS_KEY")
				if !ok || got != want.value {
					t.Fatalf("put %d: emulator holds %q (%v), want %q", i, got, ok, want.value)
				}
				if !updated.After(lastUpdate) {
					t.Errorf("put %d: updated_at %v did not advance past %v", i, updated, lastUpdate)
				}
				lastUpdate = updated
			}
			s, _, err := sc.get(ctx, f.client, "AWS_SECRET_ACCESS_KEY")
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if s.UpdatedAt.Time.IsZero() || s.UpdatedAt.After(lastUpdate) {
				t.Errorf("get: updated_at %v, emulator says %v", s.UpdatedAt, lastUpdate)
			}
			list, _, err := sc.list(ctx, f.client)
			if err != nil || list.TotalCount != 1 || list.Secrets[0].Name != "AWS_SECRET_ACCESS_KEY" {
				t.Fatalf("list: %+v, %v", list, err)
			}
		})
	}
}

func TestPutRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pk, _, err := f.client.Actions.GetRepoPublicKey(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := box.GenerateKey(rand.Reader)
	wrongKey := &github.PublicKey{KeyID: pk.KeyID, Key: github.String(base64.StdEncoding.EncodeToString(otherPub[:]))}

	tests := []struct {
		name   string
		secret func() *github.EncryptedSecret
		before func()
	}{
		{"wrong key_id", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "X", KeyID: "123", EncryptedValue: seal(t, pk, "v")}
		}, nil},
		{"garbage encrypted_value", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "X", KeyID: pk.GetKeyID(), EncryptedValue: base64.StdEncoding.EncodeToString([]byte("not a sealed box at all, not even close"))}
		}, nil},
		{"not base64", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "X", KeyID: pk.GetKeyID(), EncryptedValue: "%%%"}
		}, nil},
		{"sealed for another key", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "X", KeyID: pk.GetKeyID(), EncryptedValue: seal(t, wrongKey, "v")}
		}, nil},
		{"stale key after rotation", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "X", KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, "v")}
		}, func() { f.emu.RotatePublicKey("acme/api") }},
		{"invalid name", func() *github.EncryptedSecret {
			return &github.EncryptedSecret{Name: "GITHUB_TOKEN", KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, "v")}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			_, err := f.client.Actions.CreateOrUpdateRepoSecret(ctx, "acme", "api", tt.secret())
			if statusOf(err) != http.StatusUnprocessableEntity {
				t.Fatalf("got %v, want 422", err)
			}
			if _, _, ok := f.emu.Secret("acme/api", tt.secret().Name); ok {
				t.Error("a refused write was stored")
			}
		})
	}
}

func TestAuthAndNotFound(t *testing.T) {
	f := newFixture(t)
	f.emu.AddToken("ghs_no_access", false)
	ctx := context.Background()
	tests := []struct {
		name    string
		token   string
		call    func(*github.Client) error
		status  int
		message string
	}{
		{"no token", "", func(c *github.Client) error { _, _, err := c.Repositories.Get(ctx, "acme", "api"); return err }, 401, "Requires authentication"},
		{"bad token", "ghs_wrong", func(c *github.Client) error { _, _, err := c.Repositories.Get(ctx, "acme", "api"); return err }, 401, "Bad credentials"},
		{"token without access", "ghs_no_access", func(c *github.Client) error {
			_, _, err := c.Actions.GetRepoPublicKey(ctx, "acme", "api")
			return err
		}, 403, "Resource not accessible by integration"},
		{"unknown repo", testToken, func(c *github.Client) error { _, _, err := c.Actions.GetRepoPublicKey(ctx, "acme", "nope"); return err }, 404, "Not Found"},
		{"unknown env", testToken, func(c *github.Client) error {
			_, _, err := c.Actions.GetEnvPublicKey(ctx, int(f.envID), "staging")
			return err
		}, 404, "Not Found"},
		{"unknown org", testToken, func(c *github.Client) error { _, _, err := c.Actions.GetOrgPublicKey(ctx, "nope"); return err }, 404, "Not Found"},
		{"unknown secret", testToken, func(c *github.Client) error {
			_, _, err := c.Actions.GetRepoSecret(ctx, "acme", "api", "NOPE")
			return err
		}, 404, "Not Found"},
		{"unknown path", testToken, func(c *github.Client) error { _, _, err := c.Users.Get(ctx, "octocat"); return err }, 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(clientFor(t, f.srv, tt.token))
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tt.status || er.Message != tt.message {
				t.Fatalf("got %v, want %d %q", err, tt.status, tt.message)
			}
		})
	}
}

func TestRepoLookup(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, resp, err := f.client.Repositories.Get(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetID() != f.repoID || r.GetFullName() != "acme/api" || r.GetName() != "api" || r.GetOwner().GetType() != "Organization" {
		t.Errorf("repository %+v", r)
	}
	if resp.Rate.Limit != 5000 || resp.Rate.Remaining <= 0 || resp.Rate.Reset.IsZero() {
		t.Errorf("rate headers not sent: %+v", resp.Rate)
	}
	byID, _, err := f.client.Repositories.GetByID(ctx, f.repoID)
	if err != nil || byID.GetFullName() != "acme/api" {
		t.Errorf("GetByID: %v %v", byID, err)
	}
}

// TestEnvironmentByName covers the owner/repo environment paths GitHub
// documents today (go-github v60 uses repository IDs).
func TestEnvironmentByName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req, _ := f.client.NewRequest("GET", "repos/acme/web/environments/production/secrets/public-key", nil)
	var pk github.PublicKey
	if _, err := f.client.Do(ctx, req, &pk); err != nil {
		t.Fatal(err)
	}
	es := &github.EncryptedSecret{KeyID: pk.GetKeyID(), EncryptedValue: seal(t, &pk, "by-name")}
	req, _ = f.client.NewRequest("PUT", "repos/acme/web/environments/production/secrets/AWS_ACCESS_KEY_ID", es)
	if _, err := f.client.Do(ctx, req, nil); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := f.emu.Secret("acme/web@production", "AWS_ACCESS_KEY_ID"); v != "by-name" {
		t.Errorf("emulator holds %q", v)
	}
	// The same environment through go-github's repository-ID path.
	s, _, err := f.client.Actions.GetEnvSecret(ctx, int(f.envID), "production", "AWS_ACCESS_KEY_ID")
	if err != nil || s.Name != "AWS_ACCESS_KEY_ID" {
		t.Errorf("GetEnvSecret: %v %v", s, err)
	}
}

func TestOrgVisibility(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pk, _, err := f.client.Actions.GetOrgPublicKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	otherID := f.emu.AddRepo("other/lib")
	tests := []struct {
		name       string
		visibility string
		ids        []int64
		status     int // 0: success
		wantRepos  []int64
	}{
		{"selected", "selected", []int64{f.envID, f.repoID}, 0, []int64{f.repoID, f.envID}},
		{"selected outside org", "selected", []int64{f.repoID, otherID}, 422, nil},
		{"selected unknown id", "selected", []int64{42}, 422, nil},
		{"all", "all", nil, 0, nil},
		{"bad visibility", "public", nil, 422, nil},
		{"missing visibility", "", nil, 422, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "S_" + strings.ReplaceAll(strings.ToUpper(tt.name), " ", "_")
			es := &github.EncryptedSecret{Name: name, KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, "v"), Visibility: tt.visibility, SelectedRepositoryIDs: tt.ids}
			_, err := f.client.Actions.CreateOrUpdateOrgSecret(ctx, "acme", es)
			if tt.status != 0 {
				if statusOf(err) != tt.status {
					t.Fatalf("got %v, want %d", err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.emu.OrgSecretVisibility("acme", name); got != tt.visibility {
				t.Errorf("visibility %q", got)
			}
			if got := f.emu.OrgSecretRepos("acme", name); !equalIDs(got, tt.wantRepos) {
				t.Errorf("selected %v, want %v", got, tt.wantRepos)
			}
			s, _, err := f.client.Actions.GetOrgSecret(ctx, "acme", name)
			if err != nil || s.Visibility != tt.visibility {
				t.Fatalf("GetOrgSecret: %+v %v", s, err)
			}
			if tt.visibility == "selected" {
				list, _, err := f.client.Actions.ListSelectedReposForOrgSecret(ctx, "acme", name, nil)
				if err != nil || list.GetTotalCount() != len(tt.wantRepos) || list.Repositories[0].GetFullName() != "acme/api" {
					t.Errorf("selected repositories: %+v %v", list, err)
				}
			}
		})
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRateLimitErrors(t *testing.T) {
	reset := time.Now().Add(90 * time.Second).Truncate(time.Second)
	tests := []struct {
		name  string
		rule  faults.Rule
		check func(t *testing.T, err error)
	}{
		{"primary 403", PrimaryRateLimit("public-key", reset, 1), func(t *testing.T, err error) {
			var rl *github.RateLimitError
			if !errors.As(err, &rl) || !rl.Rate.Reset.Time.Equal(reset) || rl.Rate.Remaining != 0 {
				t.Fatalf("got %T %v, want *github.RateLimitError resetting at %v", err, err, reset)
			}
		}},
		{"secondary 403 with Retry-After", SecondaryRateLimit("public-key", http.StatusForbidden, 30*time.Second, 1), func(t *testing.T, err error) {
			var ab *github.AbuseRateLimitError
			if !errors.As(err, &ab) || ab.RetryAfter == nil || *ab.RetryAfter != 30*time.Second {
				t.Fatalf("got %T %v, want *github.AbuseRateLimitError with RetryAfter 30s", err, err)
			}
		}},
		{"secondary 429 with Retry-After", SecondaryRateLimit("public-key", http.StatusTooManyRequests, 7*time.Second, 1), func(t *testing.T, err error) {
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != 429 || er.Response.Header.Get("Retry-After") != "7" || !strings.Contains(er.Message, "secondary rate limit") {
				t.Fatalf("got %T %v, want a 429 ErrorResponse with Retry-After 7", err, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.emu.Faults.Add(tt.rule)
			_, _, err := f.client.Actions.GetRepoPublicKey(context.Background(), "acme", "api")
			tt.check(t, err)
			if n := f.emu.Faults.Calls()["GET /repos/acme/api/actions/secrets/public-key"]; n != 1 {
				t.Errorf("call counter %d, want 1", n)
			}
		})
	}
}

func TestEnterprisePrefixAndCounting(t *testing.T) {
	f := newFixture(t)
	c, err := github.NewClient(f.srv.Client()).WithAuthToken(testToken).WithEnterpriseURLs(f.srv.URL, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Actions.GetRepoPublicKey(context.Background(), "acme", "api"); err != nil {
		t.Fatal(err)
	}
	if n := f.emu.Faults.Calls()["GET /repos/acme/api/actions/secrets/public-key"]; n != 1 {
		t.Errorf("calls %v", f.emu.Faults.Calls())
	}
}

func TestListPagination(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pk, _, _ := f.client.Actions.GetRepoPublicKey(ctx, "acme", "api")
	for _, n := range []string{"A", "B", "C"} {
		es := &github.EncryptedSecret{Name: n, KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, n)}
		if _, err := f.client.Actions.CreateOrUpdateRepoSecret(ctx, "acme", "api", es); err != nil {
			t.Fatal(err)
		}
	}
	page, resp, err := f.client.Actions.ListRepoSecrets(ctx, "acme", "api", &github.ListOptions{PerPage: 2})
	if err != nil || len(page.Secrets) != 2 || page.TotalCount != 3 || resp.NextPage != 2 {
		t.Fatalf("page 1: %+v next=%d %v", page, resp.NextPage, err)
	}
	page, resp, err = f.client.Actions.ListRepoSecrets(ctx, "acme", "api", &github.ListOptions{PerPage: 2, Page: 2})
	if err != nil || len(page.Secrets) != 1 || page.Secrets[0].Name != "C" || resp.NextPage != 0 {
		t.Fatalf("page 2: %+v next=%d %v", page, resp.NextPage, err)
	}
}

// TestSecretNamesCaseInsensitive checks GitHub's naming: a secret written
// as "aws_key" is listed and read as AWS_KEY, and writing "Aws_Key" later
// updates the same secret.
func TestSecretNamesCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, sc := range scopes(f) {
		t.Run(sc.name, func(t *testing.T) {
			pk, _, err := sc.key(ctx, f.client)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []struct{ name, value string }{{"aws_key", "first"}, {"Aws_Key", "second"}} {
				es := &github.EncryptedSecret{Name: w.name, KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, w.value)}
				if sc.extra != nil {
					sc.extra(es)
				}
				if _, err := sc.put(ctx, f.client, es); err != nil {
					t.Fatalf("put %s: %v", w.name, err)
				}
			}
			list, _, err := sc.list(ctx, f.client)
			if err != nil || list.TotalCount != 1 || list.Secrets[0].Name != "AWS_KEY" {
				t.Fatalf("list: %+v, %v", list, err)
			}
			if s, _, err := sc.get(ctx, f.client, "aws_KEY"); err != nil || s.Name != "AWS_KEY" {
				t.Fatalf("get: %+v, %v", s, err)
			}
			if v, _, ok := f.emu.Secret(sc.name, "aws_key"); !ok || v != "second" {
				t.Errorf("emulator holds %q (%v), want the second write", v, ok)
			}
		})
	}
}

// TestAddSelectedRepo checks the endpoint people use to grant one more
// repository access to an organization secret: 204, idempotent, 409 unless
// the visibility is selected, 404 for a repository outside the organization.
func TestAddSelectedRepo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pk, _, err := f.client.Actions.GetOrgPublicKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	put := func(name, visibility string, ids ...int64) {
		t.Helper()
		es := &github.EncryptedSecret{Name: name, KeyID: pk.GetKeyID(), EncryptedValue: seal(t, pk, "v"), Visibility: visibility, SelectedRepositoryIDs: ids}
		if _, err := f.client.Actions.CreateOrUpdateOrgSecret(ctx, "acme", es); err != nil {
			t.Fatal(err)
		}
	}
	put("SELECTED", "selected", f.repoID)
	put("EVERYONE", "all")
	otherID := f.emu.AddRepo("other/lib")
	tests := []struct {
		name   string
		secret string
		id     int64
		status int
	}{
		{"add", "selected", f.envID, http.StatusNoContent},
		{"add again", "SELECTED", f.envID, http.StatusNoContent},
		{"visibility all", "EVERYONE", f.envID, http.StatusConflict},
		{"outside the organization", "SELECTED", otherID, http.StatusNotFound},
		{"unknown secret", "NOPE", f.envID, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.client.Actions.AddSelectedRepoToOrgSecret(ctx, "acme", tt.secret, &github.Repository{ID: &tt.id})
			status := statusOf(err)
			if err == nil {
				status = resp.StatusCode
			}
			if status != tt.status {
				t.Errorf("status %d (%v), want %d", status, err, tt.status)
			}
		})
	}
	if got, want := f.emu.OrgSecretRepos("acme", "SELECTED"), []int64{f.repoID, f.envID}; !equalIDs(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
}
