package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// ConfigSpec describes the configuration file to generate for the emulators.
type ConfigSpec struct {
	Account   string // default "demo"
	TaskQueue string // default "keyrotor"
	Users     map[string][]model.Target
	// UserAccounts puts some users in other accounts than Account (user →
	// account name). Each other account reaches the emulator through a role
	// (roleArn), which WriteConfig registers with it.
	UserAccounts map[string]string
	Policy       model.RotationPolicy
	// GitHubApp, when set, authenticates to GitHub as this App instead of
	// with a token (see Emulators.AddGitHubApp).
	GitHubApp *GitHubApp
	// GitHubSecondary are the GitHub secondary limits the worker keeps to
	// (zero: far above any test's needs, as the emulator enforces none
	// unless a test sets them).
	GitHubSecondary config.SecondaryLimits
}

// GitHubApp is a GitHub App registered with the emulator.
type GitHubApp struct {
	AppID, InstallationID int64
	PrivateKeyFile        string
}

// WriteConfig writes a keyrotor configuration for the emulators into dir and
// returns its path. Tokens are ${VAR} references to Env's variables, as a
// real configuration would have them.
func (e *Emulators) WriteConfig(dir string, spec ConfigSpec) (string, error) {
	path := filepath.Join(dir, "keyrotor.yaml")
	for _, name := range otherAccounts(spec) {
		// The role trusts the rotator's identity only, as deploy/'s
		// target-account role does.
		e.AWS.AddRole(e.accountRole(name))
		e.AWS.SetRoleTrust(e.accountRole(name), e.AWS.UserARN(adminUser))
	}
	if err := os.WriteFile(path, []byte(e.ConfigYAML(spec)), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// LoadConfig parses a configuration written by WriteConfig, resolving its
// token variables from the emulators rather than the process environment.
func (e *Emulators) LoadConfig(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(path, data, e.LookupEnv)
}

// ConfigYAML renders the configuration.
func (e *Emulators) ConfigYAML(spec ConfigSpec) string {
	if spec.Account == "" {
		spec.Account = "demo"
	}
	if spec.TaskQueue == "" {
		spec.TaskQueue = config.DefaultTaskQueue
	}
	p := spec.Policy
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated for the built-in emulators.\n")
	fmt.Fprintf(&b, "policy:\n  %s\n  gracePeriod: %s\n  deleteAfter: %s\n  requireOldKeyIdle: %t\n  idleRecheck: %s\n  idleChecks: %d\n",
		schedule(p), dur(p.GracePeriod), dur(p.DeleteAfter), p.RequireOldKeyIdle, dur(p.IdleRecheck), p.IdleChecks)
	if p.Jitter > 0 {
		fmt.Fprintf(&b, "  jitter: %s\n", dur(p.Jitter))
	}
	fmt.Fprintf(&b, "accounts:\n  - name: %s\n    region: %s\n", spec.Account, Region)
	for _, name := range otherAccounts(spec) {
		fmt.Fprintf(&b, "  - name: %s\n    region: %s\n    roleArn: %s\n", name, Region, e.accountRole(name))
	}
	if app := spec.GitHubApp; app != nil {
		fmt.Fprintf(&b, "github:\n  baseURL: %s\n  app:\n    appId: %d\n    installationId: %d\n    privateKeyFile: %s\n",
			e.GitHubURL, app.AppID, app.InstallationID, app.PrivateKeyFile)
	} else {
		fmt.Fprintf(&b, "github:\n  baseURL: %s\n  token: ${KEYROTOR_GITHUB_TOKEN}\n", e.GitHubURL)
	}
	// The emulator enforces no secondary limits unless a test sets them:
	// the worker need not keep to GitHub.com's 900 points a minute.
	sec := spec.GitHubSecondary
	if sec == (config.SecondaryLimits{}) {
		sec = config.SecondaryLimits{Points: 1_000_000, Window: time.Minute, Concurrent: 1000}
	}
	fmt.Fprintf(&b, "  secondaryLimits: {points: %d, window: %s, concurrent: %d}\n", sec.Points, sec.Window, sec.Concurrent)
	fmt.Fprintf(&b, "gitlab:\n  baseURL: %s\n  token: ${KEYROTOR_GITLAB_TOKEN}\n", e.GitLabURL)
	for _, h := range kindHarnesses {
		if h.section != nil {
			b.WriteString(h.section(e))
		}
	}
	fmt.Fprintf(&b, "temporal:\n  taskQueue: %s\n", spec.TaskQueue)
	b.WriteString("rotations:\n")
	for _, user := range sortedKeys(spec.Users) {
		account := spec.Account
		if a := spec.UserAccounts[user]; a != "" {
			account = a
		}
		fmt.Fprintf(&b, "  - user: %s\n    account: %s\n    targets:\n", user, account)
		for _, t := range spec.Users[user] {
			fmt.Fprintf(&b, "      - %s\n", targetYAML(t))
		}
	}
	return b.String()
}

// otherAccounts are the account names of spec.UserAccounts other than
// spec.Account, sorted.
func otherAccounts(spec ConfigSpec) []string {
	main := spec.Account
	if main == "" {
		main = "demo"
	}
	var out []string
	for _, a := range spec.UserAccounts {
		if a != "" && a != main && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// accountRole is the role an extra account of the config assumes.
func (e *Emulators) accountRole(name string) string {
	return "arn:aws:iam::" + e.AWS.AccountID() + ":role/keyrotor-" + name
}

func targetYAML(t model.Target) string {
	var fields []string
	add := func(k, v string) {
		if v != "" {
			fields = append(fields, k+": "+v)
		}
	}
	flag := func(k string, v bool) {
		if v {
			fields = append(fields, k+": true")
		}
	}
	switch t.Kind.Provider() {
	case "aws":
		add("account", t.AWSSecret.Account)
		add("secretId", t.AWSSecret.SecretID)
		add("parameter", t.AWSSecret.Parameter)
		add("kmsKeyId", t.AWSSecret.KMSKeyID)
		return string(t.Kind) + ": {" + strings.Join(fields, ", ") + "}"
	case "github":
		add("repository", t.Repository)
		add("environment", t.Environment)
		add("organization", t.Organization)
		add("visibility", t.Visibility)
		if len(t.Repositories) > 0 {
			add("repositories", "["+strings.Join(t.Repositories, ", ")+"]")
		}
		return "github: {" + strings.Join(fields, ", ") + "}"
	case "gitlab":
		add("project", t.Project)
		add("group", t.Group)
		if t.EnvironmentScope != "*" {
			add("environmentScope", t.EnvironmentScope)
		}
		flag("protected", t.Protected)
		flag("masked", t.Masked)
		return "gitlab: {" + strings.Join(fields, ", ") + "}"
	}
	if h := harnessOf(t.Kind.Provider()); h != nil {
		return h.yaml(t)
	}
	panic("devstack: no harness for target kind " + string(t.Kind))
}

// schedule renders the policy's period: its cron when set (every and cron
// are mutually exclusive in one policy), else every.
func schedule(p model.RotationPolicy) string {
	if p.Cron != "" {
		return fmt.Sprintf("cron: %q", p.Cron)
	}
	return "every: " + dur(p.Every)
}

// dur renders a duration the config accepts ("0s" rather than "0").
func dur(d time.Duration) string { return d.String() }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
