package githubemu

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// GitHub App authentication: an App signs a short-lived JWT with its
// private key and trades it for an installation token at
// POST /app/installations/{installation_id}/access_tokens. The emulator
// checks the JWT the way GitHub does, so a client whose signing, claims or
// base URL are wrong fails here as it would against github.com.

const (
	// InstallationTokenTTL is how long an installation token is accepted,
	// GitHub's one hour.
	InstallationTokenTTL = time.Hour

	// jwtMaxLifetime is the longest exp - iat GitHub accepts.
	jwtMaxLifetime = 10 * time.Minute
	// jwtClockSkew is the drift tolerated between the App's clock and ours.
	jwtClockSkew = 60 * time.Second

	docsAppAuth = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
)

// GitHub's messages for a JWT it refuses, all with status 401.
const (
	msgJWTUndecodable = "A JSON web token could not be decoded"
	msgJWTExpired     = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	msgJWTTooLong     = "'Expiration time' claim ('exp') is too far in the future"
	msgJWTIssuedAt    = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	msgJWTIssuer      = "'Issuer' claim ('iss') must be an Integer"
	msgAppNotFound    = "Integration not found"
	msgNoInstallation = "Installation not found for this integration"
)

// app is a registered GitHub App.
type app struct {
	key           *rsa.PublicKey
	installations map[int64]bool
}

// AddApp registers GitHub App appID, whose JWTs verify with publicKey, as
// installed with installationID. Calling it again for the same App adds an
// installation (and replaces the key, as regenerating it on GitHub does).
func (e *Emulator) AddApp(appID int64, publicKey *rsa.PublicKey, installationID int64) {
	if publicKey == nil {
		panic("githubemu: AddApp needs the App's public key")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.apps[appID]
	if !ok {
		a = &app{installations: map[int64]bool{}}
		e.apps[appID] = a
	}
	a.key = publicKey
	a.installations[installationID] = true
}

// SetClock replaces the emulator's clock (time.Now), which judges JWT
// timestamps and installation token expiry, so a test can move past the
// token's hour.
func (e *Emulator) SetClock(now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = now
}

// tokenAccess says whether token is known and has access, treating an
// expired installation token as unknown. Callers hold e.mu.
func (e *Emulator) tokenAccess(token string) (access, known bool) {
	access, known = e.tokens[token]
	if exp, ok := e.tokenExpiry[token]; ok && !e.now().Before(exp) {
		return false, false
	}
	return access, known
}

// appAPI runs h for a request authenticated by an App JWT, under e.mu.
// These calls are not counted against the installation's hourly quota:
// GitHub meters App JWT requests separately.
func (e *Emulator) appAPI(h func(http.ResponseWriter, *http.Request, *app)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if r.Header.Get("Authorization") == "" {
			writeJSON(w, http.StatusUnauthorized, apiError{Message: "Requires authentication", DocumentationURL: docsAppAuth, Status: "401"})
			return
		}
		a, msg := e.verifyAppJWT(bearer(r))
		if a == nil {
			writeJSON(w, http.StatusUnauthorized, apiError{Message: msg, DocumentationURL: docsAppAuth, Status: "401"})
			return
		}
		h(w, r, a)
	}
}

var (
	errUnknownApp = errors.New("unknown app")
	errBadIssuer  = errors.New("iss is not an app ID")
)

// verifyAppJWT checks an App JWT: RS256, signed by the key of the App
// named in iss, issued no later than now and expiring in the future, at
// most ten minutes after it was issued (each with a minute of skew). It
// returns the App, or GitHub's message for the refusal. Callers hold e.mu.
func (e *Emulator) verifyAppJWT(raw string) (*app, string) {
	claims := jwt.MapClaims{}
	var a *app
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		id, ok := issuer(claims["iss"])
		if !ok {
			return nil, errBadIssuer
		}
		if a = e.apps[id]; a == nil {
			return nil, errUnknownApp
		}
		return a.key, nil
	})
	switch {
	case errors.Is(err, errBadIssuer):
		return nil, msgJWTIssuer
	case errors.Is(err, errUnknownApp):
		return nil, msgAppNotFound
	case err != nil:
		return nil, msgJWTUndecodable
	}
	iat, okIat := unixClaim(claims["iat"])
	exp, okExp := unixClaim(claims["exp"])
	now := e.now()
	switch {
	case !okIat || iat.After(now.Add(jwtClockSkew)):
		return nil, msgJWTIssuedAt
	case !okExp || !now.Before(exp.Add(jwtClockSkew)) || !exp.After(iat):
		return nil, msgJWTExpired
	case exp.Sub(iat) > jwtMaxLifetime:
		return nil, msgJWTTooLong
	}
	return a, ""
}

// issuer reads iss, which GitHub accepts as a number or a decimal string
// (ghinstallation sends a string).
func issuer(v any) (int64, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// unixClaim reads a NumericDate claim; GitHub wants whole seconds.
func unixClaim(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	secs, err := n.Int64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// installationTokenJSON is GitHub's answer to a token exchange.
type installationTokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

// createInstallationToken mints an installation token, accepted with full
// access by every other endpoint until it expires.
func (e *Emulator) createInstallationToken(w http.ResponseWriter, r *http.Request, a *app) {
	id, err := strconv.ParseInt(r.PathValue("installation_id"), 10, 64)
	if err != nil || !a.installations[id] {
		writeJSON(w, http.StatusUnauthorized, apiError{Message: msgNoInstallation, DocumentationURL: docsAppAuth, Status: "401"})
		return
	}
	token := "ghs_" + rand.Text()
	expires := e.now().Add(InstallationTokenTTL).UTC().Truncate(time.Second)
	e.tokens[token] = true
	e.tokenExpiry[token] = expires
	writeJSON(w, http.StatusCreated, installationTokenJSON{
		Token:     token,
		ExpiresAt: expires.Format(timeLayout),
		Permissions: map[string]string{
			"secrets": "write", "environments": "read", "metadata": "read", "organization_secrets": "write",
		},
		RepositorySelection: "all",
	})
}
