package codec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIssuer   = "https://idp.example.test/"
	testAudience = "temporal-ui"
)

var (
	testRSAKey = mustRSAKey()
	otherRSA   = mustRSAKey()
	testECKey  = mustECKey()
)

func mustRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksServer serves a JWKS the test can change, and counts fetches.
type jwksServer struct {
	url     string
	fetches atomic.Int32
	mu      sync.Mutex
	keys    []map[string]string
	fail    bool
}

func startJWKS(t *testing.T) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.add("k1", testRSAKey.Public())
	j.add("ec1", testECKey.Public())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL
	return j
}

func (j *jwksServer) add(kid string, pub crypto.PublicKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j.keys = append(j.keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			panic(err)
		}
		j.keys = append(j.keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])})
	}
}

// sign makes a JWT with the given header alg and kid, signed by key (an
// *rsa.PrivateKey, *ecdsa.PrivateKey, or nil for an empty signature).
func sign(t *testing.T, alg, kid string, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	}
	return input + "." + b64(sig)
}

// testClock is a settable clock for the verifier.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func claims(mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"iat": testNow.Unix(), "nbf": testNow.Unix() - 10, "exp": testNow.Add(time.Hour).Unix(),
		"groups": []string{"devs"},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func oidcOptions(jwksURL string, clock *testClock) ServerOptions {
	return ServerOptions{
		AllowedOrigins: []string{uiOrigin},
		OIDC:           OIDCOptions{JWKSURL: jwksURL, Issuer: testIssuer, Audience: testAudience, now: clock.now},
	}
}

// post sends a decode request and returns the status and body.
func post(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"payloads":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Namespace", testNamespace)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func TestOIDCTokens(t *testing.T) {
	tests := []struct {
		name     string
		subjects []string
		groups   []string
		token    func(t *testing.T) string
		path     string // default /decode
		want     int
		reason   string // substring of the answer
	}{
		{name: "valid RS256", want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(nil))
		}},
		{name: "valid ES256", want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "ES256", "ec1", testECKey, claims(nil))
		}},
		{name: "audience in a list", want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["aud"] = []string{"other", testAudience} }))
		}},
		{name: "expired within leeway", want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["exp"] = testNow.Unix() - 10 }))
		}},
		{name: "expired", want: http.StatusUnauthorized, reason: "expired", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Hour).Unix() }))
		}},
		{name: "no expiry", want: http.StatusUnauthorized, reason: "no expiry", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { delete(c, "exp") }))
		}},
		{name: "not valid yet", want: http.StatusUnauthorized, reason: "not valid yet", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["nbf"] = testNow.Add(time.Hour).Unix() }))
		}},
		{name: "wrong audience", want: http.StatusUnauthorized, reason: "wrong audience", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["aud"] = []string{"other-app"} }))
		}},
		{name: "wrong issuer", want: http.StatusUnauthorized, reason: "wrong issuer", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["iss"] = "https://evil.example.test/" }))
		}},
		{name: "unknown kid", want: http.StatusUnauthorized, reason: "unknown signing key", token: func(t *testing.T) string {
			return sign(t, "RS256", "k9", otherRSA, claims(nil))
		}},
		{name: "bad signature", want: http.StatusUnauthorized, reason: "bad signature", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", otherRSA, claims(nil))
		}},
		{name: "tampered claims", want: http.StatusUnauthorized, reason: "bad signature", token: func(t *testing.T) string {
			good := strings.Split(sign(t, "RS256", "k1", testRSAKey, claims(nil)), ".")
			evil := strings.Split(sign(t, "RS256", "k1", otherRSA, claims(func(c map[string]any) { c["sub"] = "mallory" })), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}},
		{name: "RS256 header on the EC key", want: http.StatusUnauthorized, reason: "unknown signing key", token: func(t *testing.T) string {
			return sign(t, "RS256", "ec1", testECKey, claims(nil))
		}},
		{name: "alg none refused", want: http.StatusUnauthorized, reason: "unsupported algorithm", token: func(t *testing.T) string {
			return sign(t, "none", "k1", nil, claims(nil))
		}},
		{name: "HS256 refused", want: http.StatusUnauthorized, reason: "unsupported algorithm", token: func(t *testing.T) string {
			return sign(t, "HS256", "k1", nil, claims(nil))
		}},
		{name: "not a JWT", want: http.StatusUnauthorized, reason: "not a JWT", token: func(*testing.T) string { return "opaque-access-token" }},
		{name: "no token", want: http.StatusUnauthorized, reason: "no bearer token", token: func(*testing.T) string { return "" }},
		{name: "subject allowed", subjects: []string{"alice"}, want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(nil))
		}},
		{name: "subject not allowed", subjects: []string{"bob"}, want: http.StatusForbidden, reason: "not allowed", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(nil))
		}},
		{name: "group allowed", subjects: []string{"bob"}, groups: []string{"ops", "devs"}, want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(nil))
		}},
		{name: "group as a string", groups: []string{"devs"}, want: http.StatusOK, token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(func(c map[string]any) { c["groups"] = "devs" }))
		}},
		{name: "group not allowed", groups: []string{"ops"}, want: http.StatusForbidden, reason: "not allowed", token: func(t *testing.T) string {
			return sign(t, "RS256", "k1", testRSAKey, claims(nil))
		}},
		{name: "static bearer token refused", want: http.StatusUnauthorized, reason: "not a JWT", token: func(*testing.T) string { return testToken }},
		{name: "path token refused", path: "/" + testToken + "/decode", want: http.StatusUnauthorized, reason: "no bearer token", token: func(*testing.T) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := startJWKS(t)
			clock := &testClock{t: testNow}
			opts := oidcOptions(j.url, clock)
			opts.OIDC.Subjects, opts.OIDC.Groups = tt.subjects, tt.groups
			s := startServer(t, opts)
			token := tt.token(t)
			path := tt.path
			if path == "" {
				path = "/decode"
			}
			var headers map[string]string
			if token != "" {
				headers = bearer(token)
			}
			status, body := post(t, s.url+path, headers)
			if status != tt.want {
				t.Fatalf("status %d (%q), want %d", status, body, tt.want)
			}
			if !strings.Contains(body, tt.reason) {
				t.Errorf("answer %q, want it to say %q", body, tt.reason)
			}
			if token != "" && strings.Contains(body, token) {
				t.Error("the answer echoes the token")
			}
		})
	}
}

