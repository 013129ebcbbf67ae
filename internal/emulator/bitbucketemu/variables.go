package bitbucketemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Bitbucket's rule for variable names
// (https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/):
// ASCII letters, digits and underscores, not starting with a digit.
var keyRegex = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const (
	msgKeyRequired = "Variable key is required."
	msgBadKey      = "Variable names can only contain ASCII letters, digits and underscores, and cannot start with a digit."
	msgDuplicate   = "A variable with the provided key already exists."
	msgNoVariable  = "Variable not found"
	msgBadJSON     = "Invalid JSON in request body"
)

// wireVariable is a variable as Bitbucket answers it: a secured
// variable's value is left out.
func wireVariable(v *Variable, typ string) map[string]any {
	out := map[string]any{"type": typ, "uuid": v.UUID, "key": v.Key, "secured": v.Secured}
	if !v.Secured {
		out["value"] = v.Value
	}
	return out
}

// routeVariables dispatches a variables collection ([] or [uuid]).
// canGetOne is false for deployment variables, which the API reads only by
// listing. Callers hold mu.
func (e *Emulator) routeVariables(w http.ResponseWriter, r *http.Request, vars *[]*Variable, typ string, rest []string, canGetOne bool) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		values := make([]any, 0, len(*vars))
		for _, v := range *vars {
			values = append(values, wireVariable(v, typ))
		}
		writePage(w, r, values)
	case len(rest) == 0 && r.Method == http.MethodPost:
		e.createVariable(w, r, vars, typ)
	case len(rest) == 1 && (r.Method == http.MethodPut || r.Method == http.MethodDelete || (r.Method == http.MethodGet && canGetOne)):
		i := indexUUID(*vars, rest[0])
		if i < 0 {
			writeError(w, http.StatusNotFound, msgNoVariable, "No variable with UUID "+rest[0]+".")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, wireVariable((*vars)[i], typ))
		case http.MethodPut:
			updateVariable(w, r, *vars, i, typ)
		case http.MethodDelete:
			*vars = append((*vars)[:i], (*vars)[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
		}
	case len(rest) == 1 && r.Method == http.MethodGet:
		writeError(w, http.StatusNotFound, "Resource not found", nil)
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed", nil)
	}
}

func indexUUID(vars []*Variable, uuid string) int {
	for i, v := range vars {
		if v.UUID == uuid {
			return i
		}
	}
	return -1
}

// variableBody is a create or update request; absent fields are nil.
type variableBody struct {
	Key     *string `json:"key"`
	Value   *string `json:"value"`
	Secured *bool   `json:"secured"`
}

func readBody(w http.ResponseWriter, r *http.Request) (variableBody, bool) {
	var b variableBody
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "Bad request", msgBadJSON)
		return b, false
	}
	return b, true
}

// checkKey answers 400 or 409 and returns false for a key Bitbucket
// refuses; self is the variable being updated (nil on create).
func checkKey(w http.ResponseWriter, vars []*Variable, key string, self *Variable) bool {
	switch {
	case key == "":
		writeError(w, http.StatusBadRequest, "Bad request", msgKeyRequired)
		return false
	case !keyRegex.MatchString(key):
		writeError(w, http.StatusBadRequest, "Bad request", msgBadKey)
		return false
	}
	for _, v := range vars {
		if v != self && v.Key == key {
			writeError(w, http.StatusConflict, msgDuplicate, nil)
			return false
		}
	}
	return true
}

// createVariable answers POST: 201 with the variable and its Location.
func (e *Emulator) createVariable(w http.ResponseWriter, r *http.Request, vars *[]*Variable, typ string) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	v := &Variable{}
	if b.Key != nil {
		v.Key = *b.Key
	}
	if b.Value != nil {
		v.Value = *b.Value
	}
	if b.Secured != nil {
		v.Secured = *b.Secured
	}
	if !checkKey(w, *vars, v.Key, nil) {
		return
	}
	v.UUID = e.uuid()
	*vars = append(*vars, v)
	w.Header().Set("Location", requestURL(r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+url.PathEscape(v.UUID), nil))
	writeJSON(w, http.StatusCreated, wireVariable(v, typ))
}

// updateVariable answers PUT: the fields sent change, 200 with the variable.
func updateVariable(w http.ResponseWriter, r *http.Request, vars []*Variable, i int, typ string) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	next := *vars[i]
	if b.Key != nil {
		next.Key = *b.Key
	}
	if b.Value != nil {
		next.Value = *b.Value
	}
	if b.Secured != nil {
		next.Secured = *b.Secured
	}
	if !checkKey(w, vars, next.Key, vars[i]) {
		return
	}
	*vars[i] = next
	writeJSON(w, http.StatusOK, wireVariable(vars[i], typ))
}

// routeEnvironments answers GET /environments and /environments/{uuid}.
// Callers hold mu.
func (e *Emulator) routeEnvironments(w http.ResponseWriter, r *http.Request, repo *repository, rest []string) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed", nil)
		return
	}
	wire := func(env *environment) map[string]any {
		return map[string]any{
			"type": "deployment_environment", "uuid": env.uuid, "name": env.name, "slug": env.slug, "rank": env.rank,
			"hidden": false, "restrictions": map[string]any{"admin_only": false},
			"environment_type": map[string]any{"type": "deployment_environment_type", "name": env.typ, "rank": env.rank},
		}
	}
	if len(rest) == 1 {
		for _, env := range repo.envs {
			if env.uuid == rest[0] {
				writeJSON(w, http.StatusOK, wire(env))
				return
			}
		}
		writeError(w, http.StatusNotFound, "Environment not found", nil)
		return
	}
	values := make([]any, 0, len(repo.envs))
	for _, env := range repo.envs {
		values = append(values, wire(env))
	}
	writePage(w, r, values)
}

// writePage answers one page of a list the way Bitbucket paginates: page
// (from 1) and pagelen (default 10, at most 100) in the query; the answer
// carries size, page, pagelen, values and next/previous links.
func writePage(w http.ResponseWriter, r *http.Request, values []any) {
	q := r.URL.Query()
	pageNo, err := strconv.Atoi(q.Get("page"))
	if q.Get("page") == "" {
		pageNo, err = 1, nil
	}
	pagelen, err2 := strconv.Atoi(q.Get("pagelen"))
	if q.Get("pagelen") == "" {
		pagelen, err2 = DefaultPageLen, nil
	}
	if err != nil || err2 != nil || pageNo < 1 || pagelen < 1 {
		writeError(w, http.StatusBadRequest, "Bad request", "Invalid page or pagelen.")
		return
	}
	pagelen = min(pagelen, MaxPageLen)
	start := min((pageNo-1)*pagelen, len(values))
	end := min(start+pagelen, len(values))
	out := map[string]any{"size": len(values), "page": pageNo, "pagelen": pagelen, "values": values[start:end]}
	link := func(p int) string {
		return requestURL(r, r.URL.EscapedPath(), url.Values{"page": {strconv.Itoa(p)}, "pagelen": {strconv.Itoa(pagelen)}})
	}
	if end < len(values) {
		out["next"] = link(pageNo + 1)
	}
	if pageNo > 1 {
		out["previous"] = link(pageNo - 1)
	}
	writeJSON(w, http.StatusOK, out)
}

// requestURL is an absolute URL on the host the request came to.
func requestURL(r *http.Request, escapedPath string, q url.Values) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + escapedPath
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
