package codec

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/keyrotor/keyrotor/internal/model"
)

// ServerOptions configure the codec server handler.
type ServerOptions struct {
	// Token is required as "Authorization: Bearer <token>" on every POST.
	// The codec server turns ciphertext from history back into secrets, so
	// it must not be open to whoever can reach the port.
	Token model.Secret
	// AllowUnauthenticated permits an empty Token. Only for a server bound
	// to localhost on a single-user machine (the demo).
	AllowUnauthenticated bool
	// AllowedOrigins are the web UI origins (e.g. "http://localhost:8233")
	// allowed to call the server from a browser. Other origins get no CORS
	// headers, so browsers will not let their pages read the answers.
	AllowedOrigins []string
	// Namespaces, if set, limits requests to these Temporal namespaces
	// (the X-Namespace header the UI and CLI send).
	Namespaces []string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// OIDC, when enabled (JWKSURL set), makes the server accept only the
	// Web UI user's own access token (a JWT, which the UI forwards as
	// "Authorization: Bearer ..." with its "pass access token" option)
	// instead of Token, so the endpoint URL the UI shows holds no secret.
	// Token must then be empty: neither a static bearer token nor a token
	// in the path is accepted.
	OIDC OIDCOptions
}

// DefaultMaxBodyBytes bounds request bodies when ServerOptions leaves it
// unset: well above what a page of history holds (the server limits each
// payload to a few MB), low enough that one request cannot exhaust memory.
const DefaultMaxBodyBytes = 32 << 20

// Headers the codec server protocol uses.
const (
	headerNamespace     = "X-Namespace"
	headerAuthorization = "Authorization"
	headerOrigin        = "Origin"
)

// NewHTTPHandler serves the Temporal codec server protocol (POST .../encode
// and .../decode, JSON-encoded Payloads) for the keyring, behind CORS,
// bearer-token and namespace checks. It refuses to build without a token
// unless opts.AllowUnauthenticated is set.
func NewHTTPHandler(k *Keyring, opts ServerOptions) (http.Handler, error) {
	if k == nil || len(k.keys) == 0 {
		return nil, errors.New("codec server: keyring has no keys")
	}
	if opts.OIDC.Enabled() {
		return newOIDCHandler(k, opts)
	}
	if opts.Token.Reveal() == "" && !opts.AllowUnauthenticated {
		return nil, errors.New("codec server: no token configured; set one, or allow unauthenticated access explicitly (local demo only)")
	}
	if opts.Token.Reveal() != "" {
		if err := CheckToken(opts.Token); err != nil {
			return nil, fmt.Errorf("codec server: %w", err)
		}
	}
	h := newCodecServer(k, opts)
	if token := opts.Token.Reveal(); token != "" {
		sum := sha256.Sum256([]byte(token))
		h.tokenHash = &sum
	}
	return h, nil
}

// newOIDCHandler builds the handler for OIDC: the UI user's access token
// is the only credential.
func newOIDCHandler(k *Keyring, opts ServerOptions) (http.Handler, error) {
	if opts.Token.Reveal() != "" {
		return nil, errors.New("codec server: a static token and OIDC exclude each other: with OIDC only the UI user's access token is accepted, so no secret needs to appear in the UI's endpoint URL")
	}
	v, err := newOIDCVerifier(opts.OIDC)
	if err != nil {
		return nil, fmt.Errorf("codec server: %w", err)
	}
	h := newCodecServer(k, opts)
	h.oidc = v
	return h, nil
}

func newCodecServer(k *Keyring, opts ServerOptions) *codecServer {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &codecServer{
		codec:      converter.NewPayloadCodecHTTPHandler(NewCodec(k)),
		origins:    slices.Clone(opts.AllowedOrigins),
		namespaces: slices.Clone(opts.Namespaces),
		maxBody:    opts.MaxBodyBytes,
	}
}

// TokenHowTo says how to make a codec server token that works everywhere.
const TokenHowTo = "make one with `openssl rand -hex 32 > codec-server.token`"

