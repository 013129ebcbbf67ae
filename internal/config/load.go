package config

import (
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
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
	if n.typ != tString {
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

// load walks the whole file.
func (l *loader) load(data []byte) *Config {
	cfg := &Config{File: l.file, Policy: model.DefaultPolicy, TaskQueue: DefaultTaskQueue}
	root, ok := l.parseTree(data)
	if !ok {
		return cfg
	}
	top := l.mapping(root, pos{1, 1}, "", "policy", "accounts", "github", "gitlab", "temporal", "codec", "rotations")

	if f := top.m["policy"]; f != nil {
		cfg.Policy = l.policy(f, "policy", model.DefaultPolicy)
	}
	cfg.Accounts = l.accounts(top)
	if f := top.m["github"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "github", "baseURL", "token", "app")
		gh := &GitHub{}
		gh.BaseURL = l.baseURL(fs, DefaultGitHubBaseURL, true)
		gh.Token, gh.tokenSource = l.token(fs)
		if fs.present("app") {
			if fs.present("token") {
				l.errf(fs.keyPos("app"), "github", "token and app are mutually exclusive: a GitHub App authenticates with its private key, not a token")
			}
			gh.App = l.githubApp(fs.m["app"])
		}
		cfg.GitHub = gh
	}
	if f := top.m["gitlab"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "gitlab", "baseURL", "token")
		gl := &GitLab{}
		gl.BaseURL = l.baseURL(fs, DefaultGitLabBaseURL, false)
		gl.Token, gl.tokenSource = l.token(fs)
		cfg.GitLab = gl
	}
	if f := top.m["temporal"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "temporal", "taskQueue")
		if q := l.nonEmpty(fs, "taskQueue", ""); strings.TrimSpace(q) != "" {
			cfg.TaskQueue = q
		}
	}
	if f := top.m["codec"]; f != nil {
		cfg.CodecKeyFiles = l.codecKeyFiles(f)
	}
	cfg.Rotations = l.rotations(top, cfg)
	return cfg
}

// codecKeyFiles reads codec.keyFile (one key) or codec.keyFiles (newest
// first). Relative paths are relative to the configuration file. The files
// are read when a worker or starter needs them, not here: validate works
// without them.
func (l *loader) codecKeyFiles(f *field) []string {
	fs := l.mapping(f.val, f.keyPos, "codec", "keyFile", "keyFiles")
	var paths []string
	switch {
	case fs.present("keyFile") && fs.present("keyFiles"):
		l.errf(fs.keyPos("keyFiles"), "codec", "keyFile and keyFiles are mutually exclusive: list every key under keyFiles, newest first")
		return nil
	case fs.present("keyFile"):
		if p := l.nonEmpty(fs, "keyFile", "the path of a 32-byte key file"); p != "" {
			paths = append(paths, p)
		}
	default:
		for i, n := range l.seq(fs, "keyFiles") {
			if n.kind != kScalar || n.typ != tString || strings.TrimSpace(n.text) == "" {
				l.errf(n.pos, index("codec.keyFiles", i), "must be a file path")
				continue
			}
			p, _, err := expandEnv(n.text, l.lookupEnv, func(name string) {
				l.warnf(n.pos, index("codec.keyFiles", i), "environment variable %s is not set; the value is empty", name)
			})
			if err != nil {
				l.errf(n.pos, index("codec.keyFiles", i), "%v", err)
				continue
			}
			paths = append(paths, p)
		}
	}
	for i, p := range paths {
		if p != "" && !filepath.IsAbs(p) {
			paths[i] = filepath.Join(filepath.Dir(l.file), p)
		}
	}
	return paths
}

