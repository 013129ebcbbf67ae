// Package tfeemu emulates the parts of the HCP Terraform / Terraform
// Enterprise API (JSON:API under /api/v2) that keyrotor uses: reading a
// workspace by organization and name, listing, creating and updating a
// workspace's variables, finding a variable set by name and listing,
// creating and updating its variables. It serves real HTTP so that the real
// client (github.com/hashicorp/go-tfe) can be tested against it, and it
// enforces the API's rules, status codes and error shapes so that the
// activity's error handling is exercised the way production will exercise it.
//
// The API it follows:
//
//   - https://developer.hashicorp.com/terraform/cloud-docs/api-docs
//     (authentication, 401 and 404, JSON:API documents and errors,
//     pagination, rate limiting)
//   - https://developer.hashicorp.com/terraform/cloud-docs/api-docs/workspaces#show-workspace
//   - https://developer.hashicorp.com/terraform/cloud-docs/api-docs/workspace-variables
//   - https://developer.hashicorp.com/terraform/cloud-docs/api-docs/variable-sets
//   - https://developer.hashicorp.com/terraform/cloud-docs/variables/managing-variables#variable-values-and-format
//     (the limits on keys, values and descriptions; sensitive values)
//
// What it enforces:
//
//   - Authentication: "Authorization: Bearer <token>". A missing or unknown
//     token is answered 401 with a JSON:API error object. A valid token that
//     may not see an organization, or may not write variables, is answered
//     404, as the API answers for anything a token may not see or do.
//   - Sensitive values are write-only: every response carries "value": null
//     for them. A sensitive variable cannot become non-sensitive, and its key
//     and category cannot change (422). Each write (create or update, even
//     one that changes nothing) gives the variable a new "version-id".
//   - Keys are unique per category within a workspace or a variable set
//     (422 "Key has already been taken"); a key is 1 to 128 characters, a
//     description at most 512, a value at most 256 KiB; the category is "env"
//     or "terraform". An environment variable's key must be a shell
//     identifier (letters, digits and "_", not starting with a digit):
//     HCP Terraform exports environment variables into a POSIX shell, which
//     cannot carry any other name. The wording of that message and of the
//     sensitive-variable messages is the emulator's own.
//   - Rate limiting: 30 requests per second for each token (each token is
//     its own user here; the API counts per user) and for each client
//     address without a valid token, answered 429 with the documented
//     JSON:API error and an X-RateLimit-Reset header holding the seconds
//     until the window ends, which go-tfe waits for before it retries.
//     SetRateLimit changes the limit.
//
// Every response carries TFP-API-Version and, while rate limiting is on,
// X-RateLimit-Limit, which go-tfe's NewClient reads from GET /api/v2/ping to
// configure its own limiter.
//
// No variable value ever appears in an error message or a log: the
// emulator writes no logs and its errors name attributes, never values.
package tfeemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// DefaultRateLimit is the API's documented limit: requests per second.
const DefaultRateLimit = 30

// APIVersion is what the emulator answers in the TFP-API-Version header
// (go-tfe's Client.RemoteAPIVersion).
const APIVersion = "2.6"

// The categories a workspace or variable-set variable may have.
const (
	CategoryEnv       = "env"
	CategoryTerraform = "terraform"
)

// Access is what a token may do in the organizations it can see.
type Access int

const (
	// ReadVariables reads workspaces, variable sets and variables.
	ReadVariables Access = iota + 1
	// WriteVariables also creates, updates and deletes variables.
	WriteVariables
)

// Variable is a workspace or variable-set variable as the emulator stores
// it, with its real value even when it is sensitive.
type Variable struct {
	ID          string // "var-..."
	Key         string
	Value       string
	Description string
	Category    string // CategoryEnv or CategoryTerraform
	HCL         bool
	Sensitive   bool
	VersionID   string // new on every write
	CreatedAt   time.Time
	UpdatedAt   time.Time // the last write; the API does not expose it
}

