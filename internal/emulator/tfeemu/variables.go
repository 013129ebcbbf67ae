package tfeemu

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"unicode/utf8"
)

// The limits on a variable, the same for workspace and variable-set
// variables.
// https://developer.hashicorp.com/terraform/cloud-docs/variables/managing-variables#character-limits
const (
	maxKeyLength         = 128       // characters
	maxDescriptionLength = 512       // characters
	maxValueBytes        = 256 << 10 // 256 kilobytes
)

// envKey is a name a POSIX shell can export.
var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// attributes are the writable attributes a request sent; nil means absent.
// A JSON null value counts as "" (the documented default), as does an
// absent value on create.
type attributes struct {
	key, value, description, category *string
	hcl, sensitive                    *bool
}

// readAttributes decodes a JSON:API document whose data is a "vars"
// resource. It answers the client itself and returns false when the
// document is not one. Its messages never quote the body: it may hold a value.
func readAttributes(w http.ResponseWriter, r *http.Request) (attributes, bool) {
	var doc struct {
		Data *struct {
			Type       string                     `json:"type"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &doc)
	}
	if err != nil || doc.Data == nil {
		writeErrors(w, http.StatusBadRequest, badRequest("the body must be a JSON:API document with a data object"))
		return attributes{}, false
	}
	if doc.Data.Type != "vars" {
		// JSON:API: a type the endpoint does not hold is a conflict.
		writeErrors(w, http.StatusConflict, apiError{Status: "409", Title: "conflict", Detail: `data.type must be "vars"`})
		return attributes{}, false
	}
	var a attributes
	var errs []apiError
	str := func(name string, dst **string) {
		raw, ok := doc.Data.Attributes[name]
		if !ok {
			return
		}
		var s *string
		if json.Unmarshal(raw, &s) != nil {
			errs = append(errs, invalidAttribute(name, attrName(name)+" must be a string"))
			return
		}
		if s == nil {
			s = new(string)
		}
		*dst = s
	}
	boolean := func(name string, dst **bool) {
		raw, ok := doc.Data.Attributes[name]
		if !ok {
			return
		}
		var b *bool
		if json.Unmarshal(raw, &b) != nil {
			errs = append(errs, invalidAttribute(name, attrName(name)+" must be true or false"))
			return
		}
		if b == nil {
			b = new(bool)
		}
		*dst = b
	}
	str("key", &a.key)
	str("value", &a.value)
	str("description", &a.description)
	str("category", &a.category)
	boolean("hcl", &a.hcl)
	boolean("sensitive", &a.sensitive)
	if len(errs) > 0 {
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return attributes{}, false
	}
	return a, true
}

// apply copies the attributes present onto v.
func (a attributes) apply(v *Variable) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&v.Key, a.key)
	set(&v.Value, a.value)
	set(&v.Description, a.description)
	set(&v.Category, a.category)
	if a.hcl != nil {
		v.HCL = *a.hcl
	}
	if a.sensitive != nil {
		v.Sensitive = *a.sensitive
	}
}

// createVariable answers POST /workspaces/:id/vars (201) and
// POST /varsets/:id/relationships/vars (200, as documented). Callers hold mu.
func (e *Emulator) createVariable(w http.ResponseWriter, r *http.Request, o *owner) {
	a, ok := readAttributes(w, r)
	if !ok {
		return
	}
	v := &Variable{}
	a.apply(v)
	if errs := validate(v, o, nil); len(errs) > 0 {
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return
	}
	now := e.now()
	v.ID, v.VersionID, v.CreatedAt, v.UpdatedAt = newID("var-"), newVersionID(), now, now
	o.vars = append(o.vars, v)
	o.updatedAt = now
	status := http.StatusCreated
	if o.kind == "varsets" {
		status = http.StatusOK
	}
	writeDocument(w, status, map[string]any{"data": variableResource(o, v)})
}

// updateVariable answers PATCH .../vars/:id. Only the attributes sent
// change; the result is validated as a whole. Every update, even one that
// changes nothing, gets a new version-id, as the API does. Callers hold mu.
func (e *Emulator) updateVariable(w http.ResponseWriter, r *http.Request, o *owner, cur *Variable) {
	a, ok := readAttributes(w, r)
	if !ok {
		return
	}
	next := *cur
	a.apply(&next)
	errs := sensitiveRules(cur, &next)
	if len(errs) == 0 {
		errs = validate(&next, o, cur)
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return
	}
	now := e.now()
	next.VersionID, next.UpdatedAt = newVersionID(), now
	*cur = next
	o.updatedAt = now
	writeDocument(w, http.StatusOK, map[string]any{"data": variableResource(o, cur)})
}

// sensitiveRules: a sensitive variable stays sensitive, and keeps its key
// and category; only its value and description may change.
// https://developer.hashicorp.com/terraform/cloud-docs/variables/managing-variables#sensitive-values
func sensitiveRules(cur, next *Variable) []apiError {
	if !cur.Sensitive {
		return nil
	}
	var errs []apiError
	if !next.Sensitive {
		errs = append(errs, invalidAttribute("sensitive", "Sensitive can't be changed from true to false; delete the variable and create it again"))
	}
	if next.Key != cur.Key {
		errs = append(errs, invalidAttribute("key", "Key can't be changed on a sensitive variable"))
	}
	if next.Category != cur.Category {
		errs = append(errs, invalidAttribute("category", "Category can't be changed on a sensitive variable"))
	}
	return errs
}

// validate applies the model's validations; self is the variable being
// updated (nil on create) so that it does not collide with itself. No
// message quotes the value.
func validate(v *Variable, o *owner, self *Variable) []apiError {
	var errs []apiError
	switch {
	case v.Key == "":
		errs = append(errs, invalidAttribute("key", "Key can't be blank"))
	case utf8.RuneCountInString(v.Key) > maxKeyLength:
		errs = append(errs, invalidAttribute("key", "Key is too long (maximum is 128 characters)"))
	case v.Category == CategoryEnv && !envKey.MatchString(v.Key):
		errs = append(errs, invalidAttribute("key", "Key is not a valid environment variable name: use letters, digits and '_', and do not start with a digit"))
	}
	if v.Category != CategoryEnv && v.Category != CategoryTerraform {
		errs = append(errs, invalidAttribute("category", "Category is not included in the list"))
	}
	if utf8.RuneCountInString(v.Description) > maxDescriptionLength {
		errs = append(errs, invalidAttribute("description", "Description is too long (maximum is 512 characters)"))
	}
	if len(v.Value) > maxValueBytes {
		errs = append(errs, invalidAttribute("value", "Value is too long (maximum is 256 kilobytes)"))
	}
	for _, other := range o.vars {
		if other != self && other.Key == v.Key && other.Category == v.Category {
			errs = append(errs, invalidAttribute("key", "Key has already been taken"))
			break
		}
	}
	return errs
}