func (l *loader) policy(f *field, path string, base model.RotationPolicy) model.RotationPolicy {
	fs := l.mapping(f.val, f.keyPos, path, "every", "cron", "jitter", "gracePeriod", "deleteAfter", "requireOldKeyIdle", "idleRecheck", "idleChecks", "pushRetryFor")
	p := base
	dur := func(key string, dst *time.Duration, allowZero bool) {
		d, ok := l.duration(fs, key)
		switch {
		case !ok:
		case d < 0 || (d == 0 && !allowZero):
			what := "positive"
			if allowZero {
				what = "zero or positive"
			}
			l.errf(fs.get(key).valPos(), join(path, key), "must be %s", what)
		default:
			*dst = d
		}
	}
	dur("every", &p.Every, false)
	l.cron(fs, &p)
	dur("jitter", &p.Jitter, true)
	l.checkJitter(fs, p)
	dur("gracePeriod", &p.GracePeriod, true)
	dur("deleteAfter", &p.DeleteAfter, true)
	dur("idleRecheck", &p.IdleRecheck, false)
	dur("pushRetryFor", &p.PushRetryFor, false)
	p.RequireOldKeyIdle = l.boolean(fs, "requireOldKeyIdle", p.RequireOldKeyIdle)
	if n, ok := l.integer(fs, "idleChecks"); ok {
		if n < 1 {
			l.errf(fs.get("idleChecks").valPos(), join(path, "idleChecks"), "must be at least 1")
		} else {
			p.IdleChecks = n
		}
	}
	return p
}

// cron reads the policy's cron expression. A level sets either every or
// cron; whichever is written replaces what it inherits, so a rotation's cron
// overrides the default every, and a rotation's every drops an inherited cron.
func (l *loader) cron(fs fields, p *model.RotationPolicy) {
	path := join(fs.path, "cron")
	if fs.has("every") {
		if fs.present("cron") {
			l.errf(fs.keyPos("cron"), path, "every and cron are mutually exclusive; write one of them")
		}
		p.Cron = ""
		return
	}
	if !fs.present("cron") {
		return
	}
	expr := strings.TrimSpace(l.nonEmpty(fs, "cron", " (leave it out to use every)"))
	if expr == "" {
		return
	}
	if _, err := checkCron(expr); err != nil {
		l.errf(fs.get("cron").valPos(), path, "invalid cron expression %q: %v", expr, err)
		return
	}
	p.Cron = expr
}

// checkJitter makes sure the random delay stays shorter than the period, so
// a delayed run never lands on the next one. It is checked at every level
// that writes every, cron or jitter, against the merged policy.
func (l *loader) checkJitter(fs fields, p model.RotationPolicy) {
	if p.Jitter <= 0 || !fs.has("every") && !fs.has("cron") && !fs.has("jitter") {
		return
	}
	period, what := p.Every, "every ("+p.Every.String()+")"
	if p.Cron != "" {
		gap, err := checkCron(p.Cron)
		if err != nil || gap == 0 {
			return // reported where the cron is written, or it runs too rarely to matter
		}
		period, what = gap, fmt.Sprintf("the shortest gap between runs of cron %q (%s)", p.Cron, gap)
	}
	if p.Jitter < period {
		return
	}
	key, inherited := "jitter", ""
	if !fs.has("jitter") {
		key, inherited = "every", " (inherited)"
		if fs.has("cron") {
			key = "cron"
		}
	}
	l.errf(fs.get(key).valPos(), join(fs.path, key), "jitter %s%s must be shorter than %s", p.Jitter, inherited, what)
}

