package codec

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

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
	if opts.Token.Reveal() == "" && !opts.AllowUnauthenticated {
		return nil, errors.New("codec server: no token configured; set one, or allow unauthenticated access explicitly (local demo only)")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &codecServer{
		codec:      converter.NewPayloadCodecHTTPHandler(NewCodec(k)),
		origins:    slices.Clone(opts.AllowedOrigins),
		namespaces: slices.Clone(opts.Namespaces),
		maxBody:    opts.MaxBodyBytes,
	}
	if token := opts.Token.Reveal(); token != "" {
		sum := sha256.Sum256([]byte(token))
		h.tokenHash = &sum
	}
	return h, nil
}

type codecServer struct {
	codec      http.Handler
	tokenHash  *[sha256.Size]byte // nil: unauthenticated
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
	case !s.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyrotor-codec"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
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
	if scheme, token, ok := strings.Cut(r.Header.Get(headerAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") && s.tokenMatches(strings.TrimSpace(token)) {
		return true
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return first != "encode" && first != "decode" && s.tokenMatches(first)
}

func (s *codecServer) tokenMatches(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) == 1
}

func (s *codecServer) namespaceAllowed(r *http.Request) bool {
	return len(s.namespaces) == 0 || slices.Contains(s.namespaces, r.Header.Get(headerNamespace))
}
