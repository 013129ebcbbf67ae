// Package circleciemu emulates the parts of CircleCI's API v2 that keyrotor
// uses: project environment variables and context environment variables
// (https://circleci.com/docs/api/v2/). It serves real HTTP so that
// keyrotor's client (internal/clients.CircleCIClient) can be tested against
// it, and it enforces what CircleCI enforces: the Circle-Token, names
// (https://circleci.com/docs/contexts/#contexts-and-environment-variable-constraints),
// masked values on read ("xxxx" and the last four characters,
// https://circleci.com/docs/api/v1-reference/#list-environment-variables), pagination
// with next_page_token, and its {"message": "..."} error shape.
package circleciemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// EnvVar is a project or context environment variable as the emulator
// stores it, value in the clear.
type EnvVar struct {
	Name      string
	Value     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

type project struct {
	slug string
	id   string
	vars map[string]*EnvVar
}

type ctxt struct {
	id      string
	name    string
	created time.Time
	vars    map[string]*EnvVar
}

// Emulator is an in-memory CircleCI. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD /api/v2/..." with the decoded path, e.g.
	// "POST /api/v2/project/gh/acme/api/envvar".
	Faults *faults.Injector

	handler http.Handler

	mu       sync.Mutex
	tokens   map[string]bool
	projects map[string]*project // by normalised slug
	contexts map[string]*ctxt    // by ID
	nextID   int
	pageSize int
	now      func() time.Time
}

// DefaultPageSize is how many items a list answers with before it hands
// out a next_page_token.
const DefaultPageSize = 20

// New returns an empty CircleCI that accepts token as a personal API token.
func New(token string) *Emulator {
	e := &Emulator{
		Faults:   faults.New(),
		tokens:   map[string]bool{token: true},
		projects: map[string]*project{},
		contexts: map[string]*ctxt{},
		pageSize: DefaultPageSize,
		now:      func() time.Time { return time.Now().UTC() },
	}
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API under /api/v2.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another personal API token.
func (e *Emulator) AddToken(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = true
}

// SetPageSize changes how many items a list page holds (tests use small
// pages to exercise pagination).
func (e *Emulator) SetPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pageSize = max(n, 1)
}

// AddProject creates the project with slug "vcs/org/repo" ("gh/acme/api";
// "github" and "bitbucket" are the same as "gh" and "bb", as in CircleCI's
// API). Adding it again keeps its variables.
func (e *Emulator) AddProject(slug string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := normaliseSlug(slug)
	if _, ok := e.projects[s]; !ok {
		e.nextID++
		e.projects[s] = &project{slug: s, id: e.uuid(), vars: map[string]*EnvVar{}}
	}
}

// AddContext creates a context and returns its ID (a UUID).
func (e *Emulator) AddContext(name string) (id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	c := &ctxt{id: e.uuid(), name: name, created: e.now(), vars: map[string]*EnvVar{}}
	e.contexts[c.id] = c
	return c.id
}

// AddContextWithID creates the context with a given ID (a dev stack's
// configuration names contexts by ID before the emulator starts); adding
// it again keeps its variables.
func (e *Emulator) AddContextWithID(id, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.contexts[id]; !ok {
		e.contexts[id] = &ctxt{id: id, name: name, created: e.now(), vars: map[string]*EnvVar{}}
	}
}

// uuid makes a UUID-shaped ID from the counter. Callers hold mu.
func (e *Emulator) uuid() string {
	return fmt.Sprintf("%08x-c1c1-4c1c-8c1c-%012x", e.nextID, e.nextID*7919)
}

// ProjectEnvVar returns the project's variable with its value in the clear.
func (e *Emulator) ProjectEnvVar(slug, name string) (EnvVar, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.projects[normaliseSlug(slug)]
	if p == nil || p.vars[name] == nil {
		return EnvVar{}, false
	}
	return *p.vars[name], true
}

// ContextEnvVar returns the context's variable with its value in the clear.
func (e *Emulator) ContextEnvVar(contextID, name string) (EnvVar, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.contexts[contextID]
	if c == nil || c.vars[name] == nil {
		return EnvVar{}, false
	}
	return *c.vars[name], true
}

