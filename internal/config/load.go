package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// load walks the whole file, section by section: policy, accounts, the
// provider connections, temporal, codec and the rotations with their
// targets.
func (l *loader) load(data []byte) *Config {
	cfg := &Config{File: l.file, Policy: model.DefaultPolicy, TaskQueue: DefaultTaskQueue}
	root, ok := l.parseTree(data)
	if !ok {
		return cfg
	}
	known := append([]string{"policy", "accounts", "github", "gitlab"}, connectionKeys()...)
	top := l.mapping(root, pos{1, 1}, "", append(known, "temporal", "codec", "notify", "rotations")...)

	if f := top.m["policy"]; f != nil {
		cfg.Policy = l.policy(f, "policy", model.DefaultPolicy)
	}
	cfg.Accounts = l.accounts(top)
	if f := top.m["github"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "github", "baseURL", "token", "app", "rateBudget", "secondaryLimits")
		gh := &GitHub{RateBudget: l.rateBudget(fs)}
		gh.Secondary = l.secondaryLimits(fs)
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
		fs := l.mapping(f.val, f.keyPos, "gitlab", "baseURL", "token", "rateBudget")
		gl := &GitLab{RateBudget: l.rateBudget(fs)}
		gl.BaseURL = l.baseURL(fs, DefaultGitLabBaseURL, false)
		gl.Token, gl.tokenSource = l.token(fs)
		cfg.GitLab = gl
	}
	l.connections(top, cfg)
	if f := top.m["temporal"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "temporal", "taskQueue", "uiURL")
		if q := l.nonEmpty(fs, "taskQueue", ""); strings.TrimSpace(q) != "" {
			cfg.TaskQueue = q
		}
		cfg.UIURL = l.uiURL(fs)
	}
	if f := top.m["codec"]; f != nil {
		cfg.CodecKeyFiles = l.codecKeyFiles(f)
	}
	cfg.Notify = l.notifyChannels(top, "notify", "notify", nil)
	cfg.Rotations = l.rotations(top, cfg)
	cfg.users = newUserIndex(cfg.Rotations)
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

// baseURL reads a connection's baseURL: an http(s) URL without
// credentials, def when left out.
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

// token reads a connection's token and where it comes from, for
// CheckWorker. A token written in plain text is a warning.
func (l *loader) token(fs fields) (model.Secret, tokenSource) {
	src := tokenSource{at: fs.keyPos("token")}
	s, set, vars := l.strRefs(fs, "token")
	src.vars = vars
	if set && s != "" && len(vars) == 0 {
		l.warnf(fs.get("token").valPos(), join(fs.path, "token"), "the token is written in plain text; use ${VAR} to read it from the environment")
	}
	return model.Secret(s), src
}

// userRE is an IAM user name.
var userRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// rotations reads the rotations: at least one, each of a known account's
// user, at most once per user, with its policy (the default one when left
// out), targets and secret names.
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
		fs := l.mapping(item, top.keyPos("rotations"), path, "user", "selector", "account", "description", "policy", "secretNames", "targets", "notify")
		if fs.present("selector") {
			l.selectorRotation(fs, path, cfg)
			continue
		}
		l.rejectTemplates(fs, path)
		r := model.Rotation{
			Account:     l.str(fs, "account"),
			User:        l.str(fs, "user"),
			Description: l.str(fs, "description"),
			Policy:      cfg.Policy,
		}
		userOK := l.required(fs, "user", r.User, userRE, "not a valid IAM user name (letters, digits and +=,.@_-, at most 64)")
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
		own := l.notifyChannels(fs, "notify", join(path, "notify"), cfg.Notify)
		if len(own) > 0 {
			if cfg.rotationNotify == nil {
				cfg.rotationNotify = map[string][]model.NotifyChannel{}
			}
			cfg.rotationNotify[r.WorkflowID()] = own
		}
		for _, ch := range append(slices.Clone(cfg.Notify), own...) {
			r.Notify = append(r.Notify, ch.Route())
		}
		out = append(out, r)
	}
	return out
}

// selectorRotation reads a rotations item with a selector into
// cfg.Selectors: what it selects, its targets as templates, and what its
// users' rotations share (description, policy, secret names, notify).
func (l *loader) selectorRotation(fs fields, path string, cfg *Config) {
	s := l.selector(fs, path, cfg)
	r := model.Rotation{Account: s.Account, Description: l.str(fs, "description"), Policy: cfg.Policy}
	if f := fs.get("policy"); f != nil {
		r.Policy = l.policy(f, join(path, "policy"), cfg.Policy)
	}
	kinds := make([]model.Target, len(s.Kinds))
	for i, k := range s.Kinds {
		kinds[i] = model.Target{Kind: k}
	}
	r.SecretNames = l.secretNames(fs, path, kinds)
	s.notify = l.notifyChannels(fs, "notify", join(path, "notify"), cfg.Notify)
	for _, ch := range append(slices.Clone(cfg.Notify), s.notify...) {
		r.Notify = append(r.Notify, ch.Route())
	}
	s.Rotation = r
	cfg.Selectors = append(cfg.Selectors, s)
}

// DefaultRateBudget is the share of a provider credential's quota keyrotor
// uses unless rateBudget says otherwise: the rest is left to whatever else
// uses the token.
const DefaultRateBudget = 0.8

// secondaryLimits reads github.secondaryLimits: {points, window,
// concurrent}, positive each (absent: zero, GitHub.com's).
func (l *loader) secondaryLimits(gh fields) SecondaryLimits {
	f := gh.get("secondaryLimits")
	if f == nil {
		return SecondaryLimits{}
	}
	fs := l.mapping(f.val, f.keyPos, "github.secondaryLimits", "points", "window", "concurrent")
	positive := func(key string) int {
		n, ok := l.integer(fs, key)
		if ok && n <= 0 {
			l.errf(fs.get(key).valPos(), join(fs.path, key), "must be above 0 (GitHub.com's: 900 points a window of 1m, 100 concurrent)")
			return 0
		}
		return n
	}
	sl := SecondaryLimits{Points: positive("points"), Concurrent: positive("concurrent")}
	if d, ok := l.duration(fs, "window"); ok {
		if d <= 0 {
			l.errf(fs.get("window").valPos(), join(fs.path, "window"), "must be above 0 (GitHub.com's: 1m)")
		} else {
			sl.Window = d
		}
	}
	return sl
}

// rateBudget reads a connection's rateBudget: a share of the quota, as a
// percentage ("80%") or a fraction (0.8), above 0 and at most 100%.
func (l *loader) rateBudget(fs fields) float64 {
	f := fs.get("rateBudget")
	if f == nil {
		return DefaultRateBudget
	}
	path := join(fs.path, "rateBudget")
	text := strings.TrimSpace(l.str(fs, "rateBudget"))
	scale := 1.0
	if t, ok := strings.CutSuffix(text, "%"); ok {
		text, scale = strings.TrimSpace(t), 100
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || v/scale <= 0 || v/scale > 1 {
		l.errf(f.valPos(), path, "%q is not a share of the quota: write a percentage above 0 and at most 100%% (80%%), or a fraction (0.8)", l.str(fs, "rateBudget"))
		return DefaultRateBudget
	}
	return v / scale
}
