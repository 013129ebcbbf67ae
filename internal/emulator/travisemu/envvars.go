package travisemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// slugSegment is how Travis's router captures a slug: one segment with its
// "/" escaped (lib/travis/api/v3/routes.rb: slug: %r{[^/]+%2[fF][^/]+}).
var slugSegment = regexp.MustCompile(`^[^/]+%2[fF][^/]+$`)

// route dispatches /repo/{id or slug}[/env_vars | /env_var/{id}]. Callers hold mu.
func (e *Emulator) route(w http.ResponseWriter, r *http.Request, req request) {
	segs := req.segs
	if len(segs) < 2 || segs[0] != "repo" {
		notFound(w, "resource")
		return
	}
	var repo *repository
	switch {
	case isDigits(segs[1]):
		id, _ := strconv.Atoi(segs[1])
		repo = e.byID[id]
	case slugSegment.MatchString(segs[1]):
		slug, err := url.PathUnescape(segs[1])
		if err != nil {
			notFound(w, "resource")
			return
		}
		repo = e.bySlug[slug]
	default:
		// The route does not match: "acme/api" unescaped is a longer path.
		notFound(w, "resource")
		return
	}
	rest := segs[2:]
	switch {
	case len(rest) == 1 && rest[0] == "env_vars" && (r.Method == http.MethodGet || r.Method == http.MethodPost),
		len(rest) == 2 && rest[0] == "env_var" && (r.Method == http.MethodGet || r.Method == http.MethodPatch || r.Method == http.MethodDelete),
		len(rest) == 0 && r.Method == http.MethodGet:
	case len(rest) <= 2:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil)
		return
	default:
		notFound(w, "resource")
		return
	}
	// check_login_and_find: a login first, then the repository.
	if req.access == 0 {
		writeError(w, http.StatusForbidden, "login_required", "login required", nil)
		return
	}
	if repo == nil {
		notFound(w, "repository")
		return
	}
	switch {
	case len(rest) == 0:
		writeJSON(w, http.StatusOK, repoJSON(req, repo, "standard"))
	case rest[0] == "env_vars" && r.Method == http.MethodGet:
		out := make([]any, 0, len(repo.vars))
		for _, v := range repo.vars {
			out = append(out, envVarJSON(req, repo, v, "standard"))
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@type": "env_vars", "@href": req.prefix + repoHref(repo) + "/env_vars", "@representation": "standard",
			"env_vars": out,
		})
	case rest[0] == "env_vars":
		e.createEnvVar(w, r, req, repo)
	default:
		e.oneEnvVar(w, r, req, repo, rest[1])
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func repoHref(repo *repository) string { return "/repo/" + strconv.Itoa(repo.id) }

func repoJSON(req request, repo *repository, representation string) map[string]any {
	return map[string]any{
		"@type": "repository", "@href": req.prefix + repoHref(repo), "@representation": representation,
		"id": repo.id, "name": repo.slug[strings.LastIndex(repo.slug, "/")+1:], "slug": repo.slug,
	}
}

// envVarJSON renders a variable; the standard representation carries the
// value of public variables only (lib/travis/api/v3/model_renderer.rb:
// "next if field == :value && !@model.public?").
func envVarJSON(req request, repo *repository, v *EnvVar, representation string) map[string]any {
	out := map[string]any{
		"@type": "env_var", "@href": req.prefix + repoHref(repo) + "/env_var/" + v.ID, "@representation": representation,
		"id": v.ID, "name": v.Name, "public": v.Public, "branch": nullable(v.Branch),
	}
	if representation == "standard" {
		out["@permissions"] = map[string]bool{"read": true, "write": req.access == ReadWrite}
		if v.Public {
			out["value"] = v.Value
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// params reads the env_var parameters of a request: the JSON body's
// "env_var.name" keys or a nested {"env_var": {...}} object, then the query.
func params(r *http.Request) (map[string]any, bool) {
	out := map[string]any{}
	for k, vs := range r.URL.Query() {
		if name, ok := strings.CutPrefix(k, "env_var."); ok {
			out[name] = vs[len(vs)-1]
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return out, true
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, false
	}
	if nested, ok := obj["env_var"].(map[string]any); ok {
		for k, v := range nested {
			out[k] = v
		}
	}
	for k, v := range obj {
		if name, ok := strings.CutPrefix(k, "env_var."); ok {
			out[name] = v
		}
	}
	return out, true
}

// apply copies the parameters present onto v.
func apply(v *EnvVar, p map[string]any) {
	if s, ok := p["name"].(string); ok {
		v.Name = s
	}
	if s, ok := p["value"].(string); ok {
		v.Value = s
	}
	if b, ok := parseBool(p["public"]); ok {
		v.Public = b
	}
	if s, ok := p["branch"].(string); ok {
		v.Branch = s
	} else if _, present := p["branch"]; present && p["branch"] == nil {
		v.Branch = ""
	}
}

// createEnvVar answers POST /repo/{id}/env_vars (services/env_vars/create.rb).
func (e *Emulator) createEnvVar(w http.ResponseWriter, r *http.Request, req request, repo *repository) {
	if req.access != ReadWrite {
		writeError(w, http.StatusForbidden, "insufficient_access", "operation requires create_env_var access to repository",
			map[string]any{"permission": "create_env_var", "resource_type": "repository", "repository": repoJSON(req, repo, "minimal")})
		return
	}
	p, ok := params(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_params", "wrong parameters", nil)
		return
	}
	v := &EnvVar{}
	apply(v, p)
	if strings.TrimSpace(v.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "unprocessable_entity", "Variable name is required", nil)
		return
	}
	for _, other := range repo.vars {
		if other.Name == v.Name && other.Branch == v.Branch {
			writeError(w, http.StatusConflict, "duplicate_resource", "resource already exists", nil)
			return
		}
	}
	v.ID = e.uuid()
	repo.vars = append(repo.vars, v)
	writeJSON(w, http.StatusCreated, envVarJSON(req, repo, v, "standard"))
}

// oneEnvVar answers GET, PATCH and DELETE /repo/{id}/env_var/{env_var.id}.
func (e *Emulator) oneEnvVar(w http.ResponseWriter, r *http.Request, req request, repo *repository, id string) {
	i := -1
	for j, v := range repo.vars {
		if v.ID == id {
			i = j
			break
		}
	}
	if i < 0 {
		notFound(w, "env_var")
		return
	}
	v := repo.vars[i]
	if r.Method != http.MethodGet && req.access != ReadWrite {
		writeError(w, http.StatusForbidden, "insufficient_access", "operation requires write access to env_var",
			map[string]any{"permission": "write", "resource_type": "env_var", "env_var": envVarJSON(req, repo, v, "minimal")})
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, envVarJSON(req, repo, v, "standard"))
	case http.MethodPatch:
		p, ok := params(r)
		if !ok {
			writeError(w, http.StatusBadRequest, "wrong_params", "wrong parameters", nil)
			return
		}
		apply(v, p)
		writeJSON(w, http.StatusOK, envVarJSON(req, repo, v, "standard"))
	case http.MethodDelete:
		repo.vars = append(repo.vars[:i], repo.vars[i+1:]...)
		w.WriteHeader(http.StatusNoContent)
	}
}
