package codec

// OIDC access tokens for the codec server.
//
// The Temporal Web UI can forward the signed-in user's access token to the
// codec endpoint ("pass access token"): it sends "Authorization: Bearer
// <JWT>". Checking that token lets the endpoint URL the UI shows hold no
// secret at all. This file verifies such a token with the standard library
// only: an RS256 or ES256 signature against the issuer's published keys
// (JWKS), then exp/nbf, iss, aud and optionally the subject or groups.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// OIDCOptions make the codec server accept the Web UI user's access token
// (a JWT from the UI's identity provider) instead of a static token. The
// zero value (no JWKSURL) leaves OIDC off.
type OIDCOptions struct {
	// JWKSURL is where the issuer publishes its signing keys, e.g.
	// https://idp.example.com/.well-known/jwks.json.
	JWKSURL string
	// Issuer, if set, must equal the token's "iss" claim.
	Issuer string
	// Audience must be in the token's "aud" claim (a string or a list).
	// Required: without it, any token the issuer signs for any other
	// application would do.
	Audience string
	// Subjects and Groups, if either is set, restrict access: the token's
	// "sub" must be one of Subjects, or one of its "groups" one of Groups.
	Subjects []string
	Groups   []string
	// HTTPClient fetches the JWKS; nil means one with JWKSFetchTimeout.
	HTTPClient *http.Client
	// Logf, if set, reports JWKS fetch failures (never tokens).
	Logf func(format string, args ...any)
	// now is the clock; nil means time.Now. Tests set it.
	now func() time.Time
}

// Enabled reports whether OIDC is configured.
func (o OIDCOptions) Enabled() bool { return o.JWKSURL != "" }

// Limits of the OIDC check.
const (
	// JWKSFetchTimeout bounds one fetch of the issuer's keys.
	JWKSFetchTimeout = 10 * time.Second
	// jwksMinRefresh is the least time between two fetches, so tokens
	// with made-up key ids cannot make us hammer the issuer.
	jwksMinRefresh = time.Minute
	// jwksMaxAge: keys older than this are fetched again, so a key the
	// issuer withdrew stops working within about an hour.
	jwksMaxAge = time.Hour
	// jwtLeeway tolerates clock skew between us and the issuer.
	jwtLeeway = 30 * time.Second
	// maxJWTBytes and maxJWKSBytes bound what we parse.
	maxJWTBytes  = 16 << 10
	maxJWKSBytes = 1 << 20
)

// authError is a refused request: the HTTP status (401 or 403, 503 when the
// issuer's keys cannot be had) and a short reason safe to send back. A
// reason never holds the token or a claim from it.
type authError struct {
	status int
	reason string
}

func (e *authError) Error() string { return e.reason }

func unauthorized(reason string) *authError {
	return &authError{status: http.StatusUnauthorized, reason: reason}
}

// oidcVerifier checks access tokens against one issuer's JWKS.
type oidcVerifier struct {
	opts OIDCOptions
	keys *jwksCache
}

func newOIDCVerifier(o OIDCOptions) (*oidcVerifier, error) {
	if o.Audience == "" {
		return nil, errors.New("OIDC needs an audience (the UI's client or API identifier), or tokens issued for other applications would be accepted")
	}
	if !strings.HasPrefix(o.JWKSURL, "https://") && !strings.HasPrefix(o.JWKSURL, "http://") {
		return nil, errors.New("the OIDC JWKS URL must be an http:// or https:// URL")
	}
	if o.now == nil {
		o.now = time.Now
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: JWKSFetchTimeout}
	}
	o.Subjects, o.Groups = slices.Clone(o.Subjects), slices.Clone(o.Groups)
	return &oidcVerifier{opts: o, keys: &jwksCache{url: o.JWKSURL, client: client, now: o.now, logf: o.Logf}}, nil
}

// jwtHeader and jwtClaims are the parts of a JWT we read.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss    string       `json:"iss"`
	Sub    string       `json:"sub"`
	Aud    stringOrList `json:"aud"`
	Exp    *float64     `json:"exp"`
	Nbf    *float64     `json:"nbf"`
	Groups stringOrList `json:"groups"`
}

// stringOrList decodes a claim that is either "x" or ["x", "y"].
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("not a string or a list of strings")
	}
	*s = many
	return nil
}

