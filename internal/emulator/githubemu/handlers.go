package githubemu

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	docsREST    = "https://docs.github.com/rest"
	docsSecrets = "https://docs.github.com/rest/actions/secrets"
	// enterprisePrefix is what go-github's WithEnterpriseURLs appends to a
	// base URL; the emulator serves the same API under it.
	enterprisePrefix = "/api/v3"
	timeLayout       = time.RFC3339 // GitHub's timestamps have whole seconds
)

// apiError is GitHub's JSON error body.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
	Status           string       `json:"status,omitempty"`
}

type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

// errNotFound is GitHub's answer for anything unknown, including resources
// the token may not see.
var errNotFound = apiError{Message: "Not Found", DocumentationURL: docsREST, Status: "404"}

// opOf names a request for the fault injector and the call counter.
func opOf(r *http.Request) string {
	return r.Method + " " + strings.TrimPrefix(r.URL.Path, enterprisePrefix)
}

// routes builds the router. Every handler runs authenticated and under e.mu.
func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request)) {
		mux.HandleFunc(pattern, e.api(h))
	}

	// The App token exchange authenticates with a JWT, not a token.
	mux.HandleFunc("POST /app/installations/{installation_id}/access_tokens", e.appAPI(e.createInstallationToken))

	handle("GET /repos/{owner}/{repo}", e.getRepo)
	handle("GET /repositories/{id}", e.getRepo)

	// The same five secret endpoints exist for every scope. Environment
	// secrets live under both the owner/repo paths GitHub documents today and
	// the repository-ID paths go-github v60 requests.
	secretRoutes := func(prefix string, loc locator) {
		handle("GET "+prefix+"/public-key", inScope(loc, e.getPublicKey))
		handle("GET "+prefix, inScope(loc, e.listSecrets))
		handle("GET "+prefix+"/{name}", inScope(loc, e.getSecret))
		handle("PUT "+prefix+"/{name}", inScope(loc, e.putSecret))
		handle("DELETE "+prefix+"/{name}", inScope(loc, e.deleteSecret))
	}
	secretRoutes("/repos/{owner}/{repo}/actions/secrets", e.locateRepo)
	secretRoutes("/repos/{owner}/{repo}/environments/{env}/secrets", e.locateEnv)
	secretRoutes("/repositories/{id}/environments/{env}/secrets", e.locateEnv)
	secretRoutes("/orgs/{org}/actions/secrets", e.locateOrg)
	handle("GET /orgs/{org}/actions/secrets/{name}/repositories", e.listSelectedRepos)
	handle("PUT /orgs/{org}/actions/secrets/{name}/repositories/{repository_id}", e.addSelectedRepo)

	return stripEnterprisePrefix(notFoundAsJSON(mux))
}

// stripEnterprisePrefix lets clients built with WithEnterpriseURLs work too.
func stripEnterprisePrefix(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := strings.CutPrefix(r.URL.Path, enterprisePrefix); ok && strings.HasPrefix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = p
			r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, enterprisePrefix)
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// notFoundAsJSON answers unknown paths and methods the way GitHub does,
// instead of ServeMux's plain-text 404/405.
func notFoundAsJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			writeJSON(w, http.StatusNotFound, errNotFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// api authenticates the request, sets the rate-limit headers GitHub sends
// on every answer and serializes access to the state.
func (e *Emulator) api(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.rate.take(w.Header(), time.Now()) {
			writeJSON(w, http.StatusForbidden, primaryLimitBody)
			return
		}
		access, known := e.tokenAccess(bearer(r))
		switch {
		case r.Header.Get("Authorization") == "":
			writeJSON(w, http.StatusUnauthorized, apiError{Message: "Requires authentication", DocumentationURL: docsREST, Status: "401"})
		case !known:
			writeJSON(w, http.StatusUnauthorized, apiError{Message: "Bad credentials", DocumentationURL: docsREST, Status: "401"})
		case !access:
			writeJSON(w, http.StatusForbidden, apiError{Message: "Resource not accessible by integration", DocumentationURL: docsSecrets, Status: "403"})
		default:
			h(w, r)
		}
	}
}

