// Package config reads keyrotor's YAML configuration file: the default
// rotation policy, the AWS accounts, the GitHub and GitLab connections and
// the rotations with their targets.
//
// Parse checks the whole file and reports every problem it finds at once,
// each with its file, line, column and field path, e.g.
//
//	keyrotor.yaml:14:9: rotations[0].targets[2].github: repository and organization are mutually exclusive
//
// String values may read environment variables with ${NAME} ($${ writes a
// literal ${). Provider tokens should always be given that way.
package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Defaults for the fields the file may leave out.
const (
	DefaultGitHubBaseURL = "https://api.github.com/"
	DefaultGitLabBaseURL = "https://gitlab.com/api/v4"
	DefaultTaskQueue     = "keyrotor"
)

// Account is an AWS account whose IAM users are rotated.
type Account struct {
	Name    string // how rotations refer to the account
	Region  string
	RoleARN string // role to assume in the account; empty to use the ambient credentials
}

// GitHub is the connection to GitHub or GitHub Enterprise Server.
type GitHub struct {
	BaseURL string // API URL, with a trailing slash
	Token   model.Secret
	App     *GitHubApp // authenticate as a GitHub App installation instead of with Token; nil with a token
	// RateBudget is the share of the token's (or installation's) quota
	// keyrotor's calls may use (rateBudget; DefaultRateBudget).
	RateBudget float64
	// Secondary are GitHub's secondary limits (secondaryLimits: points,
	// window, concurrent), of which RateBudget is keyrotor's; zero
	// fields: GitHub.com's (900 points a minute, 100 requests at once). A
	// GitHub Enterprise Server admin may set others.
	Secondary SecondaryLimits

	tokenSource
}

// SecondaryLimits are GitHub's secondary rate limits: Points (a read costs
// 1, a write 5) per Window, and Concurrent requests at once.
type SecondaryLimits struct {
	Points     int
	Window     time.Duration
	Concurrent int
}

// GitLab is the connection to GitLab.
type GitLab struct {
	BaseURL string // API URL, e.g. https://gitlab.com/api/v4
	Token   model.Secret
	// RateBudget is the share of the token's quota keyrotor's calls may
	// use (rateBudget; DefaultRateBudget).
	RateBudget float64

	tokenSource
}

// tokenSource remembers where a token came from, for CheckWorker's messages.
type tokenSource struct {
	at   pos      // the token field, or the section when the field is absent
	vars []string // the environment variables the token field reads
}

// Config is a loaded and validated configuration.
type Config struct {
	File     string               // the file name, as given to Load or Parse
	Policy   model.RotationPolicy // defaults for every rotation (model.DefaultPolicy merged under the file's policy)
	Accounts []Account
	GitHub   *GitHub // nil when the file has no github section
	GitLab   *GitLab // nil when the file has no gitlab section
	// Connections are the other token providers' sections (terraform,
	// circleci, bitbucket, travis), by provider; see Connection.
	Connections map[string]*Connection
	Kubernetes  *Kubernetes // nil when the file has no kubernetes section
	TaskQueue   string      // Temporal task queue
	UIURL       string      // the Temporal Web UI (temporal.uiURL), for links in notifications; "" for none

	// Notify are the file's notify channels, told about every rotation.
	// A rotation's own channels are added to them (NotifyChannel).
	Notify         []model.NotifyChannel
	rotationNotify map[string][]model.NotifyChannel // by rotation workflow ID

	// CodecKeyFiles are the payload encryption key files (codec.keyFile /
	// codec.keyFiles), newest first; KEYROTOR_CODEC_KEY_FILE overrides them.
	CodecKeyFiles []string

	// Rotations are resolved: policy merged over the defaults, secret names
	// defaulted, targets converted to model targets.
	Rotations []model.Rotation
	users     *userIndex // Rotations by user (rotationsOf)

	// Selectors are the rotations that select their users by IAM path and
	// tags; discovery (internal/discover) expands them with Expand.
	Selectors []*Selector
	lookupEnv func(string) (string, bool) // for Expand's ${VAR}

	// Warnings are problems that do not stop the configuration from loading,
	// e.g. a token written in plain text or an unset environment variable.
	Warnings []string
}

// Load reads and parses the configuration file at path, expanding ${VAR}
// from the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse parses and validates a configuration. file names it in messages;
// lookupEnv resolves ${VAR} references (nil: no variable is set). On failure
// the error is an Errors listing every problem found.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	l := &loader{file: file, lookupEnv: lookupEnv}
	cfg := l.load(data)
	cfg.lookupEnv = lookupEnv
	if len(l.errs) > 0 {
		l.errs.sort()
		return nil, l.errs
	}
	cfg.Warnings = l.warningStrings()
	return cfg, nil
}

