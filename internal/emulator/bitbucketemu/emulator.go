// Package bitbucketemu emulates the parts of Bitbucket Cloud's REST API 2.0
// that keyrotor uses: Pipelines repository variables, deployment
// environments and their variables
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pipelines/,
// https://developer.atlassian.com/cloud/bitbucket/rest/api-group-deployments/).
// It serves real HTTP so that keyrotor's client
// (internal/clients.BitbucketClient) can be tested against it, and it
// enforces what Bitbucket enforces: Bearer access tokens and their scopes
// (https://support.atlassian.com/bitbucket-cloud/docs/repository-access-token-permissions/),
// variable keys, one variable per key (409), secured values never
// returned, page/pagelen/next pagination
// (https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination)
// and Bitbucket's {"type": "error", "error": {...}} shape.
package bitbucketemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// Access token scopes the emulator checks
// (https://support.atlassian.com/bitbucket-cloud/docs/repository-access-token-permissions/):
// pipeline:variable (edit variables) implies pipeline:write, which implies
// pipeline (read).
const (
	ScopePipeline         = "pipeline"
	ScopePipelineWrite    = "pipeline:write"
	ScopePipelineVariable = "pipeline:variable"
	ScopeRepository       = "repository"
)

// implied lists the scopes each scope grants besides itself.
var implied = map[string][]string{
	ScopePipelineVariable: {ScopePipelineWrite, ScopePipeline},
	ScopePipelineWrite:    {ScopePipeline},
}

// Variable is a Pipelines variable as the emulator stores it, value in the clear.
type Variable struct {
	UUID    string // with its braces
	Key     string
	Value   string
	Secured bool
}

// The environment types Bitbucket knows, in their rank order.
var environmentTypes = []string{"Test", "Staging", "Production"}

type environment struct {
	uuid, name, slug, typ string
	rank                  int
	vars                  []*Variable
}

type repository struct {
	full string // "workspace/repo_slug"
	vars []*Variable
	envs []*environment
}

// Emulator is an in-memory Bitbucket Cloud. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD /2.0/..." with the decoded path, e.g.
	// "PUT /2.0/repositories/acme/api/pipelines_config/variables/{…}".
	Faults *faults.Injector

	handler http.Handler

	mu     sync.Mutex
	tokens map[string][]string // token -> scopes
	repos  map[string]*repository
	nextID int
}

// DefaultPageLen and MaxPageLen are Bitbucket's page sizes for lists.
const (
	DefaultPageLen = 10
	MaxPageLen     = 100
)