// bearer extracts the token from "Bearer X" or "token X".
func bearer(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok {
		return ""
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(tok)
	}
	return ""
}

// --- scope lookup -----------------------------------------------------------

// located is the scope a request addresses; org is set for organization
// scopes, whose secrets have a visibility.
type located struct {
	scope *scope
	org   *org
}

type locator func(*http.Request) (located, bool)

// inScope finds the request's repository, environment or organization and
// hands it to h; an unknown one is GitHub's 404.
func inScope(loc locator, h func(http.ResponseWriter, *http.Request, located)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l, ok := loc(r)
		if !ok {
			writeJSON(w, http.StatusNotFound, errNotFound)
			return
		}
		h(w, r, l)
	}
}

func (e *Emulator) repoOf(r *http.Request) (*repo, bool) {
	if id := r.PathValue("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, false
		}
		rp, ok := e.reposByID[n]
		return rp, ok
	}
	rp, ok := e.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	return rp, ok
}

func (e *Emulator) locateRepo(r *http.Request) (located, bool) {
	rp, ok := e.repoOf(r)
	if !ok {
		return located{}, false
	}
	return located{scope: &rp.scope}, true
}

func (e *Emulator) locateEnv(r *http.Request) (located, bool) {
	rp, ok := e.repoOf(r)
	if !ok {
		return located{}, false
	}
	s, ok := rp.envs[r.PathValue("env")]
	return located{scope: s}, ok
}

func (e *Emulator) locateOrg(r *http.Request) (located, bool) {
	o, ok := e.orgs[strings.ToLower(r.PathValue("org"))]
	if !ok {
		return located{}, false
	}
	return located{scope: &o.scope, org: o}, true
}

// --- handlers ---------------------------------------------------------------

type ownerJSON struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

type repoJSON struct {
	ID       int64     `json:"id"`
	NodeID   string    `json:"node_id"`
	Name     string    `json:"name"`
	FullName string    `json:"full_name"`
	Private  bool      `json:"private"`
	Owner    ownerJSON `json:"owner"`
}

func (e *Emulator) repoJSON(rp *repo) repoJSON {
	owner := ownerJSON{Login: rp.owner, Type: "User"}
	if o, ok := e.orgs[strings.ToLower(rp.owner)]; ok {
		owner = ownerJSON{Login: o.name, ID: o.id, Type: "Organization"}
	}
	return repoJSON{
		ID: rp.id, NodeID: "R_" + strconv.FormatInt(rp.id, 36), Name: rp.name,
		FullName: rp.fullName(), Private: true, Owner: owner,
	}
}

func (e *Emulator) getRepo(w http.ResponseWriter, r *http.Request) {
	rp, ok := e.repoOf(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, e.repoJSON(rp))
}

func (e *Emulator) getPublicKey(w http.ResponseWriter, r *http.Request, l located) {
	writeJSON(w, http.StatusOK, map[string]string{
		"key_id": l.scope.key.id,
		"key":    base64.StdEncoding.EncodeToString(l.scope.key.Public()[:]),
	})
}

type secretJSON struct {
	Name                    string `json:"name"`
	CreatedAt               string `json:"created_at"`
	UpdatedAt               string `json:"updated_at"`
	Visibility              string `json:"visibility,omitempty"`
	SelectedRepositoriesURL string `json:"selected_repositories_url,omitempty"`
}

func secretBody(r *http.Request, l located, name string, s *secret) secretJSON {
	out := secretJSON{
		Name:      name,
		CreatedAt: s.created.UTC().Format(timeLayout),
		UpdatedAt: s.updated.UTC().Format(timeLayout),
	}
	if l.org != nil {
		out.Visibility = s.visibility
		if s.visibility == visSelected {
			out.SelectedRepositoriesURL = baseURL(r) + "/orgs/" + l.org.name + "/actions/secrets/" + name + "/repositories"
		}
	}
	return out
}

