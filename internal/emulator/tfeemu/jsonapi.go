package tfeemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// contentType is JSON:API's media type, which the API answers with.
const contentType = "application/vnd.api+json"

// apiError is a JSON:API error object.
// https://jsonapi.org/format/#error-objects
type apiError struct {
	Status string  `json:"status"`
	Title  string  `json:"title"`
	Detail string  `json:"detail,omitempty"`
	Source *source `json:"source,omitempty"`
}

type source struct {
	Pointer string `json:"pointer"`
}

var (
	errUnauthorized = apiError{Status: "401", Title: "unauthorized"}
	errNotFound     = apiError{Status: "404", Title: "not found"}
)

// errRateLimited is the body the API documents for 429, status a number.
// https://developer.hashicorp.com/terraform/cloud-docs/api-docs#rate-limits
var errRateLimited = struct {
	Detail string `json:"detail"`
	Status int    `json:"status"`
	Title  string `json:"title"`
}{"You have exceeded the API's rate limit.", http.StatusTooManyRequests, "Too many requests"}

// invalidAttribute is a 422 error about one attribute of the request's data.
func invalidAttribute(attr, detail string) apiError {
	return apiError{Status: "422", Title: "invalid attribute", Detail: detail, Source: &source{Pointer: "/data/attributes/" + attr}}
}

func badRequest(detail string) apiError {
	return apiError{Status: "400", Title: "bad request", Detail: detail}
}

func writeErrors[E any](w http.ResponseWriter, status int, errs ...E) {
	writeDocument(w, status, map[string]any{"errors": errs})
}