// grant is what one token may do: see every organization (orgs nil) or the
// listed ones, with access.
type grant struct {
	access Access
	orgs   map[string]bool
}

func (g grant) sees(org string) bool { return g.orgs == nil || g.orgs[org] }

type organization struct {
	name       string
	createdAt  time.Time
	workspaces map[string]*owner // by name
	varsets    []*owner          // in creation order
}

// owner is a workspace or a variable set: something that holds variables.
type owner struct {
	kind        string // "workspaces" or "varsets"
	id          string
	name        string
	description string // variable sets only
	org         *organization
	vars        []*Variable // in creation order
	createdAt   time.Time
	updatedAt   time.Time
}

// Emulator is an in-memory HCP Terraform. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD /api/v2/..." with the decoded path, e.g.
	// "PATCH /api/v2/workspaces/ws-.../vars/var-...".
	Faults *faults.Injector

	handler http.Handler

	mu         sync.Mutex
	tokens     map[string]grant
	orgs       map[string]*organization
	byID       map[string]*owner // workspaces and variable sets
	rateLimit  int
	windows    map[string]*window
	timeSource func() time.Time
}

// New returns an empty HCP Terraform that accepts token with WriteVariables
// access to every organization, rate limited at DefaultRateLimit.
func New(token string) *Emulator {
	e := &Emulator{
		Faults:     faults.New(),
		tokens:     map[string]grant{token: {access: WriteVariables}},
		orgs:       map[string]*organization{},
		byID:       map[string]*owner{},
		rateLimit:  DefaultRateLimit,
		windows:    map[string]*window{},
		timeSource: time.Now,
	}
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API under /api/v2.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another token with the given access to the listed
// organizations (every organization when none is listed). Organizations
// it does not list answer 404 to it, as the API answers for things a token
// may not see.
func (e *Emulator) AddToken(token string, access Access, orgs ...string) {
	g := grant{access: access}
	if len(orgs) > 0 {
		g.orgs = map[string]bool{}
		for _, o := range orgs {
			g.orgs[o] = true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = g
}

// SetRateLimit sets the requests per second each token (and each client
// address without a valid token) may make; 0 or less turns rate limiting
// off (and the X-RateLimit headers with it).
func (e *Emulator) SetRateLimit(perSecond int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rateLimit = max(perSecond, 0)
	e.windows = map[string]*window{}
}

// AddOrganization creates an organization (nothing if it exists).
func (e *Emulator) AddOrganization(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.org(name)
}

// org returns the organization name, creating it. Callers hold mu.
func (e *Emulator) org(name string) *organization {
	if o, ok := e.orgs[name]; ok {
		return o
	}
	o := &organization{name: name, createdAt: e.now(), workspaces: map[string]*owner{}}
	e.orgs[name] = o
	return o
}

// AddWorkspace creates workspace name in organization org (creating the
// organization if needed) and returns its ID, "ws-...", or the existing
// workspace's ID.
func (e *Emulator) AddWorkspace(org, name string) (id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.org(org)
	if ws, ok := o.workspaces[name]; ok {
		return ws.id
	}
	now := e.now()
	ws := &owner{kind: "workspaces", id: newID("ws-"), name: name, org: o, createdAt: now, updatedAt: now}
	o.workspaces[name] = ws
	e.byID[ws.id] = ws
	return ws.id
}

// AddVariableSet creates variable set name in organization org (creating
// the organization if needed) and returns its ID, "varset-...", or the
// existing set's ID.
func (e *Emulator) AddVariableSet(org, name string) (id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.org(org)
	for _, vs := range o.varsets {
		if vs.name == name {
			return vs.id
		}
	}
	now := e.now()
	vs := &owner{kind: "varsets", id: newID("varset-"), name: name, org: o, createdAt: now, updatedAt: now}
	o.varsets = append(o.varsets, vs)
	e.byID[vs.id] = vs
	return vs.id
}

// Variable returns a copy of the variable with this category and key held
// by ownerID, a workspace ID or a variable set ID, with its real value.
func (e *Emulator) Variable(ownerID, category, key string) (Variable, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.byID[ownerID]
	if o == nil {
		return Variable{}, false
	}
	for _, v := range o.vars {
		if v.Category == category && v.Key == key {
			return *v, true
		}
	}
	return Variable{}, false
}

// Variables returns copies of every variable held by ownerID, in creation
// order, with their real values.
func (e *Emulator) Variables(ownerID string) []Variable {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.byID[ownerID]
	if o == nil {
		return nil
	}
	out := make([]Variable, 0, len(o.vars))
	for _, v := range o.vars {
		out = append(out, *v)
	}
	return out
}

// SetVariable creates or replaces (by category and key) a variable held by
// ownerID without validation, to seed a state (for example a key left by a
// previous rotation), and returns it as stored. An empty Category means
// CategoryEnv; ID, VersionID and the times are filled in when empty.
func (e *Emulator) SetVariable(ownerID string, v Variable) (Variable, error) {
	if v.Category == "" {
		v.Category = CategoryEnv
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.byID[ownerID]
	if o == nil {
		return Variable{}, fmt.Errorf("tfeemu: no workspace or variable set %q", ownerID)
	}
	now := e.now()
	if v.ID == "" {
		v.ID = newID("var-")
	}
	if v.VersionID == "" {
		v.VersionID = newVersionID()
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = now
	}
	for i, old := range o.vars {
		if old.Category == v.Category && old.Key == v.Key {
			o.vars[i] = &v
			return v, nil
		}
	}
	o.vars = append(o.vars, &v)
	return v, nil
}

func (e *Emulator) now() time.Time { return e.timeSource().UTC() }

// opOf names a request for the fault injector: method and decoded path, so
// that a rule can match one workspace ("workspaces/ws-...") or one operation.
//
// It also reads the body up front (leaving a copy for the handler): the
// HTTP server notices a client hanging up only once the body is consumed,
// and an injected Delay must end when a client times out, not run its course.
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

// serve rate-limits, authenticates and routes one request.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("TFP-API-Version", APIVersion)
	h.Set("TFP-AppName", "HCP Terraform")
	segs, ok := splitPath(r)
	if !ok {
		writeErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	token, g, known := e.authenticate(r)
	client := "token " + token
	if !known {
		client = "address " + remoteHost(r)
	}
	if !e.admit(w, client) {
		writeErrors(w, http.StatusTooManyRequests, errRateLimited)
		return
	}
	if len(segs) == 1 && segs[0] == "ping" && r.Method == http.MethodGet {
		// go-tfe's NewClient reads the headers of this answer; it needs no token.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !known {
		writeErrors(w, http.StatusUnauthorized, errUnauthorized)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.route(w, r, g, segs)
}

// route dispatches an authenticated request. Callers hold mu.
func (e *Emulator) route(w http.ResponseWriter, r *http.Request, g grant, segs []string) {
	get := r.Method == http.MethodGet
	switch {
	case len(segs) == 4 && segs[0] == "organizations" && segs[2] == "workspaces" && get:
		o := e.visibleOrg(g, segs[1])
		if o == nil || o.workspaces[segs[3]] == nil {
			writeErrors(w, http.StatusNotFound, errNotFound)
			return
		}
		writeDocument(w, http.StatusOK, map[string]any{"data": workspaceResource(o.workspaces[segs[3]], g)})
	case len(segs) == 3 && segs[0] == "organizations" && segs[2] == "varsets" && get:
		o := e.visibleOrg(g, segs[1])
		if o == nil {
			writeErrors(w, http.StatusNotFound, errNotFound)
			return
		}
		listVariableSets(w, r, o)
	case len(segs) >= 2 && segs[0] == "workspaces":
		ws := e.visibleOwner(g, "workspaces", segs[1])
		switch {
		case ws == nil:
			writeErrors(w, http.StatusNotFound, errNotFound)
		case len(segs) == 2 && get:
			writeDocument(w, http.StatusOK, map[string]any{"data": workspaceResource(ws, g)})
		case len(segs) >= 3 && len(segs) <= 4 && segs[2] == "vars":
			e.routeVariables(w, r, g, ws, segs[3:])
		default:
			writeErrors(w, http.StatusNotFound, errNotFound)
		}
	case len(segs) >= 2 && segs[0] == "varsets":
		vs := e.visibleOwner(g, "varsets", segs[1])
		switch {
		case vs == nil:
			writeErrors(w, http.StatusNotFound, errNotFound)
		case len(segs) == 2 && get:
			doc := map[string]any{"data": variableSetResource(vs)}
			if includes(r, "vars") {
				doc["included"] = variableResources(vs, vs.vars)
			}
			writeDocument(w, http.StatusOK, doc)
		case len(segs) >= 4 && len(segs) <= 5 && segs[2] == "relationships" && segs[3] == "vars":
			e.routeVariables(w, r, g, vs, segs[4:])
		default:
			writeErrors(w, http.StatusNotFound, errNotFound)
		}
	default:
		writeErrors(w, http.StatusNotFound, errNotFound)
	}
}

// routeVariables dispatches .../vars and .../vars/:id. Writing needs
// WriteVariables; without it the API answers 404, as for anything a valid
// token may not do. Callers hold mu.
func (e *Emulator) routeVariables(w http.ResponseWriter, r *http.Request, g grant, o *owner, rest []string) {
	if r.Method != http.MethodGet && g.access < WriteVariables {
		writeErrors(w, http.StatusNotFound, errNotFound)
		return
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeDocument(w, http.StatusOK, map[string]any{"data": variableResources(o, o.vars)})
	case len(rest) == 0 && r.Method == http.MethodPost:
		e.createVariable(w, r, o)
	case len(rest) == 1:
		v := o.variable(rest[0])
		if v == nil {
			writeErrors(w, http.StatusNotFound, errNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeDocument(w, http.StatusOK, map[string]any{"data": variableResource(o, v)})
		case http.MethodPatch:
			e.updateVariable(w, r, o, v)
		case http.MethodDelete:
			o.remove(v)
			w.WriteHeader(http.StatusNoContent)
		default:
			writeErrors(w, http.StatusNotFound, errNotFound)
		}
	default:
		writeErrors(w, http.StatusNotFound, errNotFound)
	}
}

// visibleOrg is organization name if g may see it. Callers hold mu.
func (e *Emulator) visibleOrg(g grant, name string) *organization {
	if o := e.orgs[name]; o != nil && g.sees(name) {
		return o
	}
	return nil
}

// visibleOwner is the workspace or variable set id if g may see its
// organization. Callers hold mu.
func (e *Emulator) visibleOwner(g grant, kind, id string) *owner {
	if o := e.byID[id]; o != nil && o.kind == kind && g.sees(o.org.name) {
		return o
	}
	return nil
}

func (o *owner) variable(id string) *Variable {
	for _, v := range o.vars {
		if v.ID == id {
			return v
		}
	}
	return nil
}

func (o *owner) remove(v *Variable) {
	for i, cur := range o.vars {
		if cur == v {
			o.vars = append(o.vars[:i], o.vars[i+1:]...)
			return
		}
	}
}

// authenticate reads "Authorization: Bearer <token>".
func (e *Emulator) authenticate(r *http.Request) (string, grant, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", grant{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.tokens[token]
	return token, g, ok
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// splitPath returns the decoded segments after /api/v2/. It splits the
// escaped path so that an escaped "/" inside a name stays in its segment.
func splitPath(r *http.Request) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v2/")
	if !ok {
		return nil, false
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil || d == "" {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

// includes reports whether the request's include parameter names what.
func includes(r *http.Request, what string) bool {
	for _, v := range r.URL.Query()["include"] {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == what {
				return true
			}
		}
	}
	return false
}

// newID returns prefix and 16 random letters and digits, the shape of the
// API's external IDs ("ws-4j8p6jX1w33MiDC7").
func newID(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// newVersionID returns 36 hex digits, the shape of the API's version-id.
func newVersionID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
