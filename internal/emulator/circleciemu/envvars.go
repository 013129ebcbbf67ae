package circleciemu

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// CircleCI's rules for environment variables
// (https://circleci.com/docs/contexts/#contexts-and-environment-variable-constraints):
// a name of 300 or fewer characters, starting with a letter or "_",
// then letters, digits and "_"; a value of 32k or fewer characters (empty
// is valid); at most 100 variables in a context.
var nameRegex = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const (
	maxNameLength   = 300
	maxValueLength  = 32 * 1024
	maxContextVars  = 100
	msgBadName      = "Environment variable names must start with a letter or underscore and contain only letters, digits and underscores."
	msgNameTooLong  = "Environment variable names must be 300 characters or fewer."
	msgValueTooLong = "Environment variable values must be 32k characters or fewer."
	msgVarMissing   = "Environment variable not found."
	msgBadPageToken = "Invalid page-token."
	msgBadBody      = "Request body must be a JSON object."
)

// routeProject dispatches project/{vcs}/{org}/{repo}[/envvar[/{name}]].
// Callers hold mu.
func (e *Emulator) routeProject(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) < 3 {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	p := e.projects[normaliseSlug(strings.Join(parts[:3], "/"))]
	if p == nil {
		writeMessage(w, http.StatusNotFound, "Project not found")
		return
	}
	rest := parts[3:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		vcs, org, repo := parts[0], parts[1], parts[2]
		writeJSON(w, http.StatusOK, map[string]any{
			"slug": p.slug, "name": repo, "id": p.id, "organization_name": org, "organization_slug": vcs + "/" + org,
		})
	case len(rest) == 0 || rest[0] != "envvar" || len(rest) > 2:
		writeMessage(w, http.StatusNotFound, "Not found")
	case len(rest) == 1 && r.Method == http.MethodGet:
		e.listProjectVars(w, r, p)
	case len(rest) == 1 && r.Method == http.MethodPost:
		e.createProjectVar(w, r, p)
	case len(rest) == 2 && r.Method == http.MethodGet:
		v := p.vars[rest[1]]
		if v == nil {
			writeMessage(w, http.StatusNotFound, msgVarMissing)
			return
		}
		writeJSON(w, http.StatusOK, projectVarJSON(v))
	case len(rest) == 2 && r.Method == http.MethodDelete:
		if p.vars[rest[1]] == nil {
			writeMessage(w, http.StatusNotFound, msgVarMissing)
			return
		}
		delete(p.vars, rest[1])
		writeMessage(w, http.StatusOK, "Environment variable deleted.")
	default:
		writeMessage(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

// projectVarJSON is a project variable as CircleCI answers it: masked.
func projectVarJSON(v *EnvVar) map[string]string {
	return map[string]string{"name": v.Name, "value": Mask(v.Value), "created-at": v.CreatedAt.Format(time.RFC3339Nano)}
}

// listProjectVars answers GET .../envvar: {"items": [...], "next_page_token": ...}.
func (e *Emulator) listProjectVars(w http.ResponseWriter, r *http.Request, p *project) {
	items, next, ok := page(sortedVars(p.vars), r.URL.Query().Get("page-token"), e.pageSize)
	if !ok {
		writeMessage(w, http.StatusBadRequest, msgBadPageToken)
		return
	}
	out := make([]map[string]string, 0, len(items))
	for _, v := range items {
		out = append(out, projectVarJSON(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out, "next_page_token": nullable(next)})
}

// createProjectVar answers POST .../envvar {name, value}: it creates the
// variable or replaces its value, 201 with the masked value.
func (e *Emulator) createProjectVar(w http.ResponseWriter, r *http.Request, p *project) {
	var body struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Name == nil || body.Value == nil {
		writeMessage(w, http.StatusBadRequest, "name and value are required.")
		return
	}
	if msg := validate(*body.Name, *body.Value); msg != "" {
		writeMessage(w, http.StatusBadRequest, msg)
		return
	}
	now := e.now()
	v := p.vars[*body.Name]
	if v == nil {
		v = &EnvVar{Name: *body.Name, CreatedAt: now}
		p.vars[v.Name] = v
	}
	v.Value, v.UpdatedAt = *body.Value, now
	writeJSON(w, http.StatusCreated, projectVarJSON(v))
}

// routeContext dispatches context/{id}/environment-variable[/{name}].
// Callers hold mu.
func (e *Emulator) routeContext(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 0 {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	c := e.contexts[parts[0]]
	if c == nil {
		writeMessage(w, http.StatusNotFound, "Context not found")
		return
	}
	rest := parts[1:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"id": c.id, "name": c.name, "created_at": c.created.Format(time.RFC3339Nano)})
	case len(rest) == 0 || rest[0] != "environment-variable" || len(rest) > 2:
		writeMessage(w, http.StatusNotFound, "Not found")
	case len(rest) == 1 && r.Method == http.MethodGet:
		items, next, ok := page(sortedVars(c.vars), r.URL.Query().Get("page-token"), e.pageSize)
		if !ok {
			writeMessage(w, http.StatusBadRequest, msgBadPageToken)
			return
		}
		out := make([]map[string]string, 0, len(items))
		for _, v := range items {
			out = append(out, contextVarJSON(c, v))
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": out, "next_page_token": nullable(next)})
	case len(rest) == 2 && r.Method == http.MethodPut:
		e.putContextVar(w, r, c, rest[1])
	case len(rest) == 2 && r.Method == http.MethodDelete:
		if c.vars[rest[1]] == nil {
			writeMessage(w, http.StatusNotFound, msgVarMissing)
			return
		}
		delete(c.vars, rest[1])
		writeMessage(w, http.StatusOK, "Environment variable deleted.")
	default:
		writeMessage(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

// contextVarJSON is a context variable as CircleCI answers it: no value.
func contextVarJSON(c *ctxt, v *EnvVar) map[string]string {
	return map[string]string{
		"variable": v.Name, "context_id": c.id,
		"created_at": v.CreatedAt.Format(time.RFC3339Nano), "updated_at": v.UpdatedAt.Format(time.RFC3339Nano),
	}
}

// putContextVar answers PUT .../environment-variable/{name} {value}: add
// or update, 200 with the variable (no value).
func (e *Emulator) putContextVar(w http.ResponseWriter, r *http.Request, c *ctxt, name string) {
	var body struct {
		Value *string `json:"value"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Value == nil {
		writeMessage(w, http.StatusBadRequest, "value is required.")
		return
	}
	if msg := validate(name, *body.Value); msg != "" {
		writeMessage(w, http.StatusBadRequest, msg)
		return
	}
	now := e.now()
	v := c.vars[name]
	if v == nil {
		if len(c.vars) >= maxContextVars {
			writeMessage(w, http.StatusBadRequest, "A context can hold at most 100 environment variables.")
			return
		}
		v = &EnvVar{Name: name, CreatedAt: now}
		c.vars[name] = v
	}
	v.Value, v.UpdatedAt = *body.Value, now
	writeJSON(w, http.StatusOK, contextVarJSON(c, v))
}

// validate applies CircleCI's name and value rules; "" means valid.
func validate(name, value string) string {
	switch {
	case utf8.RuneCountInString(name) > maxNameLength:
		return msgNameTooLong
	case !nameRegex.MatchString(name):
		return msgBadName
	case utf8.RuneCountInString(value) > maxValueLength:
		return msgValueTooLong
	}
	return ""
}

// readJSON decodes the request body, answering 400 when it is not a JSON object.
func readJSON(w http.ResponseWriter, r *http.Request, into any) bool {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, into)
	}
	if err != nil {
		writeMessage(w, http.StatusBadRequest, msgBadBody)
		return false
	}
	return true
}

// nullable is next_page_token: null on the last page.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
