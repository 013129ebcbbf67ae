package gitlabemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// GitLab's validation rules (app/models/concerns/ci/has_variable.rb,
// ci/maskable.rb, lib/gitlab/regex.rb) and the messages it answers with.
var (
	keyRegex = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)

	// A masked variable that is expanded may only use the Base64 alphabet
	// (RFC 4648, both variants) plus @ : . ~ and must be 8+ characters.
	maskedExpandedRegex = regexp.MustCompile(`^[a-zA-Z0-9_+=/@:.~-]{8,}$`)

	environmentScopeRegex = regexp.MustCompile(`^[a-zA-Z0-9 _./${}*-]+$`)
)

const (
	maxKeyLength       = 255
	msgKeyFormat       = "can contain only letters, digits and '_'."
	msgKeyTooLong      = "is too long (maximum is 255 characters)"
	msgValueInvalid    = "is invalid"
	msgScopeInvalid    = "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, but it cannot start or end with '/'"
	msgVariableMissing = "404 Variable Not Found"
	msgManyVariables   = "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"
)

// Maskable reports whether GitLab accepts value for a masked variable.
// Current GitLab applies two rules: a raw (unexpanded) variable needs 8 or
// more characters and no whitespace (it is a single line); an expanded one
// is also limited to the Base64 alphabet plus "@", ":", ".", "~".
func Maskable(value string, raw bool) bool {
	if raw {
		// Ruby's \S excludes exactly these six whitespace characters.
		return utf8.RuneCountInString(value) >= 8 && !strings.ContainsAny(value, " \t\r\n\f\v")
	}
	return maskedExpandedRegex.MatchString(value)
}

// params are the request's parameters, flattened the way Grape sees them:
// query string, JSON body or form body, nested objects as "filter[environment_scope]".
type params map[string]string

func readParams(r *http.Request) (params, error) {
	p := params{}
	for k, vs := range r.URL.Query() {
		p[k] = vs[len(vs)-1]
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || len(strings.TrimSpace(string(body))) == 0 {
		return p, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("invalid form body")
		}
		for k, vs := range form {
			p[k] = vs[len(vs)-1]
		}
		return p, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, errors.New("body is not valid JSON")
	}
	flatten(p, "", obj)
	return p, nil
}

// flatten writes JSON values into p with Rack's nested names.
func flatten(p params, prefix string, obj map[string]any) {
	for k, v := range obj {
		name := k
		if prefix != "" {
			name = prefix + "[" + k + "]"
		}
		switch v := v.(type) {
		case nil:
		case map[string]any:
			flatten(p, name, v)
		case string:
			p[name] = v
		case bool:
			p[name] = strconv.FormatBool(v)
		case float64:
			p[name] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			b, _ := json.Marshal(v)
			p[name] = string(b)
		}
	}
}

// boolParam coerces a Grape Boolean parameter.
func (p params) boolParam(name string) (value, present bool, err error) {
	s, ok := p[name]
	if !ok {
		return false, false, nil
	}
	switch strings.ToLower(s) {
	case "true", "1", "t", "yes":
		return true, true, nil
	case "false", "0", "f", "no":
		return false, true, nil
	}
	return false, true, fmt.Errorf("%s is invalid", name)
}

// filterScope is filter[environment_scope], the way clients address one of
// several variables sharing a key.
func (p params) filterScope() (string, bool) {
	s, ok := p["filter[environment_scope]"]
	return s, ok && s != ""
}

// wireVariable is the JSON GitLab answers with: value and description are
// null when hidden or unset.
type wireVariable struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            *string `json:"value"`
	Hidden           bool    `json:"hidden"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope"`
	Description      *string `json:"description"`
}

func toWire(v *Variable) wireVariable {
	w := wireVariable{
		VariableType: v.VariableType, Key: v.Key, Hidden: v.Hidden, Protected: v.Protected,
		Masked: v.Masked, Raw: v.Raw, EnvironmentScope: v.EnvironmentScope,
	}
	if !v.Hidden {
		value := v.Value
		w.Value = &value
	}
	if v.Description != "" {
		d := v.Description
		w.Description = &d
	}
	return w
}

// listVariables answers GET /variables with GitLab's offset pagination.
func listVariables(w http.ResponseWriter, p params, o *owner) {
	page, perPage := atoiDefault(p["page"], 1), atoiDefault(p["per_page"], 20)
	perPage = min(perPage, 100)
	total := len(o.vars)
	pages := max(int(math.Ceil(float64(total)/float64(perPage))), 1)
	out := []wireVariable{}
	for i := (page - 1) * perPage; i < total && i < page*perPage; i++ {
		out = append(out, toWire(o.vars[i]))
	}
	h := w.Header()
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Page", strconv.Itoa(page))
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	writeJSON(w, http.StatusOK, out)
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return def
	}
	return n
}