// TestOIDCKeyRefresh: an unknown kid fetches the JWKS again, at most once
// a minute, so a rotated key is picked up and forged kids cannot make us
// hammer the issuer.
func TestOIDCKeyRefresh(t *testing.T) {
	j := startJWKS(t)
	clock := &testClock{t: testNow}
	s := startServer(t, oidcOptions(j.url, clock))
	newKey := mustRSAKey()
	at := func() map[string]any {
		return claims(func(c map[string]any) { c["exp"] = clock.now().Add(time.Hour).Unix() })
	}
	steps := []struct {
		name        string
		advance     time.Duration
		rotate      bool // publish k2 before the request
		kid         string
		key         crypto.Signer
		want        int
		wantFetches int32
	}{
		{"first request fetches", 0, false, "k1", testRSAKey, http.StatusOK, 1},
		{"known kid: cached", 10 * time.Second, false, "k1", testRSAKey, http.StatusOK, 1},
		{"unknown kid: one refresh", 2 * time.Minute, false, "k2", newKey, http.StatusUnauthorized, 2},
		{"unknown kid again within a minute: no fetch", 10 * time.Second, true, "k2", newKey, http.StatusUnauthorized, 2},
		{"a minute later the rotated key is fetched", time.Minute, false, "k2", newKey, http.StatusOK, 3},
		{"and cached", time.Second, false, "k2", newKey, http.StatusOK, 3},
		{"keys older than an hour are fetched again", 61 * time.Minute, false, "k1", testRSAKey, http.StatusOK, 4},
	}
	for _, st := range steps {
		clock.add(st.advance)
		if st.rotate {
			j.add("k2", newKey.Public())
		}
		status, body := post(t, s.url+"/decode", bearer(sign(t, "RS256", st.kid, st.key, at())))
		if status != st.want {
			t.Errorf("%s: status %d (%q), want %d", st.name, status, body, st.want)
		}
		if got := j.fetches.Load(); got != st.wantFetches {
			t.Errorf("%s: %d JWKS fetches, want %d", st.name, got, st.wantFetches)
		}
	}
}

// TestOIDCKeysUnavailable: when the JWKS cannot be fetched the answer says
// so (503), and once it can, tokens work.
func TestOIDCKeysUnavailable(t *testing.T) {
	j := startJWKS(t)
	j.fail = true
	clock := &testClock{t: testNow}
	var logged atomic.Int32
	opts := oidcOptions(j.url, clock)
	opts.OIDC.Logf = func(string, ...any) { logged.Add(1) }
	s := startServer(t, opts)
	token := sign(t, "RS256", "k1", testRSAKey, claims(nil))
	if status, body := post(t, s.url+"/decode", bearer(token)); status != http.StatusServiceUnavailable || !strings.Contains(body, "signing keys") {
		t.Errorf("JWKS down: status %d (%q), want 503", status, body)
	}
	if logged.Load() != 1 {
		t.Errorf("fetch failure logged %d times, want 1", logged.Load())
	}
	j.mu.Lock()
	j.fail = false
	j.mu.Unlock()
	clock.add(time.Minute)
	if status, body := post(t, s.url+"/decode", bearer(token)); status != http.StatusOK {
		t.Errorf("JWKS back: status %d (%q), want 200", status, body)
	}
}

func TestOIDCOptionsRefused(t *testing.T) {
	k := newKeyring(t, newKey(t))
	tests := []struct {
		name string
		opts ServerOptions
		want string
	}{
		{"no audience", ServerOptions{OIDC: OIDCOptions{JWKSURL: "https://idp.example.test/jwks"}}, "audience"},
		{"with a static token", ServerOptions{Token: testToken, OIDC: OIDCOptions{JWKSURL: "https://idp.example.test/jwks", Audience: testAudience}}, "exclude each other"},
		{"not a URL", ServerOptions{OIDC: OIDCOptions{JWKSURL: "idp.example.test/jwks", Audience: testAudience}}, "URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPHandler(k, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Error("the error quotes the token")
			}
		})
	}
}
