package githubemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
)

const (
	testAppID          = 123456
	testInstallationID = 7890123
)

// Keys are generated once per run: 2048-bit generation is slow under -race,
// and no key is ever written to the repository.
var (
	appKey   = sync.OnceValue(func() *rsa.PrivateKey { return genKey() })
	otherKey = sync.OnceValue(func() *rsa.PrivateKey { return genKey() })
)

func genKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// newAppFixture is the seeded emulator with the test App installed.
func newAppFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.emu.AddApp(testAppID, &appKey().PublicKey, testInstallationID)
	return f
}

// appClient is a go-github client authenticating through ghinstallation's
// real transport, as keyrotor's worker does, against the emulator's root
// plus prefix ("" or GHES's /api/v3).
func appClient(t *testing.T, f *fixture, prefix string) (*github.Client, *ghinstallation.Transport) {
	t.Helper()
	itr := ghinstallation.NewFromAppsTransport(
		ghinstallation.NewAppsTransportFromPrivateKey(f.srv.Client().Transport, testAppID, appKey()), testInstallationID)
	itr.BaseURL = f.srv.URL + prefix
	c := github.NewClient(&http.Client{Transport: itr})
	u, err := url.Parse(f.srv.URL + prefix + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c, itr
}

func TestAppTokenExchange(t *testing.T) {
	for _, prefix := range []string{"", enterprisePrefix} {
		t.Run("root "+prefix+"/", func(t *testing.T) {
			f := newAppFixture(t)
			c, itr := appClient(t, f, prefix)
			ctx := context.Background()
			for range 3 {
				repo, _, err := c.Repositories.Get(ctx, "acme", "api")
				if err != nil {
					t.Fatalf("GetRepo with an installation token: %v", err)
				}
				if repo.GetID() != f.repoID {
					t.Errorf("repo ID %d, want %d", repo.GetID(), f.repoID)
				}
			}
			op := "POST /app/installations/7890123/access_tokens"
			if n := f.emu.Faults.Calls()[op]; n != 1 {
				t.Errorf("%s called %d times, want 1 (ghinstallation caches the token): %v", op, n, f.emu.Faults.Calls())
			}
			tok, err := itr.Token(ctx)
			if err != nil || !strings.HasPrefix(tok, "ghs_") {
				t.Errorf("token %q, %v", tok, err)
			}
			exp, _, err := itr.Expiry()
			if err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > InstallationTokenTTL {
				t.Errorf("expires_at %v (%v), want an hour from now", exp, err)
			}
		})
	}
}

// signJWT signs claims like an App would.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exchange posts to the token endpoint with auth as the Authorization header.
func exchange(t *testing.T, f *fixture, installationID, auth string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/app/installations/"+installationID+"/access_tokens", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func TestAppTokenExchangeRefused(t *testing.T) {
	now := time.Now().Unix()
	valid := func() jwt.MapClaims { return jwt.MapClaims{"iss": "123456", "iat": now - 30, "exp": now + 90} }
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	tests := []struct {
		name         string
		auth         func(t *testing.T) string
		installation string
		status       int
		msg          string // GitHub's message; "" for success
	}{
		{"valid, iss as a string", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), valid()) }, "7890123", 201, ""},
		{"valid, iss as a number", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("iss", testAppID)) }, "7890123", 201, ""},
		{"clock skew tolerated", func(t *testing.T) string {
			return "Bearer " + signJWT(t, appKey(), jwt.MapClaims{"iss": "123456", "iat": now + 50, "exp": now + 500})
		}, "7890123", 201, ""},
		{"no Authorization", func(*testing.T) string { return "" }, "7890123", 401, "Requires authentication"},
		{"bad signature", func(t *testing.T) string { return "Bearer " + signJWT(t, otherKey(), valid()) }, "7890123", 401, msgJWTUndecodable},
		{"not a JWT", func(*testing.T) string { return "Bearer " + testToken }, "7890123", 401, msgJWTUndecodable},
		{"HS256", func(t *testing.T) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, valid()).SignedString([]byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			return "Bearer " + s
		}, "7890123", 401, msgJWTUndecodable},
		{"unknown app", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("iss", "99")) }, "7890123", 401, msgAppNotFound},
		{"iss not an ID", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("iss", "my-app")) }, "7890123", 401, msgJWTIssuer},
		{"unknown installation", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), valid()) }, "1", 401, msgNoInstallation},
		{"expired", func(t *testing.T) string {
			return "Bearer " + signJWT(t, appKey(), jwt.MapClaims{"iss": "123456", "iat": now - 600, "exp": now - 120})
		}, "7890123", 401, msgJWTExpired},
		{"no exp", func(t *testing.T) string {
			return "Bearer " + signJWT(t, appKey(), jwt.MapClaims{"iss": "123456", "iat": now})
		}, "7890123", 401, msgJWTExpired},
		{"issued in the future", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("iat", now+300)) }, "7890123", 401, msgJWTIssuedAt},
		{"fractional iat", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("iat", float64(now)+0.5)) }, "7890123", 401, msgJWTIssuedAt},
		{"lives too long", func(t *testing.T) string { return "Bearer " + signJWT(t, appKey(), with("exp", now+11*60)) }, "7890123", 401, msgJWTTooLong},
	}
	f := newAppFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := exchange(t, f, tt.installation, tt.auth(t))
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if tt.msg == "" {
				if tok, _ := body["token"].(string); !strings.HasPrefix(tok, "ghs_") || body["expires_at"] == nil {
					t.Errorf("body %v, want a token and expires_at", body)
				}
				return
			}
			if body["message"] != tt.msg || body["documentation_url"] == nil {
				t.Errorf("body %v, want message %q", body, tt.msg)
			}
		})
	}
	if n := f.emu.Faults.Calls()["POST /app/installations/7890123/access_tokens"]; n != len(tests)-1 {
		t.Errorf("exchanges counted: %d, want %d", n, len(tests)-1)
	}
}

