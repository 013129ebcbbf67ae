package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// loader walks the tree of one file, collecting errors and warnings.
type loader struct {
	file      string
	lookupEnv func(string) (string, bool)
	errs      Errors
	warnings  []*Error
}

func (l *loader) errf(p pos, path, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: p.line, Column: p.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(p pos, path, format string, args ...any) {
	l.warnings = append(l.warnings, &Error{File: l.file, Line: p.line, Column: p.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warningStrings() []string {
	ws := Errors(l.warnings)
	ws.sort()
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Error()
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fields is a mapping's fields by key; a key mapped to null counts as absent.
type fields struct {
	m    map[string]*field
	at   pos // the mapping, for "x is required"
	path string
}

func (fs fields) get(key string) *field {
	f := fs.m[key]
	if f == nil || f.val.kind == kNull {
		return nil
	}
	return f
}

func (fs fields) has(key string) bool { return fs.get(key) != nil }

// present reports whether key is written at all, even with no value.
func (fs fields) present(key string) bool { return fs.m[key] != nil }

func (fs fields) keyPos(key string) pos {
	if f := fs.m[key]; f != nil {
		return f.keyPos
	}
	return fs.at
}

// mapping checks that n is a mapping (or empty) and that it only holds
// known keys, once each.
func (l *loader) mapping(n *node, at pos, path string, known ...string) fields {
	fs := fields{m: map[string]*field{}, at: at, path: path}
	if n.kind != kNull && n.pos.line > 0 {
		fs.at = n.pos
	}
	switch n.kind {
	case kNull:
		return fs
	case kMap:
	default:
		l.errf(fs.at, path, "must be a mapping, not %s", n.describe())
		return fs
	}
	for _, f := range n.fields {
		p := join(path, f.key)
		if prev, dup := fs.m[f.key]; dup {
			l.errf(f.keyPos, p, "duplicate key (first at line %d)", prev.keyPos.line)
			continue
		}
		if !contains(known, f.key) {
			if s := suggest(f.key, known); s != "" {
				l.errf(f.keyPos, p, "unknown field %q; did you mean %s?", f.key, s)
			} else {
				l.errf(f.keyPos, p, "unknown field %q; known fields: %s", f.key, strings.Join(known, ", "))
			}
			continue
		}
		fs.m[f.key] = f
	}
	return fs
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// valPos is where a field's value is, or its key when the value is empty.
func (f *field) valPos() pos {
	if f.val.kind != kNull && f.val.pos.line > 0 {
		return f.val.pos
	}
	return f.keyPos
}

// str returns the string value of fs[key] with ${VAR} expanded ("" when absent).
func (l *loader) str(fs fields, key string) string {
	s, _, _ := l.strRefs(fs, key)
	return s
}

// strRefs is str that also says whether the value was written and which
// variables it read.
func (l *loader) strRefs(fs fields, key string) (s string, set bool, vars []string) {
	f := fs.get(key)
	if f == nil {
		return "", false, nil
	}
	path := join(fs.path, key)
	n := f.val
	if n.kind != kScalar {
		l.errf(f.valPos(), path, "must be a string, not %s", n.describe())
		return "", false, nil
	}
	if n.typ == tBool {
		l.errf(f.valPos(), path, "must be a string, not a boolean (quote it if you mean %q)", n.text)
		return "", false, nil
	}
	if n.typ != tString || n.raw {
		return n.text, true, nil
	}
	s, vars, err := expandEnv(n.text, l.lookupEnv, func(name string) {
		l.warnf(f.valPos(), path, "environment variable %s is not set; the value is empty", name)
	})
	if err != nil {
		l.errf(f.valPos(), path, "%v", err)
		return "", false, nil
	}
	return s, true, vars
}

// nonEmpty returns the string value of an optional field that, when
// written, must not be empty.
func (l *loader) nonEmpty(fs fields, key, hint string) string {
	if !fs.present(key) {
		return ""
	}
	s, set, _ := l.strRefs(fs, key)
	if f := fs.get(key); f == nil || set && strings.TrimSpace(s) == "" {
		at := fs.keyPos(key)
		if f != nil {
			at = f.valPos()
		}
		l.errf(at, join(fs.path, key), "must not be empty%s", hint)
	}
	return s
}

// required checks s, the string value of the required field fs[key]: it
// must be written and match re, or be reported, invalid saying what it is
// not (as in "not a valid account name").
func (l *loader) required(fs fields, key, s string, re *regexp.Regexp, invalid string) bool {
	switch {
	case s == "":
		l.errf(fs.at, join(fs.path, key), "is required")
	case !re.MatchString(s):
		l.errf(fs.get(key).valPos(), join(fs.path, key), "%q is %s", s, invalid)
	default:
		return true
	}
	return false
}

// boolean returns the value of a true/false field, def when absent.
func (l *loader) boolean(fs fields, key string, def bool) bool {
	f := fs.get(key)
	if f == nil {
		return def
	}
	if f.val.kind != kScalar || f.val.typ != tBool {
		l.errf(f.valPos(), join(fs.path, key), "must be true or false, not %s", f.val.describe())
		return def
	}
	return f.val.b
}

// integer returns the value of an integer field within int32 range; false
// when absent or wrong.
func (l *loader) integer(fs fields, key string) (int, bool) {
	f := fs.get(key)
	if f == nil {
		return 0, false
	}
	if f.val.kind != kScalar || f.val.typ != tInt {
		l.errf(f.valPos(), join(fs.path, key), "must be an integer, not %s", f.val.describe())
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(f.val.text, "_", ""), 0, 64)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		l.errf(f.valPos(), join(fs.path, key), "integer %s is out of range", f.val.text)
		return 0, false
	}
	return int(n), true
}

// seq returns the items of a list field (nil when absent).
func (l *loader) seq(fs fields, key string) []*node {
	f := fs.get(key)
	if f == nil {
		return nil
	}
	if f.val.kind != kSeq {
		l.errf(f.valPos(), join(fs.path, key), "must be a list, not %s", f.val.describe())
		return nil
	}
	return f.val.items
}