// getVariable answers GET /variables/:key.
func getVariable(w http.ResponseWriter, p params, o *owner, key string) {
	if v := findOne(w, p, o, key); v != nil {
		writeJSON(w, http.StatusOK, toWire(v))
	}
}

// deleteVariable answers DELETE /variables/:key.
func deleteVariable(w http.ResponseWriter, p params, o *owner, key string) {
	v := findOne(w, p, o, key)
	if v == nil {
		return
	}
	for i, cur := range o.vars {
		if cur == v {
			o.vars = append(o.vars[:i], o.vars[i+1:]...)
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// findOne finds the variable a single-variable request addresses, or
// answers 404 (none) or 409 (several scopes and no filter) and returns nil.
func findOne(w http.ResponseWriter, p params, o *owner, key string) *Variable {
	scope, filtered := p.filterScope()
	var found []*Variable
	for _, v := range o.vars {
		if v.Key == key && (!filtered || v.EnvironmentScope == scope) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		writeMessage(w, http.StatusNotFound, msgVariableMissing)
		return nil
	case 1:
		return found[0]
	}
	writeMessage(w, http.StatusConflict, msgManyVariables)
	return nil
}

// createVariable answers POST /variables.
func createVariable(w http.ResponseWriter, p params, o *owner) {
	for _, required := range []string{"key", "value"} {
		if _, ok := p[required]; !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": required + " is missing"})
			return
		}
	}
	v := &Variable{Key: p["key"], VariableType: "env_var", EnvironmentScope: "*"}
	hidden, _, err := p.boolParam("masked_and_hidden")
	if err == nil {
		err = applyParams(v, p)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if hidden {
		v.Masked, v.Hidden = true, true
	}
	if errs := validate(v, o, nil); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": errs})
		return
	}
	o.vars = append(o.vars, v)
	writeJSON(w, http.StatusCreated, toWire(v))
}

// updateVariable answers PUT /variables/:key. Only the parameters sent
// change; the result is validated as a whole, as GitLab validates the record.
func updateVariable(w http.ResponseWriter, p params, o *owner, key string) {
	cur := findOne(w, p, o, key)
	if cur == nil {
		return
	}
	next := *cur
	if err := applyParams(&next, p); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if next.Hidden && !next.Masked {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": map[string][]string{
			"masked": {"cannot be unmasked for a hidden variable"}}})
		return
	}
	if errs := validate(&next, o, cur); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": errs})
		return
	}
	*cur = next
	writeJSON(w, http.StatusOK, toWire(cur))
}

// applyParams copies the writable attributes present in p onto v.
func applyParams(v *Variable, p params) error {
	if s, ok := p["value"]; ok {
		v.Value = s
	}
	if s, ok := p["description"]; ok {
		v.Description = s
	}
	if s, ok := p["environment_scope"]; ok && s != "" {
		v.EnvironmentScope = s
	}
	if s, ok := p["variable_type"]; ok {
		if s != "env_var" && s != "file" {
			return errors.New("variable_type does not have a valid value")
		}
		v.VariableType = s
	}
	for name, field := range map[string]*bool{"protected": &v.Protected, "masked": &v.Masked, "raw": &v.Raw} {
		b, present, err := p.boolParam(name)
		if err != nil {
			return err
		}
		if present {
			*field = b
		}
	}
	return nil
}

// validate applies the model validations; self is the record being updated
// (nil on create) so that it does not collide with itself.
func validate(v *Variable, o *owner, self *Variable) map[string][]string {
	errs := map[string][]string{}
	add := func(field, msg string) { errs[field] = append(errs[field], msg) }
	if len(v.Key) > maxKeyLength {
		add("key", msgKeyTooLong)
	}
	if !keyRegex.MatchString(v.Key) {
		add("key", msgKeyFormat)
	}
	for _, other := range o.vars {
		if other != self && other.Key == v.Key && other.EnvironmentScope == v.EnvironmentScope {
			add("key", "("+v.Key+") has already been taken")
			break
		}
	}
	if v.Masked && !Maskable(v.Value, v.Raw) {
		add("value", msgValueInvalid)
	}
	if !validEnvironmentScope(v.EnvironmentScope) {
		add("environment_scope", msgScopeInvalid)
	}
	return errs
}

func validEnvironmentScope(s string) bool {
	return len(s) <= 255 && environmentScopeRegex.MatchString(s) &&
		!strings.HasPrefix(s, "/") && !strings.HasSuffix(s, "/")
}