// Account returns the account called name.
func (c *Config) Account(name string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

// Rotation returns the rotation of user in account. With account "", the
// user must be rotated in exactly one account. IAM user names are compared
// without regard to case, as IAM does.
func (c *Config) Rotation(account, user string) (model.Rotation, error) {
	found := c.rotationsOf(user)
	if len(found) == 0 {
		return model.Rotation{}, fmt.Errorf("%s: no rotation for user %q; configured users: %s", c.File, user, list(c.userNames()))
	}
	if account == "" {
		if len(found) == 1 {
			return found[0], nil
		}
		return model.Rotation{}, fmt.Errorf("%s: user %q is rotated in several accounts (%s); name the account", c.File, user, list(accountsOf(found)))
	}
	for _, r := range found {
		if r.Account == account {
			return r, nil
		}
	}
	if _, ok := c.Account(account); !ok {
		names := make([]string, len(c.Accounts))
		for i, a := range c.Accounts {
			names[i] = a.Name
		}
		return model.Rotation{}, fmt.Errorf("%s: unknown account %q; configured accounts: %s", c.File, account, list(names))
	}
	return model.Rotation{}, fmt.Errorf("%s: no rotation for user %q in account %q; the user is rotated in: %s", c.File, user, account, list(accountsOf(found)))
}

// rotationsOf are the rotations of user (any case), in every account. A
// worker asks for every activity of every rotation: for a fleet, the
// index that Load builds answers at once, where a scan of ten thousand
// rotations each time cost more than the rotations themselves.
func (c *Config) rotationsOf(user string) []model.Rotation {
	var found []model.Rotation
	if idx, ok := c.users.of(c.Rotations); ok {
		for _, i := range idx[strings.ToLower(user)] {
			found = append(found, c.Rotations[i])
		}
		return found
	}
	for _, r := range c.Rotations {
		if strings.EqualFold(r.User, user) {
			found = append(found, r)
		}
	}
	return found
}

// userIndex finds the rotations of a user: lower-cased user → indexes in
// the Rotations it was built for. Built once, by Load, and only read after.
type userIndex struct {
	rotations []model.Rotation
	byUser    map[string][]int
}

func newUserIndex(rs []model.Rotation) *userIndex {
	x := &userIndex{rotations: rs, byUser: make(map[string][]int, len(rs))}
	for i, r := range rs {
		k := strings.ToLower(r.User)
		x.byUser[k] = append(x.byUser[k], i)
	}
	return x
}

// of returns the index when it still describes rs (not when Rotations
// was changed after Load, or for a Config built by hand).
func (x *userIndex) of(rs []model.Rotation) (map[string][]int, bool) {
	if x == nil || len(x.rotations) != len(rs) || len(rs) == 0 || &x.rotations[0] != &rs[0] {
		return nil, false
	}
	return x.byUser, true
}

func (c *Config) userNames() []string {
	var out []string
	for _, r := range c.Rotations {
		if !slices.Contains(out, r.User) {
			out = append(out, r.User)
		}
	}
	slices.Sort(out)
	return out
}

func accountsOf(rs []model.Rotation) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Account
	}
	slices.Sort(out)
	return out
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// CheckWorker reports what the worker needs beyond a valid file: at least
// one rotation, a token for every provider that has targets, and, with
// github.app, a readable RSA private key file. The error is an Errors.
func (c *Config) CheckWorker() error {
	var errs Errors
	add := func(p pos, path, format string, args ...any) {
		errs = append(errs, &Error{File: c.File, Line: p.line, Column: p.col, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.Rotations) == 0 && len(c.Selectors) == 0 {
		add(pos{}, "rotations", "no rotation is configured; the worker has nothing to do")
	}
	targets := map[string]int{}
	for _, r := range c.Rotations {
		for _, t := range r.Targets {
			targets[t.Kind.Provider()]++
		}
	}
	for _, s := range c.Selectors {
		for _, k := range s.Kinds {
			targets[k.Provider()]++
		}
	}
	check := func(provider string, present bool, token model.Secret, src tokenSource) {
		n := targets[provider]
		if n == 0 {
			return
		}
		need := fmt.Sprintf("the worker needs a %s token for %d target(s)", provider, n)
		switch {
		case !present:
			add(pos{}, provider, "%s; add a %s section with token: ${%s_TOKEN}", need, provider, strings.ToUpper(provider))
		case token.Reveal() != "":
			return
		case len(src.vars) > 0:
			add(src.at, provider+".token", "is empty: %s; set %s", need, strings.Join(src.vars, ", "))
		default:
			add(src.at, provider+".token", "is not set: %s; write token: ${%s_TOKEN}", need, strings.ToUpper(provider))
		}
	}
	switch {
	case c.GitHub != nil && c.GitHub.App != nil:
		// Checked even without github targets: the worker reads the key
		// whenever the App is configured.
		if e := c.checkGitHubApp(c.GitHub.App); e != nil {
			errs = append(errs, e)
		}
	case c.GitHub != nil:
		check("github", true, c.GitHub.Token, c.GitHub.tokenSource)
	default:
		check("github", false, "", tokenSource{})
	}
	if c.GitLab != nil {
		check("gitlab", true, c.GitLab.Token, c.GitLab.tokenSource)
	} else {
		check("gitlab", false, "", tokenSource{})
	}
	c.checkConnections(check)
	c.checkNotify(add)
	if len(errs) > 0 {
		return errs
	}
	return nil
}