func writeDocument(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

// timestamp formats t the way the API does: "2021-06-15T19:33:40.931Z".
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func ref(kind, id string) map[string]any { return map[string]any{"id": id, "type": kind} }

func workspacePath(ws *owner) string {
	return "/api/v2/organizations/" + url.PathEscape(ws.org.name) + "/workspaces/" + url.PathEscape(ws.name)
}

// workspaceResource is a workspace as GET /organizations/:org/workspaces/:name
// shows it, with the attributes a client may need: its name, times and the
// token's permissions on its variables.
func workspaceResource(ws *owner, g grant) map[string]any {
	write := g.access >= WriteVariables
	vars := make([]any, 0, len(ws.vars))
	for _, v := range ws.vars {
		vars = append(vars, ref("vars", v.ID))
	}
	return map[string]any{
		"id":   ws.id,
		"type": "workspaces",
		"attributes": map[string]any{
			"name":           ws.name,
			"created-at":     timestamp(ws.createdAt),
			"updated-at":     timestamp(ws.updatedAt),
			"locked":         false,
			"execution-mode": "remote",
			"permissions": map[string]any{
				"can-read-variable":   true,
				"can-update-variable": write,
				"can-read-settings":   true,
				"can-update":          write,
			},
		},
		"relationships": map[string]any{
			"organization": map[string]any{"data": ref("organizations", ws.org.name)},
			"vars":         map[string]any{"data": vars},
		},
		"links": map[string]any{"self": workspacePath(ws)},
	}
}

// variableSetResource is a variable set as GET /varsets/:id shows it.
func variableSetResource(vs *owner) map[string]any {
	vars := make([]any, 0, len(vs.vars))
	for _, v := range vs.vars {
		vars = append(vars, ref("vars", v.ID))
	}
	return map[string]any{
		"id":   vs.id,
		"type": "varsets",
		"attributes": map[string]any{
			"name":            vs.name,
			"description":     vs.description,
			"global":          false,
			"priority":        false,
			"updated-at":      timestamp(vs.updatedAt),
			"var-count":       len(vs.vars),
			"workspace-count": 0,
			"project-count":   0,
		},
		"relationships": map[string]any{
			"organization": map[string]any{"data": ref("organizations", vs.org.name)},
			"vars":         map[string]any{"data": vars},
			"workspaces":   map[string]any{"data": []any{}},
			"projects":     map[string]any{"data": []any{}},
		},
		"links": map[string]any{"self": "/api/v2/varsets/" + vs.id},
	}
}

// variableResource is a variable as the API shows it: a sensitive value is
// null, always.
func variableResource(o *owner, v *Variable) map[string]any {
	var value any
	if !v.Sensitive {
		value = v.Value
	}
	res := map[string]any{
		"id":   v.ID,
		"type": "vars",
		"attributes": map[string]any{
			"key":         v.Key,
			"value":       value,
			"description": v.Description,
			"sensitive":   v.Sensitive,
			"category":    v.Category,
			"hcl":         v.HCL,
			"created-at":  timestamp(v.CreatedAt),
			"version-id":  v.VersionID,
		},
	}
	if o.kind == "workspaces" {
		res["relationships"] = map[string]any{"configurable": map[string]any{
			"data":  ref("workspaces", o.id),
			"links": map[string]any{"related": workspacePath(o)},
		}}
		res["links"] = map[string]any{"self": "/api/v2/workspaces/" + o.id + "/vars/" + v.ID}
	} else {
		res["relationships"] = map[string]any{"varset": map[string]any{
			"data":  ref("varsets", o.id),
			"links": map[string]any{"related": "/api/v2/varsets/" + o.id},
		}}
		res["links"] = map[string]any{"self": "/api/v2/varsets/" + o.id + "/relationships/vars/" + v.ID}
	}
	return res
}

func variableResources(o *owner, vars []*Variable) []any {
	out := make([]any, 0, len(vars))
	for _, v := range vars {
		out = append(out, variableResource(o, v))
	}
	return out
}

// listVariableSets answers GET /organizations/:org/varsets: the
// organization's variable sets in creation order, filtered by q (a
// case-insensitive part of the name), paginated with page[number] and
// page[size] (20 by default, at most 100), with the documented meta and links.
// https://developer.hashicorp.com/terraform/cloud-docs/api-docs/variable-sets#list-variable-sets
func listVariableSets(w http.ResponseWriter, r *http.Request, o *organization) {
	q := r.URL.Query()
	page := positive(q.Get("page[number]"), 1)
	size := min(positive(q.Get("page[size]"), 20), 100)
	query := strings.ToLower(q.Get("q"))
	var matched []*owner
	for _, vs := range o.varsets {
		if strings.Contains(strings.ToLower(vs.name), query) {
			matched = append(matched, vs)
		}
	}
	total := len(matched)
	pages := max((total+size-1)/size, 1)
	data, included := []any{}, []any{}
	for i := (page - 1) * size; i < total && i < page*size; i++ {
		data = append(data, variableSetResource(matched[i]))
		included = append(included, variableResources(matched[i], matched[i].vars)...)
	}
	link := func(n int) string {
		v := url.Values{"page[number]": {strconv.Itoa(n)}, "page[size]": {strconv.Itoa(size)}}
		if query != "" {
			v.Set("q", q.Get("q"))
		}
		return "/api/v2/organizations/" + url.PathEscape(o.name) + "/varsets?" + v.Encode()
	}
	var prev, next any
	links := map[string]any{"self": link(page), "first": link(1), "last": link(pages), "prev": nil, "next": nil}
	if page > 1 {
		prev = page - 1
		links["prev"] = link(page - 1)
	}
	if page < pages {
		next = page + 1
		links["next"] = link(page + 1)
	}
	doc := map[string]any{
		"data":  data,
		"links": links,
		"meta": map[string]any{"pagination": map[string]any{
			"current-page": page, "page-size": size, "prev-page": prev, "next-page": next,
			"total-pages": pages, "total-count": total,
		}},
	}
	if includes(r, "vars") {
		doc["included"] = included
	}
	writeDocument(w, http.StatusOK, doc)
}

func positive(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return def
	}
	return n
}

// attrName turns an attribute's JSON name into the form the API's messages
// use: "key" -> "Key".
func attrName(attr string) string {
	if attr == "" {
		return attr
	}
	return strings.ToUpper(attr[:1]) + attr[1:]
}