// CheckToken refuses a token that cannot stand as the first segment of a
// URL path (http://HOST:PORT/<token>), the only way the Web UI can send it.
// A base64 token holds '/' or '+' most of the time: '/' splits the path, so
// the UI's requests would be refused however the endpoint is written. Only
// URL-unreserved characters (RFC 3986: letters, digits, '-', '.', '_', '~')
// are accepted. The error never quotes the token or any part of it.
func CheckToken(token model.Secret) error {
	t := token.Reveal()
	switch {
	case t == "":
		return errors.New("the token is empty; " + TokenHowTo)
	case t == "." || t == ".." || t == "encode" || t == "decode":
		return errors.New("the token is a reserved path segment; " + TokenHowTo)
	case strings.IndexFunc(t, func(r rune) bool { return !isUnreserved(r) }) >= 0:
		return fmt.Errorf("the token (%d characters) holds characters that are not safe in a URL path, where the Web UI sends it: "+
			"use only letters, digits, '-', '.', '_' and '~' (base64 output holds '/' and '+'); %s", len(t), TokenHowTo)
	}
	return nil
}

// isUnreserved reports whether r is an RFC 3986 unreserved character.
func isUnreserved(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~'
}

// Timeouts of the codec server's http.Server (NewHTTPServer): a client that
// trickles its headers or body, or never reads its answer, must not hold a
// connection (and its goroutine and buffers) open for ever. Bodies are at
// most DefaultMaxBodyBytes, which a working client sends in seconds.
const (
	ServerReadHeaderTimeout = 10 * time.Second
	ServerReadTimeout       = time.Minute
	ServerWriteTimeout      = time.Minute
	ServerIdleTimeout       = 2 * time.Minute
)

// NewHTTPServer returns an http.Server for h with the codec server's
// timeouts.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ServerReadHeaderTimeout,
		ReadTimeout:       ServerReadTimeout,
		WriteTimeout:      ServerWriteTimeout,
		IdleTimeout:       ServerIdleTimeout,
	}
}

type codecServer struct {
	codec      http.Handler
	tokenHash  *[sha256.Size]byte // nil: unauthenticated, unless oidc is set
	oidc       *oidcVerifier      // set: only the UI user's access token counts
	origins    []string
	namespaces []string
	maxBody    int64
}

func (s *codecServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setCORSHeaders(w, r)
	switch {
	case r.Method == http.MethodOptions:
		// Preflight: browsers never send credentials here, so it is
		// answered before the token check. The CORS headers set above
		// (or their absence) are the whole answer.
		w.WriteHeader(http.StatusNoContent)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	case s.oidc != nil:
		if err := s.oidc.verify(r.Context(), bearerToken(r)); err != nil {
			if err.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="keyrotor-codec", error="invalid_token"`)
			}
			http.Error(w, err.reason, err.status)
			return
		}
		s.serveAuthorized(w, r)
	case !s.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyrotor-codec"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	default:
		s.serveAuthorized(w, r)
	}
}

// serveAuthorized serves a request whose credentials were accepted.
func (s *codecServer) serveAuthorized(w http.ResponseWriter, r *http.Request) {
	switch {
	case !s.namespaceAllowed(r):
		http.Error(w, "namespace not served by this codec server", http.StatusForbidden)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		s.codec.ServeHTTP(w, r)
	}
}

// setCORSHeaders lets allowed UI origins call the server from a browser,
// with the Authorization header. Vary: Origin is always set because the
// answer depends on the origin, and caches must not mix them up.
func (s *codecServer) setCORSHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", headerOrigin)
	origin := r.Header.Get(headerOrigin)
	if origin == "" || !slices.Contains(s.origins, origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
	h.Set("Access-Control-Allow-Credentials", "true")
}

// authorized checks the token, sent either as "Authorization: Bearer
// <token>" (the CLI's --codec-auth, the SDK's remote codec) or as the first
// segment of the path, http://HOST:PORT/<token>/decode: the Web UI cannot
// send a bearer token of ours (it only forwards its own OAuth token), so for
// the UI the endpoint URL itself carries the token and must be shared like
// it. Both sides are hashed first so the constant-time comparison does not
// leak the token's length either.
func (s *codecServer) authorized(r *http.Request) bool {
	if s.tokenHash == nil {
		return true
	}
	if token := bearerToken(r); token != "" && s.tokenMatches(token) {
		return true
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return first != "encode" && first != "decode" && s.tokenMatches(first)
}

// bearerToken returns the token of "Authorization: Bearer <token>", or "".
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get(headerAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func (s *codecServer) tokenMatches(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) == 1
}

func (s *codecServer) namespaceAllowed(r *http.Request) bool {
	return len(s.namespaces) == 0 || slices.Contains(s.namespaces, r.Header.Get(headerNamespace))
}
