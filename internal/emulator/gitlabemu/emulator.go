// Package gitlabemu emulates the parts of the GitLab REST API v4 that
// keyrotor uses: projects, groups and their CI/CD variables. It serves real
// HTTP so that the real client (gitlab.com/gitlab-org/api/client-go) can be
// tested against it, and it enforces GitLab's validation rules, status codes
// and error shapes so that the activity's error handling is exercised the way
// production will exercise it.
package gitlabemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// Role is a member's access level, with GitLab's numeric values.
type Role int

// The roles the emulator distinguishes: managing CI/CD variables needs Maintainer.
const (
	Developer  Role = 30
	Maintainer Role = 40
	Owner      Role = 50
)

// Variable is a CI/CD variable as the emulator stores it.
type Variable struct {
	Key              string
	Value            string
	VariableType     string // "env_var" or "file"
	Protected        bool
	Masked           bool
	Hidden           bool // created with masked_and_hidden: its value is never returned
	Raw              bool // not expanded: "$" stays literal
	EnvironmentScope string
	Description      string
}

// owner is a project or a group: something that holds variables.
type owner struct {
	kind string // "project" or "group"
	id   int
	path string
	vars []*Variable // in creation order, as GitLab lists them
}

// Emulator is an in-memory GitLab. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD /api/v4/..." with the decoded path, e.g.
	// "PUT /api/v4/projects/acme/api/variables/AWS_ACCESS_KEY_ID".
	Faults *faults.Injector

	handler http.Handler

	mu       sync.Mutex
	tokens   map[string]Role
	nextID   map[string]int
	byID     map[string]map[int]*owner    // kind -> id -> owner
	byPath   map[string]map[string]*owner // kind -> path -> owner
	baseHost string
	quota    quota
}

// New returns an empty GitLab that accepts token with the Owner role.
func New(token string) *Emulator {
	e := &Emulator{
		Faults: faults.New(),
		tokens: map[string]Role{token: Owner},
		nextID: map[string]int{"project": 0, "group": 0},
		byID:   map[string]map[int]*owner{"project": {}, "group": {}},
		byPath: map[string]map[string]*owner{"project": {}, "group": {}},
	}
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API under /api/v4.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another token with the given role on every project and
// group (a Developer token can read projects but not manage variables: 403).
func (e *Emulator) AddToken(token string, role Role) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = role
}

// AddProject creates a project with the full path "namespace/name" (or
// returns the existing one's ID).
func (e *Emulator) AddProject(path string) (id int) { return e.add("project", path) }

// AddGroup creates a group with the full path "acme" or "acme/sub" (or
// returns the existing one's ID).
func (e *Emulator) AddGroup(path string) (id int) { return e.add("group", path) }

func (e *Emulator) add(kind, path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if o, ok := e.byPath[kind][path]; ok {
		return o.id
	}
	// Start the two sequences far apart so a test that mixes up a project
	// ID with a group ID gets a 404 instead of a false success.
	e.nextID[kind]++
	id := e.nextID[kind]
	if kind == "group" {
		id += 1000
	}
	o := &owner{kind: kind, id: id, path: path}
	e.byID[kind][id] = o
	e.byPath[kind][path] = o
	return id
}