// New returns an empty Bitbucket that accepts token as an access token
// with the repository and pipeline:variable scopes.
func New(token string) *Emulator {
	e := &Emulator{
		Faults: faults.New(),
		tokens: map[string][]string{token: {ScopeRepository, ScopePipelineVariable}},
		repos:  map[string]*repository{},
	}
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API under /2.0.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another access token with the given scopes (one
// without pipeline:variable gets 403 on variables).
func (e *Emulator) AddToken(token string, scopes ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = scopes
}

// AddRepository creates the repository "workspace/repo_slug" with Pipelines
// enabled and its three default deployment environments, Test, Staging and
// Production. Adding it again keeps what it holds.
func (e *Emulator) AddRepository(fullName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.repos[fullName] != nil {
		return
	}
	r := &repository{full: fullName}
	e.repos[fullName] = r
	for _, t := range environmentTypes {
		e.addEnvironment(r, t, t)
	}
}

// AddEnvironment creates a deployment environment of type envType (Test,
// Staging or Production; "" is Test) and returns its UUID, or the UUID of
// the environment already called name.
func (e *Emulator) AddEnvironment(fullName, name, envType string) (uuid string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.repos[fullName]
	if r == nil {
		return "", fmt.Errorf("bitbucketemu: no repository %s", fullName)
	}
	if envType == "" {
		envType = "Test"
	}
	if !slices.Contains(environmentTypes, envType) {
		return "", fmt.Errorf("bitbucketemu: no environment type %q", envType)
	}
	return e.addEnvironment(r, name, envType).uuid, nil
}

// addEnvironment adds or finds an environment. Callers hold mu.
func (e *Emulator) addEnvironment(r *repository, name, envType string) *environment {
	for _, env := range r.envs {
		if strings.EqualFold(env.name, name) {
			return env
		}
	}
	env := &environment{uuid: e.uuid(), name: name, typ: envType,
		slug: strings.ToLower(strings.ReplaceAll(name, " ", "-")), rank: slices.Index(environmentTypes, envType)}
	r.envs = append(r.envs, env)
	return env
}

// Environment returns the UUID of the repository's environment called name.
func (e *Emulator) Environment(fullName, name string) (uuid string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.repos[fullName]; r != nil {
		for _, env := range r.envs {
			if env.name == name {
				return env.uuid, true
			}
		}
	}
	return "", false
}

// uuid makes a braced UUID from the counter. Callers hold mu.
func (e *Emulator) uuid() string {
	e.nextID++
	return fmt.Sprintf("{%08x-b1b1-4b1b-8b1b-%012x}", e.nextID, e.nextID*104729)
}

// RepositoryVariable returns the repository's variable key, value in the clear.
func (e *Emulator) RepositoryVariable(fullName, key string) (Variable, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.repos[fullName]; r != nil {
		return findKey(r.vars, key)
	}
	return Variable{}, false
}

// DeploymentVariable returns the environment's variable key, value in the clear.
func (e *Emulator) DeploymentVariable(fullName, environmentUUID, key string) (Variable, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if env := e.env(fullName, environmentUUID); env != nil {
		return findKey(env.vars, key)
	}
	return Variable{}, false
}

// SetRepositoryVariable seeds a repository variable without validation
// and returns its UUID.
func (e *Emulator) SetRepositoryVariable(fullName, key, value string, secured bool) (uuid string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.repos[fullName]
	if r == nil {
		return "", fmt.Errorf("bitbucketemu: no repository %s", fullName)
	}
	v := &Variable{UUID: e.uuid(), Key: key, Value: value, Secured: secured}
	r.vars = append(r.vars, v)
	return v.UUID, nil
}

// SetDeploymentVariable seeds a deployment variable without validation
// and returns its UUID.
func (e *Emulator) SetDeploymentVariable(fullName, environmentUUID, key, value string, secured bool) (uuid string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	env := e.env(fullName, environmentUUID)
	if env == nil {
		return "", fmt.Errorf("bitbucketemu: no environment %s in %s", environmentUUID, fullName)
	}
	v := &Variable{UUID: e.uuid(), Key: key, Value: value, Secured: secured}
	env.vars = append(env.vars, v)
	return v.UUID, nil
}

// env finds an environment by UUID. Callers hold mu.
func (e *Emulator) env(fullName, environmentUUID string) *environment {
	if r := e.repos[fullName]; r != nil {
		for _, env := range r.envs {
			if env.uuid == environmentUUID {
				return env
			}
		}
	}
	return nil
}

func findKey(vars []*Variable, key string) (Variable, bool) {
	for _, v := range vars {
		if v.Key == key {
			return *v, true
		}
	}
	return Variable{}, false
}

// RateLimitMessage is what Bitbucket answers once a token's hourly
// allowance is spent
// (https://support.atlassian.com/bitbucket-cloud/docs/api-request-limits/).
const RateLimitMessage = "Rate limit for this resource has been exceeded"

// RateLimit is a fault rule answering like Bitbucket's rate limit: 429 with
// the X-RateLimit-* headers Bitbucket sends to access tokens
// (X-RateLimit-Limit, X-RateLimit-Resource, X-RateLimit-NearLimit).
// Bitbucket documents no Retry-After: its limit is a rolling hour; set the
// rule's RetryAfter to test a client that honours one anyway. op is a
// substring of "METHOD /2.0/path" ("" matches all); times 0 means every
// matching request.
func RateLimit(op string, times int) faults.Rule {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "1000")
	h.Set("X-RateLimit-Resource", "api")
	h.Set("X-RateLimit-NearLimit", "true")
	return faults.Rule{Op: op, Status: http.StatusTooManyRequests, Header: h, Times: times,
		Body: jsonString(errorBody(RateLimitMessage, nil))}
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
	scopes, ok := e.authenticate(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Token is invalid, expired, or not supported for this endpoint.", nil)
		return
	}
	segs, ok := splitPath(r)
	if !ok || len(segs) < 3 || segs[0] != "repositories" {
		writeError(w, http.StatusNotFound, "Resource not found", nil)
		return
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", "1000")
	h.Set("X-RateLimit-Resource", "api")
	h.Set("X-RateLimit-NearLimit", "false")

	e.mu.Lock()
	defer e.mu.Unlock()
	full := segs[1] + "/" + segs[2]
	repo := e.repos[full]
	if repo == nil {
		writeError(w, http.StatusNotFound, "Repository "+full+" not found", nil)
		return
	}
	rest := segs[3:]
	switch {
	case len(rest) >= 2 && rest[0] == "pipelines_config" && rest[1] == "variables" && len(rest) <= 3:
		if !need(w, scopes, ScopePipelineVariable) {
			return
		}
		e.routeVariables(w, r, &repo.vars, "pipeline_variable", rest[2:], true)
	case len(rest) >= 4 && rest[0] == "deployments_config" && rest[1] == "environments" && rest[3] == "variables" && len(rest) <= 5:
		if !need(w, scopes, ScopePipelineVariable) {
			return
		}
		env := e.env(full, rest[2])
		if env == nil {
			writeError(w, http.StatusNotFound, "Environment not found", nil)
			return
		}
		e.routeVariables(w, r, &env.vars, "deployment_variable", rest[4:], false)
	case len(rest) >= 1 && rest[0] == "environments" && len(rest) <= 2:
		if !need(w, scopes, ScopePipeline) {
			return
		}
		e.routeEnvironments(w, r, repo, rest[1:])
	default:
		writeError(w, http.StatusNotFound, "Resource not found", nil)
	}
}

// authenticate reads "Authorization: Bearer <access token>".
func (e *Emulator) authenticate(r *http.Request) ([]string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	scopes, ok := e.tokens[token]
	return scopes, ok
}

// need answers 403 unless scopes grant want.
func need(w http.ResponseWriter, scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want || slices.Contains(implied[s], want) {
			return true
		}
	}
	writeError(w, http.StatusForbidden, "Your credentials lack one or more required privilege scopes.",
		map[string]any{"granted": scopes, "required": []string{want}})
	return false
}

// splitPath returns the decoded segments after /2.0/ (a UUID's braces
// travel escaped: %7B...%7D).
func splitPath(r *http.Request) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2.0/")
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

// errorBody is Bitbucket's error shape; detail, when set, is a string or an object.
func errorBody(msg string, detail any) map[string]any {
	inner := map[string]any{"message": msg}
	if detail != nil {
		inner["detail"] = detail
	}
	return map[string]any{"type": "error", "error": inner}
}

func writeError(w http.ResponseWriter, status int, msg string, detail any) {
	writeJSON(w, status, errorBody(msg, detail))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
