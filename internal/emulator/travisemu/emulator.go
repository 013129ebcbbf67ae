// Package travisemu emulates the parts of Travis CI's API v3 that keyrotor
// uses: a repository's environment variables
// (https://developer.travis-ci.com/resource/env_vars,
// https://developer.travis-ci.com/resource/env_var). It serves real HTTP so
// that keyrotor's client (internal/clients.TravisClient) can be tested
// against it, and it enforces what Travis's API (github.com/travis-ci/travis-api,
// lib/travis/api/v3) enforces: the opt-in to v3 (Travis-API-Version: 3, an
// Accept of application/vnd.travis-ci.3+ or the /v3 prefix; anything else
// goes to the legacy API, which has no such endpoints), "Authorization:
// token ...", slugs escaped as one segment (acme%2Fapi), one variable per
// name and branch (409), private values left out of every answer, and the
// {"@type": "error", "error_type": ..., "error_message": ...} shape with
// Travis's 403 for a missing or unknown token (it has no 401).
package travisemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// Access is what a token may do on every repository.
type Access int

// ReadOnly may list and read variables (repository_settings_read);
// ReadWrite may also create, update and delete them
// (repository_settings_create, _update, _delete).
const (
	ReadOnly Access = iota + 1
	ReadWrite
)

// EnvVar is a repository's environment variable as the emulator stores it,
// value in the clear.
type EnvVar struct {
	ID     string // a UUID
	Name   string
	Value  string
	Public bool
	Branch string // "" for every branch
}

type repository struct {
	id   int
	slug string
	vars []*EnvVar
}

// Emulator is an in-memory Travis CI. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD /path" with the decoded path, e.g. "POST /repo/acme/api/env_vars".
	Faults *faults.Injector

	handler http.Handler

	mu     sync.Mutex
	tokens map[string]Access
	byID   map[int]*repository
	bySlug map[string]*repository
	nextID int
}

// New returns an empty Travis CI that accepts token with ReadWrite access.
func New(token string) *Emulator {
	e := &Emulator{
		Faults: faults.New(),
		tokens: map[string]Access{token: ReadWrite},
		byID:   map[int]*repository{},
		bySlug: map[string]*repository{},
	}
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API at the root (and under /v3).
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another token with the given access.
func (e *Emulator) AddToken(token string, access Access) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = access
}

// AddRepository creates the repository "owner/name" and returns its ID
// (or the existing one's).
func (e *Emulator) AddRepository(slug string) (id int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.bySlug[slug]; r != nil {
		return r.id
	}
	e.nextID++
	r := &repository{id: 1000 + e.nextID, slug: slug}
	e.byID[r.id] = r
	e.bySlug[slug] = r
	return r.id
}

// EnvVar returns the repository's variable name that applies to every
// branch, value in the clear.
func (e *Emulator) EnvVar(slug, name string) (EnvVar, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.bySlug[slug]; r != nil {
		for _, v := range r.vars {
			if v.Name == name && v.Branch == "" {
				return *v, true
			}
		}
	}
	return EnvVar{}, false
}

// EnvVars returns copies of the repository's variables.
func (e *Emulator) EnvVars(slug string) []EnvVar {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.bySlug[slug]
	if r == nil {
		return nil
	}
	out := make([]EnvVar, 0, len(r.vars))
	for _, v := range r.vars {
		out = append(out, *v)
	}
	return out
}

// SetEnvVar seeds a variable without validation and returns its ID.
func (e *Emulator) SetEnvVar(slug string, v EnvVar) (id string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.bySlug[slug]
	if r == nil {
		return "", fmt.Errorf("travisemu: no repository %s", slug)
	}
	if v.ID == "" {
		v.ID = e.uuid()
	}
	r.vars = append(r.vars, &v)
	return v.ID, nil
}

// uuid makes a UUID-shaped variable ID from the counter. Callers hold mu.
func (e *Emulator) uuid() string {
	e.nextID++
	return fmt.Sprintf("%08x-7a7a-4a7a-8a7a-%012x", e.nextID, e.nextID*15485863)
}

// RateLimit is a fault rule answering like Travis's throttling
// (Rack::Attack in lib/travis/api/attack.rb: 2000 requests a minute per
// token): 429 with the body "Retry later". Travis sends no Retry-After
// (Rack::Attack's header is off by default); set the rule's RetryAfter to
// test one anyway. The fault injector answers with a JSON content type
// where Travis says text/plain. op is a substring of "METHOD /path" (""
// matches all); times 0 means every matching request.
func RateLimit(op string, times int) faults.Rule {
	return faults.Rule{Op: op, Status: http.StatusTooManyRequests, Times: times, Body: "Retry later\n"}
}

// opOf names a request for the fault injector: method and decoded path.
// It also reads the body up front (leaving a copy for the handler), so an
// injected Delay ends when the client hangs up.
func opOf(r *http.Request) string {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err == nil {
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	return r.Method + " " + r.URL.Path
}

// request is one v3 request, authenticated and routed.
type request struct {
	prefix string // "/v3" when the client opted in by path
	segs   []string
	access Access
}

// serve opts the request in to v3 (or answers as the legacy API would),
// authenticates and routes it.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	req := request{}
	switch {
	case strings.HasPrefix(path, "/v3/"):
		req.prefix, path = "/v3", strings.TrimPrefix(path, "/v3")
	case r.Header.Get("Travis-API-Version") == "3",
		strings.Contains(r.Header.Get("Accept"), "application/vnd.travis-ci.3+"):
	default:
		// The legacy (v2) API has no /repo/... endpoints: Sinatra's not found.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "file not found")
		return
	}

	// Access control comes first: a token Travis does not know is refused
	// whatever it asks for.
	kind, payload, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if kind != "" {
		token := strings.Trim(strings.TrimSpace(payload), `"`)
		e.mu.Lock()
		access, ok := e.tokens[token]
		e.mu.Unlock()
		if kind != "token" || !ok {
			writeError(w, http.StatusForbidden, "wrong_credentials", "access denied", nil)
			return
		}
		req.access = access
	}
	req.segs = strings.Split(strings.Trim(path, "/"), "/")

	e.mu.Lock()
	defer e.mu.Unlock()
	e.route(w, r, req)
}

// notFound is v3's answer for a resource that does not exist or that the
// token may not see.
func notFound(w http.ResponseWriter, resource string) {
	writeError(w, http.StatusNotFound, "not_found", resource+" not found (or insufficient access)",
		map[string]any{"resource_type": resource})
}

// writeError writes v3's error shape with extra payload fields.
func writeError(w http.ResponseWriter, status int, errType, msg string, payload map[string]any) {
	body := map[string]any{"@type": "error", "error_type": errType, "error_message": msg}
	for k, v := range payload {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// parseBool reads a boolean parameter the way Travis's params do: JSON
// booleans or the strings "true"/"false".
func parseBool(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}