// An installation token works on the REST API like any token, for an hour.
func TestInstallationTokenUseAndExpiry(t *testing.T) {
	f := newAppFixture(t)
	now := time.Now()
	f.emu.SetClock(func() time.Time { return now })
	status, body := exchange(t, f, "7890123", "Bearer "+signJWT(t, appKey(), jwt.MapClaims{"iss": "123456", "iat": now.Unix() - 30, "exp": now.Unix() + 90}))
	if status != http.StatusCreated {
		t.Fatalf("exchange: %d %v", status, body)
	}
	tok := body["token"].(string)
	c := clientFor(t, f.srv, tok)
	ctx := context.Background()
	if _, _, err := c.Repositories.Get(ctx, "acme", "api"); err != nil {
		t.Fatalf("GET /repos/acme/api with the installation token: %v", err)
	}
	if _, _, err := c.Actions.GetRepoPublicKey(ctx, "acme", "api"); err != nil {
		t.Fatalf("GET public key with the installation token: %v", err)
	}
	later := now.Add(InstallationTokenTTL)
	f.emu.SetClock(func() time.Time { return later })
	_, _, err := clientFor(t, f.srv, tok).Repositories.Get(ctx, "acme", "api")
	if statusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("expired installation token: %v, want 401 Bad credentials", err)
	}
}

// The App's JWT is not a token for the rest of the API.
func TestJWTNotAcceptedAsToken(t *testing.T) {
	f := newAppFixture(t)
	now := time.Now().Unix()
	jwtTok := signJWT(t, appKey(), jwt.MapClaims{"iss": "123456", "iat": now - 30, "exp": now + 90})
	_, _, err := clientFor(t, f.srv, jwtTok).Repositories.Get(context.Background(), "acme", "api")
	if statusOf(err) != http.StatusUnauthorized {
		t.Errorf("GET /repos with the App JWT: %v, want 401", err)
	}
}