// verify checks the token and returns nil or an *authError.
func (v *oidcVerifier) verify(ctx context.Context, token string) *authError {
	if token == "" {
		return unauthorized("no bearer token: the Web UI must pass its access token")
	}
	if len(token) > maxJWTBytes {
		return unauthorized("invalid token: too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return unauthorized("invalid token: not a JWT")
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return unauthorized("invalid token: bad header")
	}
	// Only the algorithms we verify; this refuses "none" and the HMAC
	// algorithms (which would verify with a public key as the secret).
	if h.Alg != "RS256" && h.Alg != "ES256" {
		return unauthorized("invalid token: unsupported algorithm")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return unauthorized("invalid token: bad signature encoding")
	}
	key, aerr := v.keys.key(ctx, h.Kid, h.Alg)
	if aerr != nil {
		return aerr
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !verifySignature(h.Alg, key, digest[:], sig) {
		return unauthorized("invalid token: bad signature")
	}
	// Claims are read only once the signature holds.
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return unauthorized("invalid token: bad claims")
	}
	return v.checkClaims(&c)
}

func (v *oidcVerifier) checkClaims(c *jwtClaims) *authError {
	now := v.opts.now()
	switch {
	case c.Exp == nil:
		return unauthorized("invalid token: no expiry")
	case now.Add(-jwtLeeway).After(unixTime(*c.Exp)):
		return unauthorized("invalid token: expired")
	case c.Nbf != nil && now.Add(jwtLeeway).Before(unixTime(*c.Nbf)):
		return unauthorized("invalid token: not valid yet")
	case v.opts.Issuer != "" && c.Iss != v.opts.Issuer:
		return unauthorized("invalid token: wrong issuer")
	case !slices.Contains(c.Aud, v.opts.Audience):
		return unauthorized("invalid token: wrong audience")
	}
	if len(v.opts.Subjects) == 0 && len(v.opts.Groups) == 0 {
		return nil
	}
	if c.Sub != "" && slices.Contains(v.opts.Subjects, c.Sub) {
		return nil
	}
	for _, g := range c.Groups {
		if slices.Contains(v.opts.Groups, g) {
			return nil
		}
	}
	return &authError{status: http.StatusForbidden, reason: "user not allowed: neither subject nor groups match"}
}

// unixTime turns a NumericDate (seconds, maybe fractional) into a time,
// clamped so absurd values cannot overflow.
func unixTime(secs float64) time.Time {
	secs = min(max(secs, 0), 1e11)
	return time.Unix(int64(secs), 0)
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// verifySignature checks sig over digest (SHA-256) for alg. The key's type
// must fit the algorithm, so an RSA key never verifies an ES256 token or
// the other way round.
func verifySignature(alg string, key crypto.PublicKey, digest, sig []byte) bool {
	switch alg {
	case "RS256":
		k, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	case "ES256":
		// JWS (RFC 7518, 3.4) puts R and S side by side, 32 bytes each.
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// jwksCache holds the issuer's keys by key id. It fetches them when asked
// for a key it lacks or when they are older than jwksMaxAge, at most once a
// jwksMinRefresh, and keeps the old keys when a fetch fails.
type jwksCache struct {
	url    string
	client *http.Client
	now    func() time.Time
	logf   func(format string, args ...any)

	mu        sync.Mutex
	keys      []jwk
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
}

// jwk is one usable signing key.
type jwk struct {
	kid string
	alg string // "RS256" or "ES256"
	key crypto.PublicKey
}

// key returns the key for kid and alg. A token without a kid is accepted
// only if the set holds a single key for alg.
func (c *jwksCache) key(ctx context.Context, kid, alg string) (crypto.PublicKey, *authError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k, found := c.lookup(kid, alg)
	stale := c.fetchedAt.IsZero() || now.Sub(c.fetchedAt) > jwksMaxAge
	if (!found || stale) && (c.triedAt.IsZero() || now.Sub(c.triedAt) >= jwksMinRefresh) {
		c.triedAt = now
		// The fetch serves every request, so a client that hangs up must
		// not cancel it. Others wait on the lock meanwhile, at most
		// JWKSFetchTimeout.
		keys, err := c.fetch(context.WithoutCancel(ctx))
		if err != nil {
			if c.logf != nil {
				c.logf("codec server: fetching the OIDC signing keys: %v", err)
			}
		} else {
			c.keys, c.fetchedAt = keys, now
			k, found = c.lookup(kid, alg)
		}
	}
	switch {
	case found:
		return k, nil
	case c.fetchedAt.IsZero():
		return nil, &authError{status: http.StatusServiceUnavailable, reason: "cannot check the token: the identity provider's signing keys are unavailable"}
	}
	return nil, unauthorized("invalid token: unknown signing key")
}

func (c *jwksCache) lookup(kid, alg string) (crypto.PublicKey, bool) {
	var match []jwk
	for _, k := range c.keys {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			match = append(match, k)
		}
	}
	if len(match) != 1 {
		return nil, false
	}
	return match[0].key, true
}

// fetch GETs and parses the JWKS. Keys we cannot use (other types, curves,
// encryption keys) are skipped.
func (c *jwksCache) fetch(ctx context.Context) ([]jwk, error) {
	ctx, cancel := context.WithTimeout(ctx, JWKSFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", c.url, resp.Status)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: not a JWKS: %w", c.url, err)
	}
	var keys []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			if pub, err := rsaKey(k.N, k.E); err == nil {
				keys = append(keys, jwk{kid: k.Kid, alg: "RS256", key: pub})
			}
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			if pub, err := ecKey(k.X, k.Y); err == nil {
				keys = append(keys, jwk{kid: k.Kid, alg: "ES256", key: pub})
			}
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("GET %s: no RS256 or ES256 signing keys", c.url)
	}
	return keys, nil
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil {
		return nil, err
	}
	e, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil {
		return nil, err
	}
	eInt := new(big.Int).SetBytes(e)
	if len(n)*8 < 2048 || !eInt.IsInt64() || eInt.Int64() < 3 || eInt.Int64() > 1<<31-1 {
		return nil, errors.New("weak or malformed RSA key")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eInt.Int64())}, nil
}

func ecKey(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := base64.RawURLEncoding.DecodeString(x64)
	if err != nil {
		return nil, err
	}
	y, err := base64.RawURLEncoding.DecodeString(y64)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("malformed P-256 key")
	}
	// ParseUncompressedPublicKey also checks the point is on the curve.
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
}