// SetProjectEnvVar seeds a project variable without validation (a value
// left by a previous rotation, say).
func (e *Emulator) SetProjectEnvVar(slug, name, value string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.projects[normaliseSlug(slug)]
	if p == nil {
		return fmt.Errorf("circleciemu: no project %s", slug)
	}
	now := e.now()
	p.vars[name] = &EnvVar{Name: name, Value: value, CreatedAt: now, UpdatedAt: now}
	return nil
}

// SetContextEnvVar seeds a context variable without validation.
func (e *Emulator) SetContextEnvVar(contextID, name, value string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.contexts[contextID]
	if c == nil {
		return fmt.Errorf("circleciemu: no context %s", contextID)
	}
	now := e.now()
	c.vars[name] = &EnvVar{Name: name, Value: value, CreatedAt: now, UpdatedAt: now}
	return nil
}

// Mask is how CircleCI shows a variable's value: four "x" and the last
// four characters of the value ("Returns four 'x' characters plus the last
// four ASCII characters of the value, consistent with the display of
// environment variable values in the CircleCI website").
func Mask(value string) string {
	r := []rune(value)
	return "xxxx" + string(r[max(len(r)-4, 0):])
}

// RateLimit is a fault rule answering like CircleCI's throttling: 429 Too
// Many Requests with Retry-After (whole seconds; none when retryAfter is
// 0), which CircleCI documents as the wait before a retry
// (https://circleci.com/docs/api/v1/#rate-limiting). op is a substring of
// "METHOD /api/v2/path" ("" matches all); times 0 means every matching request.
func RateLimit(op string, retryAfter time.Duration, times int) faults.Rule {
	return faults.Rule{Op: op, Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Times: times,
		Body: `{"message":"Too many requests"}`}
}

// vcsAliases are the VCS slugs CircleCI accepts in a project slug.
var vcsAliases = map[string]string{"github": "gh", "bitbucket": "bb"}

func normaliseSlug(slug string) string {
	vcs, rest, ok := strings.Cut(strings.Trim(slug, "/"), "/")
	if !ok {
		return slug
	}
	if a, ok := vcsAliases[vcs]; ok {
		vcs = a
	}
	return vcs + "/" + rest
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

// serve authenticates and routes one request.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	if !e.authenticated(r) {
		writeMessage(w, http.StatusUnauthorized, "You must log in first.")
		return
	}
	parts, ok := splitPath(r)
	if !ok || len(parts) == 0 {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch parts[0] {
	case "project":
		e.routeProject(w, r, parts[1:])
	case "context":
		e.routeContext(w, r, parts[1:])
	default:
		writeMessage(w, http.StatusNotFound, "Not found")
	}
}

// authenticated reads the token the ways CircleCI accepts it: the
// Circle-Token header, or HTTP Basic with the token as the user name.
func (e *Emulator) authenticated(r *http.Request) bool {
	token := r.Header.Get("Circle-Token")
	if token == "" {
		if user, _, ok := r.BasicAuth(); ok {
			token = user
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return token != "" && e.tokens[token]
}

// splitPath returns the decoded segments after /api/v2/. A project slug may
// arrive as three segments or as one with its "/" escaped ("gh%2Facme%2Fapi"),
// so segments are decoded first and the result split again.
func splitPath(r *http.Request) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v2/")
	if !ok {
		return nil, false
	}
	var decoded []string
	for _, s := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		decoded = append(decoded, d)
	}
	return strings.Split(strings.Join(decoded, "/"), "/"), true
}

// page cuts a sorted list at the page token, answering the token of the
// next page ("" on the last). ok is false for a token the emulator never
// handed out.
func page[T any](items []T, token string, size int) (out []T, next string, ok bool) {
	start := 0
	if token != "" {
		if _, err := fmt.Sscanf(token, "page-%d", &start); err != nil || start < 0 || start > len(items) {
			return nil, "", false
		}
	}
	end := min(start+size, len(items))
	if end < len(items) {
		next = fmt.Sprintf("page-%d", end)
	}
	return items[start:end], next, true
}

func sortedVars(vars map[string]*EnvVar) []*EnvVar {
	out := make([]*EnvVar, 0, len(vars))
	for _, v := range vars {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