var (
	accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	userRE        = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

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

func (l *loader) accounts(top fields) []Account {
	var out []Account
	first := map[string]pos{}
	seen := map[string]accountEntry{} // by AWS account, see sameAWSAccount
	for i, item := range l.seq(top, "accounts") {
		path := index("accounts", i)
		fs := l.mapping(item, top.keyPos("accounts"), path, "name", "region", "roleArn")
		a := Account{Name: l.str(fs, "name"), Region: l.str(fs, "region"), RoleARN: l.str(fs, "roleArn")}
		nameOK := false
		switch {
		case a.Name == "":
			l.errf(fs.at, join(path, "name"), "is required")
		case !accountNameRE.MatchString(a.Name):
			l.errf(fs.get("name").valPos(), join(path, "name"), "%q is not a valid account name (letters, digits, '.', '_' and '-', at most 64)", a.Name)
		default:
			k := strings.ToLower(a.Name)
			if p, dup := first[k]; dup {
				l.errf(fs.get("name").valPos(), join(path, "name"), "duplicate account %q (first at line %d)", a.Name, p.line)
			} else {
				first[k] = fs.get("name").valPos()
				nameOK = true
			}
		}
		switch {
		case a.Region == "":
			l.errf(fs.at, join(path, "region"), "is required")
		case !regionRE.MatchString(a.Region):
			l.errf(fs.get("region").valPos(), join(path, "region"), "%q is not an AWS region name such as us-east-1", a.Region)
		}
		roleOK := true
		if fs.has("roleArn") && !roleARNRE.MatchString(a.RoleARN) {
			l.errf(fs.get("roleArn").valPos(), join(path, "roleArn"), "%q is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", a.RoleARN)
			roleOK = false
		}
		if roleOK && nameOK {
			l.sameAWSAccount(fs, path, a, seen)
		}
		out = append(out, a)
	}
	return out
}

// accountEntry is an accounts entry already read, for sameAWSAccount.
type accountEntry struct {
	path, name string
	line       int
}

// sameAWSAccount refuses a second entry that reaches an AWS account an
// earlier entry already reaches: the same IAM user could then be rotated by
// two rotations at once (two workflow IDs, no mutual exclusion), each
// deleting the other's key. Entries with a roleArn reach the role's account
// (partition and account ID); entries without one all reach the account of
// the rotator's own credentials.
func (l *loader) sameAWSAccount(fs fields, path string, a Account, seen map[string]accountEntry) {
	key, why := "ambient", "both use the rotator's own credentials (no roleArn)"
	at := fs.at
	if a.RoleARN != "" {
		parts := strings.SplitN(a.RoleARN, ":", 6)
		key = parts[1] + ":" + parts[4]
		why = "both assume roles in AWS account " + parts[4]
		at = fs.get("roleArn").valPos()
	}
	if prev, dup := seen[key]; dup {
		l.errf(at, path, "account %q is the same AWS account as %q (%s at line %d): %s; keep one entry per AWS account so that no IAM user can be rotated twice at once",
			a.Name, prev.name, prev.path, prev.line, why)
		return
	}
	seen[key] = accountEntry{path: path, name: a.Name, line: fs.at.line}
}

func (l *loader) baseURL(fs fields, def string, trailingSlash bool) string {
	if !fs.has("baseURL") {
		return def
	}
	s := l.str(fs, "baseURL")
	path := join(fs.path, "baseURL")
	at := fs.get("baseURL").valPos()
	u, err := url.Parse(s)
	switch {
	case s == "":
		l.errf(at, path, "must not be empty (leave it out for %s)", def)
		return def
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		l.errf(at, path, "must be an http or https URL such as %s", def)
		return def
	case u.User != nil:
		l.errf(at, path, "must not hold credentials; use token")
		return def
	}
	if trailingSlash && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

func (l *loader) token(fs fields) (model.Secret, tokenSource) {
	src := tokenSource{at: fs.keyPos("token")}
	s, set, vars := l.strRefs(fs, "token")
	src.vars = vars
	if set && s != "" && len(vars) == 0 {
		l.warnf(fs.get("token").valPos(), join(fs.path, "token"), "the token is written in plain text; use ${VAR} to read it from the environment")
	}
	return model.Secret(s), src
}

func (l *loader) rotations(top fields, cfg *Config) []model.Rotation {
	var out []model.Rotation
	type key struct{ account, user string }
	first := map[key]string{}
	items := l.seq(top, "rotations")
	if f := top.get("rotations"); len(items) == 0 && (f == nil || f.val.kind == kSeq) {
		// An empty file is far more likely a wrong path or a truncated file
		// than a wish to rotate nothing.
		var at pos
		if top.present("rotations") {
			at = top.keyPos("rotations")
		}
		l.errf(at, "rotations", "no rotation is configured: list at least one (user, account, targets); see examples/keyrotor.yaml")
	}
	for i, item := range items {
		path := index("rotations", i)
		fs := l.mapping(item, top.keyPos("rotations"), path, "user", "account", "description", "policy", "secretNames", "targets")
		r := model.Rotation{
			Account:     l.str(fs, "account"),
			User:        l.str(fs, "user"),
			Description: l.str(fs, "description"),
			Policy:      cfg.Policy,
		}
		userOK := false
		switch {
		case r.User == "":
			l.errf(fs.at, join(path, "user"), "is required")
		case !userRE.MatchString(r.User):
			l.errf(fs.get("user").valPos(), join(path, "user"), "%q is not a valid IAM user name (letters, digits and +=,.@_-, at most 64)", r.User)
		default:
			userOK = true
		}
		accountOK := false
		if r.Account == "" {
			l.errf(fs.at, join(path, "account"), "is required")
		} else if _, ok := cfg.Account(r.Account); !ok {
			names := make([]string, len(cfg.Accounts))
			for i, a := range cfg.Accounts {
				names[i] = a.Name
			}
			l.errf(fs.get("account").valPos(), join(path, "account"), "unknown account %q; accounts: %s", r.Account, list(names))
		} else {
			accountOK = true
		}
		if userOK && accountOK {
			k := key{r.Account, strings.ToLower(r.User)}
			if prev, dup := first[k]; dup {
				l.errf(fs.at, path, "duplicate rotation of user %s in account %s (also %s)", r.User, r.Account, prev)
			} else {
				first[k] = fmt.Sprintf("%s at line %d", path, fs.at.line)
			}
		}
		if f := fs.get("policy"); f != nil {
			r.Policy = l.policy(f, join(path, "policy"), cfg.Policy)
		}
		r.Targets = l.targets(fs, path, cfg)
		r.SecretNames = l.secretNames(fs, path, r.Targets)
		out = append(out, r)
	}
	return out
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// gitlabMaxKeyLen is the longest CI/CD variable key GitLab accepts.
const gitlabMaxKeyLen = 255

func (l *loader) secretNames(rot fields, rpath string, targets []model.Target) model.SecretNames {
	names := model.DefaultSecretNames
	f := rot.get("secretNames")
	if f == nil {
		return names
	}
	path := join(rpath, "secretNames")
	fs := l.mapping(f.val, f.keyPos, path, "accessKeyId", "secretAccessKey")
	github, gitlab := false, false
	for _, t := range targets {
		github = github || t.Kind.Provider() == "github"
		gitlab = gitlab || t.Kind.Provider() == "gitlab"
	}
	check := func(key string, dst *string) bool {
		if !fs.present(key) {
			return true
		}
		s := l.str(fs, key)
		at := fs.keyPos(key)
		if g := fs.get(key); g != nil {
			at = g.valPos()
		}
		switch {
		case !secretNameRE.MatchString(s):
			l.errf(at, join(path, key), "%q is not a valid variable name (letters, digits and _, not starting with a digit)", s)
		case github && strings.HasPrefix(strings.ToUpper(s), "GITHUB_"):
			l.errf(at, join(path, key), "%q: GitHub refuses secret names starting with GITHUB_", s)
		case gitlab && len(s) > gitlabMaxKeyLen:
			l.errf(at, join(path, key), "is %d characters long: GitLab refuses variable keys longer than %d", len(s), gitlabMaxKeyLen)
		default:
			*dst = s
			return true
		}
		return false
	}
	ok1 := check("accessKeyId", &names.AccessKeyID)
	ok2 := check("secretAccessKey", &names.SecretAccessKey)
	if ok1 && ok2 && strings.EqualFold(names.AccessKeyID, names.SecretAccessKey) {
		key := "secretAccessKey"
		if !fs.present(key) {
			key = "accessKeyId"
		}
		l.errf(fs.keyPos(key), join(path, key), "must differ from the other secret name (%s)", names.AccessKeyID)
	}
	return names
}

var (
	ghOwnerRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	ghRepoRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	glPathRE  = regexp.MustCompile(`^(?:[0-9]+|[\w.-]+(?:/[\w.-]+)*)$`)
)

func (l *loader) targets(rot fields, rpath string, cfg *Config) []model.Target {
	path := join(rpath, "targets")
	items := l.seq(rot, "targets")
	if len(items) == 0 {
		if rot.get("targets") == nil || rot.get("targets").val.kind == kSeq {
			l.errf(rot.keyPos("targets"), path, "a rotation needs at least one target")
		}
		return nil
	}
	var out []model.Target
	seen := map[string]int{} // target → line
	for i, item := range items {
		ipath := index(path, i)
		fs := l.mapping(item, rot.keyPos("targets"), ipath, "github", "gitlab")
		var t model.Target
		var ok bool
		switch gh, gl := fs.present("github"), fs.present("gitlab"); {
		case gh && gl:
			l.errf(fs.keyPos("gitlab"), ipath, "github and gitlab are mutually exclusive; write one target per list item")
			continue
		case gh:
			f := fs.m["github"]
			t, ok = l.githubTarget(f, join(ipath, "github"))
			if cfg.GitHub == nil {
				l.errf(f.keyPos, join(ipath, "github"), "a github target needs the top-level github section (with its token)")
			}
		case gl:
			f := fs.m["gitlab"]
			t, ok = l.gitlabTarget(f, join(ipath, "gitlab"))
			if cfg.GitLab == nil {
				l.errf(f.keyPos, join(ipath, "gitlab"), "a gitlab target needs the top-level gitlab section (with its token)")
			}
		default:
			if item.kind == kMap || item.kind == kNull {
				l.errf(fs.at, ipath, "a target needs github or gitlab")
			}
			continue
		}
		if !ok {
			continue
		}
		k := strings.ToLower(t.String())
		if line, dup := seen[k]; dup {
			l.errf(fs.at, ipath, "duplicate target %s (first at line %d)", t, line)
			continue
		}
		seen[k] = fs.at.line
		out = append(out, t)
	}
	return out
}

func (l *loader) githubTarget(f *field, path string) (model.Target, bool) {
	fs := l.mapping(f.val, f.keyPos, path, "repository", "environment", "organization", "visibility", "repositories")
	nerr := len(l.errs)
	var t model.Target
	hasRepo, hasOrg := fs.has("repository"), fs.has("organization")
	switch {
	case hasRepo && hasOrg:
		l.errf(fs.at, path, "repository and organization are mutually exclusive")
	case !hasRepo && !hasOrg:
		l.errf(fs.at, path, "needs repository (owner/name) or organization")
	case hasRepo:
		t.Kind = model.GitHubRepository
		t.Repository = l.str(fs, "repository")
		if owner, name, ok := strings.Cut(t.Repository, "/"); !ok || !ghOwnerRE.MatchString(owner) || !ghRepoName(name) {
			l.errf(fs.get("repository").valPos(), join(path, "repository"), "%q is not a repository in owner/name form", t.Repository)
		}
		if fs.present("environment") {
			t.Environment = l.nonEmpty(fs, "environment", "")
			t.Kind = model.GitHubEnvironment
			if isDotSegment(t.Environment) {
				l.errf(fs.get("environment").valPos(), join(path, "environment"), "%q is not an environment name: it would name another path of the API", t.Environment)
			}
		}
		for _, k := range []string{"visibility", "repositories"} {
			if fs.present(k) {
				l.errf(fs.keyPos(k), join(path, k), "only applies to organization secrets")
			}
		}
	case hasOrg:
		t.Kind = model.GitHubOrganization
		t.Organization = l.str(fs, "organization")
		if !ghOwnerRE.MatchString(t.Organization) {
			l.errf(fs.get("organization").valPos(), join(path, "organization"), "%q is not a GitHub organization name", t.Organization)
		}
		if fs.present("environment") {
			l.errf(fs.keyPos("environment"), join(path, "environment"), "only applies to repository secrets (environments belong to a repository)")
		}
		t.Visibility = model.VisibilityPrivate
		if fs.has("visibility") {
			t.Visibility = l.str(fs, "visibility")
			switch t.Visibility {
			case model.VisibilityAll, model.VisibilityPrivate, model.VisibilitySelected:
			default:
				l.errf(fs.get("visibility").valPos(), join(path, "visibility"), "%q must be all, private or selected", t.Visibility)
			}
		}
		if fs.present("repositories") {
			rpath := join(path, "repositories")
			seen := map[string]bool{}
			for i, n := range l.seq(fs, "repositories") {
				if n.kind != kScalar || n.typ == tBool {
					l.errf(n.pos, index(rpath, i), "must be a repository name, not %s", n.describe())
					continue
				}
				name := n.text
				switch {
				case !ghRepoName(name):
					l.errf(n.pos, index(rpath, i), "%q is not a repository name (give the name without the owner)", name)
				case seen[strings.ToLower(name)]:
					l.errf(n.pos, index(rpath, i), "repository %q is listed twice", name)
				default:
					seen[strings.ToLower(name)] = true
					t.Repositories = append(t.Repositories, name)
				}
			}
			if f := fs.get("repositories"); f == nil || f.val.kind == kSeq && len(f.val.items) == 0 {
				l.errf(fs.keyPos("repositories"), rpath, "must list at least one repository")
			} else if t.Visibility != model.VisibilitySelected {
				l.errf(fs.keyPos("repositories"), rpath, "only applies with visibility: selected")
			}
		} else if t.Visibility == model.VisibilitySelected {
			l.errf(fs.keyPos("visibility"), join(path, "visibility"), "selected needs repositories")
		}
	}
	return t, len(l.errs) == nerr
}

// ghRepoName reports whether name is a GitHub repository name. "." and ".."
// match the character rule but are reserved by GitHub, and in an API path
// they would climb to another resource.
func ghRepoName(name string) bool { return ghRepoRE.MatchString(name) && !isDotSegment(name) }

// isDotSegment reports whether s is "." or "..", which a URL path resolves
// away instead of sending as a name.
func isDotSegment(s string) bool { return s == "." || s == ".." }

// glPath reports whether p is a GitLab project or group path (or numeric
// ID): segments of letters, digits, '_', '.' and '-', none "." or "..".
func glPath(p string) bool {
	return glPathRE.MatchString(p) && !slices.ContainsFunc(strings.Split(p, "/"), isDotSegment)
}

func (l *loader) gitlabTarget(f *field, path string) (model.Target, bool) {
	fs := l.mapping(f.val, f.keyPos, path, "project", "group", "environmentScope", "protected", "masked")
	nerr := len(l.errs)
	var t model.Target
	hasProject, hasGroup := fs.has("project"), fs.has("group")
	switch {
	case hasProject && hasGroup:
		l.errf(fs.at, path, "project and group are mutually exclusive")
	case !hasProject && !hasGroup:
		l.errf(fs.at, path, "needs project or group")
	case hasProject:
		t.Kind = model.GitLabProject
		t.Project = l.str(fs, "project")
		if !glPath(t.Project) || !strings.Contains(t.Project, "/") && strings.Trim(t.Project, "0123456789") != "" {
			l.errf(fs.get("project").valPos(), join(path, "project"), "%q is not a project path (group/name) or numeric ID", t.Project)
		}
	case hasGroup:
		t.Kind = model.GitLabGroup
		t.Group = l.str(fs, "group")
		if !glPath(t.Group) {
			l.errf(fs.get("group").valPos(), join(path, "group"), "%q is not a group path or numeric ID", t.Group)
		}
	}
	t.EnvironmentScope = "*"
	if fs.present("environmentScope") {
		t.EnvironmentScope = l.nonEmpty(fs, "environmentScope", " (leave it out for *)")
	}
	t.Protected = l.boolean(fs, "protected", false)
	t.Masked = l.boolean(fs, "masked", false)
	return t, len(l.errs) == nerr
}