// Variable returns a copy of the variable key with the given environment
// scope ("" means "*") held by scope, which is "project:<path or id>" or
// "group:<path or id>".
func (e *Emulator) Variable(scope, key, environmentScope string) (Variable, bool) {
	if environmentScope == "" {
		environmentScope = "*"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.ownerOfScope(scope)
	if o == nil {
		return Variable{}, false
	}
	for _, v := range o.vars {
		if v.Key == key && v.EnvironmentScope == environmentScope {
			return *v, true
		}
	}
	return Variable{}, false
}

// Variables returns copies of every variable held by scope (see Variable).
func (e *Emulator) Variables(scope string) []Variable {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.ownerOfScope(scope)
	if o == nil {
		return nil
	}
	out := make([]Variable, 0, len(o.vars))
	for _, v := range o.vars {
		out = append(out, *v)
	}
	return out
}

// SetVariable creates or replaces a variable without validation, to seed a
// state (for example a value left by a previous rotation). An empty
// EnvironmentScope means "*", an empty VariableType "env_var".
func (e *Emulator) SetVariable(scope string, v Variable) error {
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	if v.VariableType == "" {
		v.VariableType = "env_var"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.ownerOfScope(scope)
	if o == nil {
		return fmt.Errorf("gitlabemu: no %s", scope)
	}
	for i, old := range o.vars {
		if old.Key == v.Key && old.EnvironmentScope == v.EnvironmentScope {
			o.vars[i] = &v
			return nil
		}
	}
	o.vars = append(o.vars, &v)
	return nil
}

// ownerOfScope resolves "project:acme/api" / "group:7". Callers hold mu.
func (e *Emulator) ownerOfScope(scope string) *owner {
	kind, ref, ok := strings.Cut(scope, ":")
	if !ok || (kind != "project" && kind != "group") {
		return nil
	}
	return e.lookup(kind, ref)
}

// lookup finds a project or group by numeric ID or full path, as the API
// does for its :id parameter. Callers hold mu.
func (e *Emulator) lookup(kind, ref string) *owner {
	if id, err := strconv.Atoi(ref); err == nil {
		return e.byID[kind][id]
	}
	return e.byPath[kind][ref]
}

// opOf names a request for the fault injector: method and decoded path, so
// that a rule can match one target ("projects/acme/api/") or one operation.
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

// serve authenticates and routes one request.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	e.setHost(r)
	role, ok := e.authenticate(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	segs, ok := splitPath(r)
	if !ok || len(segs) < 2 || (segs[0] != "projects" && segs[0] != "groups") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
		return
	}
	kind := strings.TrimSuffix(segs[0], "s")
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.quota.take(w.Header(), time.Now()) {
		writeMessage(w, http.StatusTooManyRequests, "Retry later")
		return
	}
	o := e.lookup(kind, segs[1])
	if o == nil {
		writeMessage(w, http.StatusNotFound, "404 "+titleKind(kind)+" Not Found")
		return
	}
	switch {
	case len(segs) == 2 && r.Method == http.MethodGet:
		e.showOwner(w, o)
	case len(segs) >= 3 && segs[2] == "variables" && len(segs) <= 4:
		if role < Maintainer {
			writeMessage(w, http.StatusForbidden, "403 Forbidden")
			return
		}
		e.routeVariables(w, r, o, segs[3:])
	case len(segs) == 2:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "405 Method Not Allowed"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
}

// routeVariables dispatches /variables and /variables/:key. Callers hold mu.
func (e *Emulator) routeVariables(w http.ResponseWriter, r *http.Request, o *owner, rest []string) {
	p, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		listVariables(w, p, o)
	case len(rest) == 0 && r.Method == http.MethodPost:
		createVariable(w, p, o)
	case len(rest) == 1 && r.Method == http.MethodGet:
		getVariable(w, p, o, rest[0])
	case len(rest) == 1 && r.Method == http.MethodPut:
		updateVariable(w, p, o, rest[0])
	case len(rest) == 1 && r.Method == http.MethodDelete:
		deleteVariable(w, p, o, rest[0])
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "405 Method Not Allowed"})
	}
}

// authenticate reads the token the way GitLab does: PRIVATE-TOKEN header
// (personal access tokens, client-go's default) or an OAuth Bearer token.
func (e *Emulator) authenticate(r *http.Request) (Role, bool) {
	token := r.Header.Get("PRIVATE-TOKEN")
	if token == "" {
		if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = t
		}
	}
	if token == "" {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	role, ok := e.tokens[token]
	return role, ok
}

// splitPath returns the decoded segments after /api/v4/. It splits the
// escaped path because a project path travels as one segment with its "/"
// encoded as %2F, which r.URL.Path has already decoded.
func splitPath(r *http.Request) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/")
	if !ok {
		return nil, false
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

func (e *Emulator) setHost(r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.baseHost == "" {
		e.baseHost = "http://" + r.Host
	}
}

// showOwner answers GET /projects/:id and GET /groups/:id with the fields
// clients commonly read. Callers hold mu.
func (e *Emulator) showOwner(w http.ResponseWriter, o *owner) {
	name := o.path[strings.LastIndex(o.path, "/")+1:]
	webURL := e.baseHost + "/" + o.path
	if o.kind == "group" {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": o.id, "name": name, "path": name, "full_name": strings.ReplaceAll(o.path, "/", " / "),
			"full_path": o.path, "parent_id": e.parentID(o.path), "visibility": "private", "web_url": webURL,
		})
		return
	}
	ns := o.path[:max(strings.LastIndex(o.path, "/"), 0)]
	writeJSON(w, http.StatusOK, map[string]any{
		"id": o.id, "name": name, "path": name, "path_with_namespace": o.path,
		"name_with_namespace": strings.ReplaceAll(o.path, "/", " / "), "description": nil,
		"default_branch": "main", "visibility": "private", "web_url": webURL,
		"namespace": map[string]any{
			"id": e.parentID(o.path), "path": ns[strings.LastIndex(ns, "/")+1:], "full_path": ns, "kind": "group",
		},
	})
}

// parentID is the ID of the group holding path, or nil when it is not seeded.
func (e *Emulator) parentID(path string) any {
	i := strings.LastIndex(path, "/")
	if i < 0 {
		return nil
	}
	if g, ok := e.byPath["group"][path[:i]]; ok {
		return g.id
	}
	return nil
}

func titleKind(kind string) string {
	if kind == "group" {
		return "Group"
	}
	return "Project"
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
