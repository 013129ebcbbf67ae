package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} in s with the variable's value; $${ stands for
// a literal ${. It returns the names referred to. The error never quotes s,
// which may be a token.
func expandEnv(s string, lookup func(string) (string, bool), unset func(string)) (string, []string, error) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	var vars []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), vars, nil
		}
		if i > 0 && s[i-1] == '$' { // $${ → ${
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", nil, fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
		}
		name := s[i+2 : i+end]
		if !varName.MatchString(name) {
			return "", nil, fmt.Errorf("invalid ${...}: only ${NAME} is supported, NAME made of letters, digits and underscores (write $${ for a literal ${)")
		}
		vars = append(vars, name)
		if v, ok := lookup(name); ok {
			b.WriteString(v)
		} else {
			unset(name)
		}
		s = s[i+end+1:]
	}
}

// duration reads a duration: Go syntax (90m, 24h) with days allowed in
// front (3d, 1d12h). A bare 0 is allowed.
func (l *loader) duration(fs fields, key string) (time.Duration, bool) {
	f := fs.get(key)
	if f == nil {
		return 0, false
	}
	path := join(fs.path, key)
	if f.val.kind != kScalar || f.val.typ == tBool {
		l.errf(f.valPos(), path, "must be a duration such as 90m, 24h or 3d, not %s", f.val.describe())
		return 0, false
	}
	s, _, _ := l.strRefs(fs, key)
	d, err := parseDuration(s)
	if err != nil {
		l.errf(f.valPos(), path, "invalid duration %q: use a number with a unit (s, m, h, d), e.g. 90m, 24h or 3d", s)
		return 0, false
	}
	return d, true
}

var daysPrefix = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d`)

// ParseDuration parses a duration as the configuration writes it: as
// time.ParseDuration does, with a number of days allowed in front ("90d",
// "1d12h"). Command-line flags use it too.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

// parseDuration parses a duration as time.ParseDuration does, with a
// number of days allowed in front.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := false
	rest := s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	m := daysPrefix.FindStringSubmatch(rest)
	if m == nil {
		return time.ParseDuration(s)
	}
	days, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	total := days * float64(24*time.Hour)
	if rest = rest[len(m[0]):]; rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		if d < 0 {
			return 0, fmt.Errorf("sign inside a duration")
		}
		total += float64(d)
	}
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("duration out of range")
	}
	if neg {
		total = -total
	}
	return time.Duration(total), nil
}