// secretKey is how GitHub keys a secret: names are case-insensitive and
// stored (and listed) in upper case, whatever case they were written in.
func secretKey(name string) string { return strings.ToUpper(name) }

func (e *Emulator) getSecret(w http.ResponseWriter, r *http.Request, l located) {
	name := secretKey(r.PathValue("name"))
	s, ok := l.scope.secrets[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, secretBody(r, l, name, s))
}

func (e *Emulator) listSecrets(w http.ResponseWriter, r *http.Request, l located) {
	names := make([]string, 0, len(l.scope.secrets))
	for n := range l.scope.secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	lo, hi := paginate(w, r, len(names))
	page := make([]secretJSON, 0, hi-lo)
	for _, n := range names[lo:hi] {
		page = append(page, secretBody(r, l, n, l.scope.secrets[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(names), "secrets": page})
}

func (e *Emulator) deleteSecret(w http.ResponseWriter, r *http.Request, l located) {
	name := secretKey(r.PathValue("name"))
	if _, ok := l.scope.secrets[name]; !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	delete(l.scope.secrets, name)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) listSelectedRepos(w http.ResponseWriter, r *http.Request) {
	l, ok := e.locateOrg(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	s, ok := l.scope.secrets[secretKey(r.PathValue("name"))]
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	lo, hi := paginate(w, r, len(s.selected))
	repos := make([]repoJSON, 0, hi-lo)
	for _, id := range s.selected[lo:hi] {
		if rp, ok := e.reposByID[id]; ok {
			repos = append(repos, e.repoJSON(rp))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(s.selected), "repositories": repos})
}

// addSelectedRepo gives one more repository access to a secret with
// visibility selected, as a person does in the organization's settings:
// 204, or 409 when the secret's visibility is not selected.
func (e *Emulator) addSelectedRepo(w http.ResponseWriter, r *http.Request) {
	l, ok := e.locateOrg(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	s, ok := l.scope.secrets[secretKey(r.PathValue("name"))]
	id, err := strconv.ParseInt(r.PathValue("repository_id"), 10, 64)
	rp, known := e.reposByID[id]
	if !ok || err != nil || !known || !strings.EqualFold(rp.owner, l.org.name) {
		writeJSON(w, http.StatusNotFound, errNotFound)
		return
	}
	if s.visibility != visSelected {
		writeJSON(w, http.StatusConflict, apiError{Message: "Visibility of the secret is not set to selected.", DocumentationURL: docsSecrets, Status: "409"})
		return
	}
	if !slices.Contains(s.selected, id) {
		s.selected = append(s.selected, id)
		slices.Sort(s.selected)
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- create or update --------------------------------------------------------

const (
	visAll      = "all"
	visPrivate  = "private"
	visSelected = "selected"
)

// secretName is GitHub's rule: alphanumerics and underscores, not starting
// with a digit or GITHUB_.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type putBody struct {
	EncryptedValue        *string `json:"encrypted_value"`
	KeyID                 *string `json:"key_id"`
	Visibility            *string `json:"visibility"`
	SelectedRepositoryIDs []int64 `json:"selected_repository_ids"`
}

// errUnprocessable is a 422 answer.
type errUnprocessable struct{ apiError }

func (e errUnprocessable) Error() string { return e.Message }

func unprocessable(msg string, fe ...fieldError) error {
	return errUnprocessable{apiError{Message: msg, Errors: fe, DocumentationURL: docsSecrets, Status: "422"}}
}

func (e *Emulator) putSecret(w http.ResponseWriter, r *http.Request, l located) {
	var body putBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Message: "Problems parsing JSON", DocumentationURL: docsSecrets, Status: "400"})
		return
	}
	name := secretKey(r.PathValue("name"))
	value, err := e.checkPut(l, name, body)
	var u errUnprocessable
	if errors.As(err, &u) {
		writeJSON(w, http.StatusUnprocessableEntity, u.apiError)
		return
	}
	if l.store(name, value, body) {
		writeJSON(w, http.StatusCreated, struct{}{})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkPut validates a create-or-update request and returns the decrypted value.
func (e *Emulator) checkPut(l located, name string, b putBody) (string, error) {
	if !secretName.MatchString(name) || strings.HasPrefix(strings.ToUpper(name), "GITHUB_") {
		return "", unprocessable("Invalid request.\n\nSecret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), must not start with a number or GITHUB_.")
	}
	if b.EncryptedValue == nil || b.KeyID == nil {
		return "", unprocessable("Invalid request.\n\n\"encrypted_value\" and \"key_id\" are required.", fieldError{Resource: "Secret", Field: "encrypted_value", Code: "missing_field"})
	}
	if *b.KeyID != l.scope.key.id {
		return "", unprocessable("Bad request - key_id does not match the current public key.", fieldError{Resource: "Secret", Field: "key_id", Code: "invalid"})
	}
	value, ok := open(l.scope.key, *b.EncryptedValue)
	if !ok {
		return "", unprocessable("Bad request - could not decrypt encrypted_value with the public key.", fieldError{Resource: "Secret", Field: "encrypted_value", Code: "invalid"})
	}
	if l.org != nil {
		if err := e.checkVisibility(l.org, b); err != nil {
			return "", err
		}
	}
	return value, nil
}

// checkVisibility enforces organization secret rules: a valid visibility,
// and selected repositories that belong to the organization.
func (e *Emulator) checkVisibility(o *org, b putBody) error {
	if b.Visibility == nil {
		return unprocessable("Invalid request.\n\n\"visibility\" wasn't supplied.", fieldError{Resource: "Secret", Field: "visibility", Code: "missing_field"})
	}
	switch *b.Visibility {
	case visAll, visPrivate, visSelected:
	default:
		return unprocessable(fmt.Sprintf("Invalid request.\n\n%q is not a member of [all, private, selected].", *b.Visibility), fieldError{Resource: "Secret", Field: "visibility", Code: "invalid"})
	}
	if *b.Visibility != visSelected {
		return nil
	}
	for _, id := range b.SelectedRepositoryIDs {
		rp, ok := e.reposByID[id]
		if !ok || !strings.EqualFold(rp.owner, o.name) {
			return unprocessable(fmt.Sprintf("Invalid request.\n\nRepository %d is not in organization %s.", id, o.name), fieldError{Resource: "Secret", Field: "selected_repository_ids", Code: "invalid"})
		}
	}
	return nil
}

// open decrypts a base64 libsodium sealed box with the scope's key pair.
func open(k keyPair, encrypted string) (string, bool) {
	sealed, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return "", false
	}
	plain, ok := k.Open(sealed)
	return string(plain), ok
}

// store writes the secret and reports whether it was created. updated_at
// strictly advances, even for two writes within the clock's resolution.
func (l located) store(name, value string, b putBody) (created bool) {
	now := time.Now().UTC()
	s, exists := l.scope.secrets[name]
	if !exists {
		s = &secret{created: now}
		l.scope.secrets[name] = s
	} else if !now.After(s.updated) {
		now = s.updated.Add(time.Microsecond)
	}
	s.value = value
	s.updated = now
	if l.org != nil {
		s.visibility = *b.Visibility
		switch {
		case s.visibility != visSelected:
			s.selected = nil
		case b.SelectedRepositoryIDs != nil:
			s.selected = append([]int64{}, b.SelectedRepositoryIDs...)
			slices.Sort(s.selected)
		}
	}
	return !exists
}

// --- helpers -----------------------------------------------------------------

// paginate applies page/per_page (GitHub's defaults: 1 and 30, at most 100)
// and sets the Link header go-github reads NextPage from.
func paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per < 1 {
		per = 30
	}
	per = min(per, 100)
	lo = min((page-1)*per, n)
	hi = min(lo+per, n)
	last := max((n+per-1)/per, 1)
	var links []string
	link := func(p int, rel string) {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		links = append(links, fmt.Sprintf(`<%s%s>; rel="%s"`, baseURL(r), u.RequestURI(), rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	return lo, hi
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
