package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

const (
	ghToken = "ghp_TOPSECRETVALUE1"
	glToken = "glpat-TOPSECRETVALUE2"
)

var exampleEnv = env(map[string]string{"GITHUB_TOKEN": ghToken, "GITLAB_TOKEN": glToken})

func TestExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("example.yaml", data, exampleEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %q", cfg.Warnings)
	}
	if cfg.File != "example.yaml" || cfg.TaskQueue != "keyrotor" {
		t.Errorf("File %q TaskQueue %q", cfg.File, cfg.TaskQueue)
	}
	if cfg.Policy != model.DefaultPolicy {
		t.Errorf("Policy = %+v, want %+v", cfg.Policy, model.DefaultPolicy)
	}
	wantAccounts := []Account{
		{Name: "prod", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/keyrotor"},
		{Name: "staging", Region: "eu-west-1"},
	}
	if !reflect.DeepEqual(cfg.Accounts, wantAccounts) {
		t.Errorf("Accounts = %+v", cfg.Accounts)
	}
	if cfg.GitHub == nil || cfg.GitHub.BaseURL != "https://api.github.com/" || cfg.GitHub.Token.Reveal() != ghToken {
		t.Errorf("GitHub = %#v", cfg.GitHub)
	}
	if cfg.GitLab == nil || cfg.GitLab.BaseURL != "https://gitlab.com/api/v4" || cfg.GitLab.Token.Reveal() != glToken {
		t.Errorf("GitLab = %#v", cfg.GitLab)
	}
	prodPolicy := model.DefaultPolicy
	prodPolicy.GracePeriod = time.Hour
	stagingPolicy := model.DefaultPolicy
	stagingPolicy.Every = 7 * 24 * time.Hour
	stagingPolicy.DeleteAfter = 0
	stagingPolicy.RequireOldKeyIdle = false
	want := []model.Rotation{
		{
			Account:     "prod",
			User:        "ci-deployer",
			Description: "deploys the API",
			SecretNames: model.DefaultSecretNames,
			Policy:      prodPolicy,
			Targets: []model.Target{
				{Kind: model.GitHubRepository, Repository: "acme/api"},
				{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"},
				{Kind: model.GitHubOrganization, Organization: "acme", Visibility: "selected", Repositories: []string{"api", "web"}},
				{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
				{Kind: model.GitLabGroup, Group: "acme", EnvironmentScope: "*"},
			},
		},
		{
			Account:     "staging",
			User:        "ci-deployer",
			SecretNames: model.SecretNames{AccessKeyID: "STAGING_AWS_ACCESS_KEY_ID", SecretAccessKey: "STAGING_AWS_SECRET_ACCESS_KEY"},
			Policy:      stagingPolicy,
			Targets: []model.Target{
				{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "staging"},
			},
		},
	}
	if !reflect.DeepEqual(cfg.Rotations, want) {
		t.Errorf("Rotations =\n%+v\nwant\n%+v", cfg.Rotations, want)
	}
	if err := cfg.CheckWorker(); err != nil {
		t.Errorf("CheckWorker: %v", err)
	}

	// Secrets never show in formatted output.
	for _, s := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", *cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", *cfg),
		fmt.Sprintf("%v %+v %#v %s", *cfg.GitHub, *cfg.GitHub, *cfg.GitHub, cfg.GitHub.Token),
		fmt.Sprintf("%v %+v %#v %s", *cfg.GitLab, *cfg.GitLab, *cfg.GitLab, cfg.GitLab.Token),
	} {
		if strings.Contains(s, "TOPSECRET") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", ghToken)
	t.Setenv("GITLAB_TOKEN", glToken)
	path := filepath.Join("testdata", "example.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path || cfg.GitHub.Token.Reveal() != ghToken || len(cfg.Rotations) != 2 {
		t.Errorf("Load: %+v", cfg)
	}
	if _, err := Load(filepath.Join("testdata", "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestGitHubSecondaryLimits(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want SecondaryLimits
	}{
		{"absent: GitHub.com's, decided by the worker", "", SecondaryLimits{}},
		{"all three", "  secondaryLimits: {points: 2000, window: 1m, concurrent: 50}\n", SecondaryLimits{Points: 2000, Window: time.Minute, Concurrent: 50}},
		{"points only", "  secondaryLimits:\n    points: 1200\n", SecondaryLimits{Points: 1200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "accounts: [{name: prod, region: us-east-1}]\n" +
				"rotations:\n  - {user: bot, account: prod, targets: [{github: {repository: acme/api}}]}\n" +
				"github:\n  token: x\n" + tt.yaml
			cfg, err := Parse("t.yaml", []byte(src), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GitHub.Secondary != tt.want {
				t.Errorf("got %+v, want %+v", cfg.GitHub.Secondary, tt.want)
			}
		})
	}
}

func TestMinimal(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte(`
accounts: [{name: prod, region: us-east-1}]
gitlab: {token: "${GL}"}
rotations:
  - {user: bot, account: prod, targets: [{gitlab: {project: "1234"}}]}
`), env(map[string]string{"GL": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitHub != nil || cfg.GitLab.BaseURL != DefaultGitLabBaseURL || cfg.TaskQueue != DefaultTaskQueue {
		t.Errorf("defaults: %+v %+v", cfg, cfg.GitLab)
	}
	r := cfg.Rotations[0]
	if r.Policy != model.DefaultPolicy || r.SecretNames != model.DefaultSecretNames {
		t.Errorf("rotation defaults: %+v", r)
	}
	if want := (model.Target{Kind: model.GitLabProject, Project: "1234", EnvironmentScope: "*"}); !reflect.DeepEqual(r.Targets, []model.Target{want}) {
		t.Errorf("targets: %+v", r.Targets)
	}
}

// An empty file, or one without rotations, is far more likely a wrong path
// or a truncated file than a wish to rotate nothing: it is refused.
func TestEmptyFile(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "k.yaml: rotations: no rotation is configured"},
		{"# nothing\n", "k.yaml: rotations: no rotation is configured"},
		{"---\n", "k.yaml: rotations: no rotation is configured"},
		{"accounts: [{name: p, region: us-east-1}]\n", "k.yaml: rotations: no rotation is configured"},
		{"accounts: [{name: p, region: us-east-1}]\nrotations: []\n", "k.yaml:2:1: rotations: no rotation is configured"},
		{"accounts: [{name: p, region: us-east-1}]\nrotations:\n", "k.yaml:2:1: rotations: no rotation is configured"},
	}
	for _, tt := range tests {
		cfg, err := Parse("k.yaml", []byte(tt.src), nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: Parse = %+v, %v; want one error %q", tt.src, cfg, err, tt.want)
		}
	}
}

// withRotationsError adds, to the errors a case of a file without
// rotations expects, the error for the missing rotations (listed first: it
// has no line).
func withRotationsError(src string, want []string) []string {
	if strings.Contains(src, "rotations:") || len(want) > 0 && strings.Contains(want[0], "YAML") {
		return want
	}
	return append([]string{"t.yaml: rotations: no rotation is configured"}, want...)
}

// head is a valid beginning; cases append the rest of rotations[0]
// (starting at line 9, indented for its keys).
const head = `accounts:
  - {name: prod, region: us-east-1}
github: {token: "${GH}"}
gitlab: {token: "${GL}"}
rotations:
  - user: u
    account: prod
    targets:
`

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error, in this order
	}{
		{"syntax", "accounts: [1\nrotations: x: y\n", []string{"t.yaml:2:1: YAML syntax error"}},
		{"tab", "accounts:\n\t- x\n", []string{"t.yaml:2:1: YAML syntax error"}},
		{"not a mapping", "- a\n- b\n", []string{"t.yaml:1:1: must be a mapping, not a list"}},
		{"two documents", "accounts: []\n---\naccounts: []\n", []string{"t.yaml:2:1: the file must hold a single YAML document"}},
		{"unknown top key with suggestion", "acounts: []\n", []string{`t.yaml:1:1: acounts: unknown field "acounts"; did you mean accounts?`}},
		{"unknown top key", "zzz: 1\n", []string{`t.yaml:1:1: zzz: unknown field "zzz"; known fields: policy, accounts, github, gitlab, terraform, circleci, bitbucket, travis, kubernetes, temporal, codec, notify, rotations`}},
		{"secondary limits zero", "github:\n  token: x\n  secondaryLimits: {points: 0, window: 0s, concurrent: -1}\n", []string{
			"t.yaml:3:29: github.secondaryLimits.points: must be above 0",
			"t.yaml:3:40: github.secondaryLimits.window: must be above 0",
			"t.yaml:3:56: github.secondaryLimits.concurrent: must be above 0"}},
		{"secondary limits unknown key", "github:\n  token: x\n  secondaryLimits: {pointsPerMinute: 900}\n", []string{
			`github.secondaryLimits.pointsPerMinute: unknown field "pointsPerMinute"`}},
		{"unknown policy key", "policy:\n  gracePerod: 1h\n", []string{`t.yaml:2:3: policy.gracePerod: unknown field "gracePerod"; did you mean gracePeriod?`}},
		{"cron and every", "policy:\n  every: 1h\n  cron: '0 0 * * *'\n", []string{"t.yaml:3:3: policy.cron: every and cron are mutually exclusive"}},
		{"cron fields", "policy:\n  cron: '0 0 * *'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "0 0 * *": need 5 fields`}},
		{"cron seconds", "policy:\n  cron: '0 0 0 * * *'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "0 0 0 * * *": need 5 fields`}},
		{"cron range", "policy:\n  cron: '61 * * * *'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "61 * * * *"`}},
		{"cron never runs", "policy:\n  cron: '0 0 30 2 *'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "0 0 30 2 *": it never runs`}},
		{"cron @every", "policy:\n  cron: '@every 1h'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "@every 1h": use every: for a fixed period`}},
		{"cron descriptor", "policy:\n  cron: '@fortnightly'\n", []string{`t.yaml:2:9: policy.cron: invalid cron expression "@fortnightly": unknown descriptor`}},
		{"cron time zone", "policy:\n  cron: 'TZ=Europe/Paris 0 0 * * *'\n", []string{"t.yaml:2:9: policy.cron: invalid cron expression \"TZ=Europe/Paris 0 0 * * *\": time zones are not supported"}},
		{"cron empty", "policy:\n  cron: ''\n", []string{"t.yaml:2:9: policy.cron: must not be empty (leave it out to use every)"}},
		{"cron type", "policy:\n  cron: [a]\n", []string{"t.yaml:2:9: policy.cron: must be a string, not a list"}},
		{"negative jitter", "policy:\n  jitter: -1m\n", []string{"t.yaml:2:11: policy.jitter: must be zero or positive"}},
		{"jitter not shorter than every", "policy:\n  every: 1h\n  jitter: 1h\n", []string{"t.yaml:3:11: policy.jitter: jitter 1h0m0s must be shorter than every (1h0m0s)"}},
		{"jitter against the default every", "policy: {jitter: 31d}\n", []string{"t.yaml:1:18: policy.jitter: jitter 744h0m0s must be shorter than every (720h0m0s)"}},
		{"jitter against cron", "policy:\n  cron: '0 9 * * MON,TUE'\n  jitter: 1d\n", []string{`t.yaml:3:11: policy.jitter: jitter 24h0m0s must be shorter than the shortest gap between runs of cron "0 9 * * MON,TUE" (24h0m0s)`}},
		{"inherited jitter against a rotation's cron", "policy: {jitter: 10m}\n" + head + "      - gitlab: {group: g}\n    policy: {cron: '*/5 * * * *'}\n", []string{
			`t.yaml:11:20: rotations[0].policy.cron: jitter 10m0s (inherited) must be shorter than the shortest gap between runs of cron "*/5 * * * *" (5m0s)`,
		}},
		{"duplicate key", "policy:\n  every: 1h\n  every: 2h\n", []string{"t.yaml:3:3: policy.every: duplicate key (first at line 2)"}},
		{"bad duration", "policy:\n  every: 3 weeks\n", []string{`t.yaml:2:10: policy.every: invalid duration "3 weeks"`}},
		{"duration without unit", "policy:\n  every: 3600\n", []string{`t.yaml:2:10: policy.every: invalid duration "3600"`}},
		{"zero every", "policy:\n  every: 0s\n", []string{"t.yaml:2:10: policy.every: must be positive"}},
		{"negative grace", "policy:\n  gracePeriod: -1h\n", []string{"t.yaml:2:16: policy.gracePeriod: must be zero or positive"}},
		{"negative deleteAfter", "policy:\n  deleteAfter: -2d\n", []string{"t.yaml:2:16: policy.deleteAfter: must be zero or positive"}},
		{"zero idleRecheck", "policy:\n  idleRecheck: 0\n", []string{"policy.idleRecheck: must be positive"}},
		{"idleChecks type", "policy:\n  idleChecks: many\n", []string{"t.yaml:2:15: policy.idleChecks: must be an integer, not a string"}},
		{"idleChecks zero", "policy:\n  idleChecks: 0\n", []string{"t.yaml:2:15: policy.idleChecks: must be at least 1"}},
		{"bool typed", "policy:\n  requireOldKeyIdle: \"yes\"\n", []string{"t.yaml:2:22: policy.requireOldKeyIdle: must be true or false, not a string"}},
		{"policy not a mapping", "policy: 24h\n", []string{"t.yaml:1:9: policy: must be a mapping, not a string"}},
		{"accounts not a list", "accounts: {name: prod}\n", []string{"t.yaml:1:11: accounts: must be a list, not a mapping"}},
		{"account fields", "accounts:\n  - name: prod\n  - region: us-east-1\n    roleArn: arn:aws:iam::123:role/x\n  - {name: 'a/b', region: mars}\n", []string{
			"t.yaml:2:5: accounts[0].region: is required",
			"t.yaml:3:5: accounts[1].name: is required",
			`t.yaml:4:14: accounts[1].roleArn: "arn:aws:iam::123:role/x" is not an IAM role ARN`,
			`t.yaml:5:12: accounts[2].name: "a/b" is not a valid account name`,
			`t.yaml:5:27: accounts[2].region: "mars" is not an AWS region name`,
		}},
		{"duplicate account", "accounts:\n  - {name: prod, region: us-east-1}\n  - {name: prod, region: us-east-2}\n", []string{`t.yaml:3:12: accounts[1].name: duplicate account "prod" (first at line 2)`}},
		{"github baseURL", "github:\n  baseURL: ftp://example.com\n  tokn: x\n", []string{
			"t.yaml:2:12: github.baseURL: must be an http or https URL",
			"t.yaml:3:3: github.tokn: unknown field \"tokn\"; did you mean token?",
		}},
		{"gitlab baseURL", "gitlab:\n  baseURL: gitlab.example.com\n", []string{"t.yaml:2:12: gitlab.baseURL: must be an http or https URL"}},
		{"token type", "github:\n  token: [a]\n", []string{"t.yaml:2:10: github.token: must be a string, not a list"}},
		{"taskQueue", "temporal:\n  taskQueue: ''\n  namespace: x\n", []string{
			"t.yaml:2:14: temporal.taskQueue: must not be empty",
			`t.yaml:3:3: temporal.namespace: unknown field "namespace"; known fields: taskQueue`,
		}},
		{"rotation required fields", "accounts: [{name: prod, region: us-east-1}]\nrotations:\n  - description: x\n", []string{
			"t.yaml:3:5: rotations[0].user: is required",
			"t.yaml:3:5: rotations[0].account: is required",
			"t.yaml:3:5: rotations[0].targets: a rotation needs at least one target",
		}},
		{"bad user", head + "      - gitlab: {group: g}\n" + "  - {user: 'a b', account: prod, targets: [{gitlab: {group: g}}]}\n", []string{`t.yaml:10:12: rotations[1].user: "a b" is not a valid IAM user name`}},
		{"long user", head + "      - gitlab: {group: g}\n" + "  - {user: " + strings.Repeat("x", 65) + ", account: prod, targets: [{gitlab: {group: g}}]}\n", []string{`t.yaml:10:12: rotations[1].user: "` + strings.Repeat("x", 65) + `" is not a valid IAM user name`}},
		{"unknown account", head + "      - gitlab: {group: g}\n" + "  - {user: v, account: dev, targets: [{gitlab: {group: g}}]}\n", []string{`t.yaml:10:24: rotations[1].account: unknown account "dev"; accounts: prod`}},
		{"duplicate rotation", head + "      - gitlab: {group: g}\n" + "  - {user: U, account: prod, targets: [{gitlab: {group: g}}]}\n", []string{"t.yaml:10:5: rotations[1]: duplicate rotation of user U in account prod (also rotations[0] at line 6)"}},
		{"empty targets", head + "    description: x\n", []string{"t.yaml:8:5: rotations[0].targets: a rotation needs at least one target"}},
		{"rotation policy", head + "      - gitlab: {group: g}\n    policy: {every: -1h, grace: 1h}\n", []string{
			"t.yaml:10:21: rotations[0].policy.every: must be positive",
			"t.yaml:10:26: rotations[0].policy.grace: unknown field",
		}},
		{"target neither", head + "      - {}\n      - gitbub: {repository: a/b}\n", []string{
			"t.yaml:9:9: rotations[0].targets[0]: a target needs github or gitlab",
			"t.yaml:10:9: rotations[0].targets[1].gitbub: unknown field \"gitbub\"; did you mean github?",
			"t.yaml:10:9: rotations[0].targets[1]: a target needs github or gitlab",
		}},
		{"target both", head + "      - github: {repository: a/b}\n        gitlab: {group: g}\n", []string{"t.yaml:10:9: rotations[0].targets[0]: github and gitlab are mutually exclusive"}},
		{"repository and organization", head + "      - github: {repository: a/b, organization: a}\n", []string{"t.yaml:9:17: rotations[0].targets[0].github: repository and organization are mutually exclusive"}},
		{"github neither", head + "      - github: {environment: e}\n      - github:\n", []string{
			"t.yaml:9:17: rotations[0].targets[0].github: needs repository (owner/name) or organization",
			"t.yaml:10:9: rotations[0].targets[1].github: needs repository (owner/name) or organization",
		}},
		{"repository form", head + "      - github: {repository: api}\n", []string{`t.yaml:9:30: rotations[0].targets[0].github.repository: "api" is not a repository in owner/name form`}},
		{"environment with organization", head + "      - github: {organization: acme, environment: e}\n", []string{"t.yaml:9:38: rotations[0].targets[0].github.environment: only applies to repository secrets"}},
		{"visibility with repository", head + "      - github: {repository: a/b, visibility: all, repositories: [x]}\n", []string{
			"t.yaml:9:35: rotations[0].targets[0].github.visibility: only applies to organization secrets",
			"t.yaml:9:52: rotations[0].targets[0].github.repositories: only applies to organization secrets",
		}},
		{"visibility value", head + "      - github: {organization: acme, visibility: public}\n", []string{`t.yaml:9:50: rotations[0].targets[0].github.visibility: "public" must be all, private or selected`}},
		{"selected needs repositories", head + "      - github: {organization: acme, visibility: selected}\n", []string{"t.yaml:9:38: rotations[0].targets[0].github.visibility: selected needs repositories"}},
		{"repositories need selected", head + "      - github: {organization: acme, repositories: [a]}\n", []string{"t.yaml:9:38: rotations[0].targets[0].github.repositories: only applies with visibility: selected"}},
		{"repositories names", head + "      - github: {organization: acme, visibility: selected, repositories: [acme/a, b, b, true]}\n", []string{
			`t.yaml:9:75: rotations[0].targets[0].github.repositories[0]: "acme/a" is not a repository name`,
			`t.yaml:9:86: rotations[0].targets[0].github.repositories[2]: repository "b" is listed twice`,
			`t.yaml:9:89: rotations[0].targets[0].github.repositories[3]: must be a repository name, not a boolean`,
		}},
		{"empty repositories", head + "      - github: {organization: acme, visibility: selected, repositories: []}\n", []string{"t.yaml:9:60: rotations[0].targets[0].github.repositories: must list at least one repository"}},
		{"gitlab project and group", head + "      - gitlab: {project: a/b, group: a}\n", []string{"t.yaml:9:17: rotations[0].targets[0].gitlab: project and group are mutually exclusive"}},
		{"gitlab neither", head + "      - gitlab: {masked: true}\n", []string{"t.yaml:9:17: rotations[0].targets[0].gitlab: needs project or group"}},
		{"gitlab bools typed", head + "      - gitlab: {group: g, protected: 'true', masked: 1}\n", []string{
			"t.yaml:9:39: rotations[0].targets[0].gitlab.protected: must be true or false, not a string",
			"t.yaml:9:55: rotations[0].targets[0].gitlab.masked: must be true or false, not an integer",
		}},
		{"gitlab project path", head + "      - gitlab: {project: 'my project'}\n", []string{`t.yaml:9:27: rotations[0].targets[0].gitlab.project: "my project" is not a project path`}},
		{"duplicate target", head + "      - github: {repository: acme/api}\n      - gitlab: {group: g}\n      - github: {repository: ACME/api}\n", []string{"t.yaml:11:9: rotations[0].targets[2]: duplicate target github ACME/api (first at line 9)"}},
		{"missing provider sections", "accounts: [{name: prod, region: us-east-1}]\nrotations:\n  - user: u\n    account: prod\n    targets:\n      - github: {repository: a/b}\n      - gitlab: {group: g}\n", []string{
			"t.yaml:6:9: rotations[0].targets[0].github: a github target needs the top-level github section",
			"t.yaml:7:9: rotations[0].targets[1].gitlab: a gitlab target needs the top-level gitlab section",
		}},
		{"secret names", head + "      - github: {repository: a/b}\n    secretNames: {accessKeyId: 1KEY, secretAccessKey: GITHUB_SECRET, extra: x}\n", []string{
			`t.yaml:10:32: rotations[0].secretNames.accessKeyId: "1KEY" is not a valid variable name`,
			`t.yaml:10:55: rotations[0].secretNames.secretAccessKey: "GITHUB_SECRET": GitHub refuses secret names starting with GITHUB_`,
			`t.yaml:10:70: rotations[0].secretNames.extra: unknown field`,
		}},
		{"secret names distinct", head + "      - gitlab: {group: g}\n    secretNames: {secretAccessKey: aws_access_key_id}\n", []string{"t.yaml:10:19: rotations[0].secretNames.secretAccessKey: must differ from the other secret name (AWS_ACCESS_KEY_ID)"}},
		{"bad env reference", "github: {token: '${GH'}\ngitlab: {token: '${GL-X}'}\n", []string{
			"t.yaml:1:17: github.token: unterminated ${",
			"t.yaml:2:17: gitlab.token: invalid ${...}",
		}},
		{"empty values", head + "      - github: {repository: a/b, environment: }\n      - gitlab: {group: g, environmentScope: ''}\n", []string{
			"t.yaml:9:35: rotations[0].targets[0].github.environment: must not be empty",
			"t.yaml:10:46: rotations[0].targets[1].gitlab.environmentScope: must not be empty (leave it out for *)",
		}},
		{"baseURL credentials", "github: {baseURL: 'https://u:p@ghe.example.com/'}\ngitlab: {baseURL: ''}\n", []string{
			"t.yaml:1:19: github.baseURL: must not hold credentials; use token",
			"t.yaml:2:19: gitlab.baseURL: must not be empty (leave it out for https://gitlab.com/api/v4)",
		}},
		{"integer range", "policy: {idleChecks: 99999999999}\n", []string{"t.yaml:1:22: policy.idleChecks: integer 99999999999 is out of range"}},
		{"unknown alias", "policy: *nope\n", []string{"t.yaml:1:9: alias refers to no anchor defined above it"}},
		{"duration type", "policy: {every: true, gracePeriod: [1h]}\n", []string{
			"t.yaml:1:17: policy.every: must be a duration such as 90m, 24h or 3d, not a boolean",
			"t.yaml:1:36: policy.gracePeriod: must be a duration such as 90m, 24h or 3d, not a list",
		}},
		{"non-scalar key", "? [a]\n: b\n", []string{"t.yaml:2:1: YAML syntax error: found an invalid key for this map"}},
		{"same AWS account by role", "accounts:\n  - {name: prod, region: us-east-1, roleArn: 'arn:aws:iam::123456789012:role/a'}\n  - {name: prod2, region: eu-west-1, roleArn: 'arn:aws:iam::123456789012:role/b'}\n", []string{
			`t.yaml:3:47: accounts[1]: account "prod2" is the same AWS account as "prod" (accounts[0] at line 2): both assume roles in AWS account 123456789012; keep one entry per AWS account`,
		}},
		{"same AWS account by ambient credentials", "accounts:\n  - {name: prod, region: us-east-1}\n  - name: prod-eu\n    region: eu-west-1\n", []string{
			`t.yaml:3:5: accounts[1]: account "prod-eu" is the same AWS account as "prod" (accounts[0] at line 2): both use the rotator's own credentials (no roleArn)`,
		}},
		{"same user in one account", head + "      - gitlab: {group: g}\n" + "  - {user: U, account: prod, targets: [{gitlab: {group: h}}]}\n", []string{"t.yaml:10:5: rotations[1]: duplicate rotation of user U in account prod (also rotations[0] at line 6)"}},
		{"repository dot-dot name", head + "      - github: {repository: acme/..}\n      - github: {repository: acme/.}\n", []string{
			`t.yaml:9:30: rotations[0].targets[0].github.repository: "acme/.." is not a repository in owner/name form`,
			`t.yaml:10:30: rotations[0].targets[1].github.repository: "acme/." is not a repository in owner/name form`,
		}},
		{"repository dot-dot owner", head + "      - github: {repository: ../x}\n", []string{`t.yaml:9:30: rotations[0].targets[0].github.repository: "../x" is not a repository in owner/name form`}},
		{"environment dot segments", head + "      - github: {repository: a/b, environment: ..}\n      - github: {repository: a/c, environment: .}\n", []string{
			`t.yaml:9:48: rotations[0].targets[0].github.environment: ".." is not an environment name`,
			`t.yaml:10:48: rotations[0].targets[1].github.environment: "." is not an environment name`,
		}},
		{"selected repository dot-dot", head + "      - github: {organization: o, visibility: selected, repositories: [..]}\n", []string{`rotations[0].targets[0].github.repositories[0]: ".." is not a repository name`}},
		{"project dot segments", head + "      - gitlab: {project: a/../b}\n      - gitlab: {project: ./b}\n      - gitlab: {group: a/..}\n", []string{
			`t.yaml:9:27: rotations[0].targets[0].gitlab.project: "a/../b" is not a project path`,
			`t.yaml:10:27: rotations[0].targets[1].gitlab.project: "./b" is not a project path`,
			`t.yaml:11:25: rotations[0].targets[2].gitlab.group: "a/.." is not a group path`,
		}},
		{"gitlab variable key too long", head + "      - gitlab: {group: g}\n    secretNames: {accessKeyId: K" + strings.Repeat("X", 255) + "}\n", []string{
			"t.yaml:10:32: rotations[0].secretNames.accessKeyId: is 256 characters long: GitLab refuses variable keys longer than 255",
		}},
		{"pushRetryFor", "policy: {pushRetryFor: 0s}\n" + head + "      - gitlab: {group: g}\n    policy: {pushRetryFor: -1h}\n", []string{
			"t.yaml:1:24: policy.pushRetryFor: must be positive",
			"t.yaml:11:28: rotations[0].policy.pushRetryFor: must be positive",
		}},
		{"string wanted", head + "      - github: {repository: a/b, environment: true}\n", []string{`t.yaml:9:48: rotations[0].targets[0].github.environment: must be a string, not a boolean (quote it if you mean "true")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(tt.src), env(map[string]string{"GH": "x", "GL": "y"}))
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors", err)
			}
			want := withRotationsError(tt.src, tt.want)
			msg := err.Error()
			rest := msg
			for _, w := range want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("error does not contain (in order) %q:\n%s", w, msg)
					continue
				}
				rest = rest[i+len(w):]
			}
			if len(errs) != len(want) {
				t.Errorf("%d errors, want %d:\n%s", len(errs), len(want), msg)
			}
			if strings.Count(msg, "\n")+1 != len(errs) {
				t.Errorf("%d errors but %d lines:\n%s", len(errs), strings.Count(msg, "\n")+1, msg)
			}
		})
	}
}

// TestAllErrorsTogether checks that one Parse reports problems from every
// part of the file at once, in file order.
func TestAllErrorsTogether(t *testing.T) {
	src := `policy:
  every: 0s
accounts:
  - {name: prod, region: nowhere}
rotations:
  - user: ci-deployer
    account: prod
    polcy: {}
    targets:
      - github: {repository: acme/api, organization: acme}
      - gitlab: {}
`
	_, err := Parse("keyrotor.yaml", []byte(src), nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"keyrotor.yaml:2:10: policy.every: must be positive",
		`keyrotor.yaml:4:26: accounts[0].region: "nowhere" is not an AWS region name such as us-east-1`,
		`keyrotor.yaml:8:5: rotations[0].polcy: unknown field "polcy"; did you mean policy?`,
		"keyrotor.yaml:10:9: rotations[0].targets[0].github: a github target needs the top-level github section (with its token)",
		"keyrotor.yaml:10:17: rotations[0].targets[0].github: repository and organization are mutually exclusive",
		"keyrotor.yaml:11:9: rotations[0].targets[1].gitlab: a gitlab target needs the top-level gitlab section (with its token)",
		"keyrotor.yaml:11:17: rotations[0].targets[1].gitlab: needs project or group",
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := errs[0]; e.File != "keyrotor.yaml" || e.Line != 2 || e.Column != 10 || e.Path != "policy.every" {
		t.Errorf("errs[0] = %+v", *e)
	}
	if !errors.Is(err, errs[2]) {
		t.Error("errors.Is does not see the individual errors")
	}
}

// TestSchedulePolicy checks how every, cron and jitter merge: the most
// specific level that writes every or cron decides the schedule.
func TestSchedulePolicy(t *testing.T) {
	const rot = `accounts: [{name: prod, region: us-east-1}]
gitlab: {token: x}
rotations:
  - user: u
    account: prod
    targets: [{gitlab: {group: g}}]
`
	tests := []struct {
		name      string
		top, mine string // policy mappings (flow style), "" for none
		every     time.Duration
		cron      string
		jitter    time.Duration
	}{
		{"defaults", "", "", model.DefaultPolicy.Every, "", 0},
		{"every and jitter", "{every: 7d, jitter: 2h}", "", 7 * 24 * time.Hour, "", 2 * time.Hour},
		{"cron inherited", "{cron: '0 3 * * 1', jitter: 30m}", "", model.DefaultPolicy.Every, "0 3 * * 1", 30 * time.Minute},
		{"rotation cron overrides every", "{every: 7d}", "{cron: '@daily'}", 7 * 24 * time.Hour, "@daily", 0},
		{"rotation every drops inherited cron", "{cron: '0 3 * * 1'}", "{every: 2d}", 48 * time.Hour, "", 0},
		{"rotation jitter", "{every: 1d}", "{jitter: 1h}", 24 * time.Hour, "", time.Hour},
		{"cron trimmed", "", "{cron: ' 0 0 1 * * '}", model.DefaultPolicy.Every, "0 0 1 * *", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := rot
			if tt.top != "" {
				src = "policy: " + tt.top + "\n" + src
			}
			if tt.mine != "" {
				src += "    policy: " + tt.mine + "\n"
			}
			cfg, err := Parse("t.yaml", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Rotations[0].Policy
			if p.Every != tt.every || p.Cron != tt.cron || p.Jitter != tt.jitter {
				t.Errorf("every %v cron %q jitter %v; want %v %q %v", p.Every, p.Cron, p.Jitter, tt.every, tt.cron, tt.jitter)
			}
		})
	}
}

// pushRetryFor is a policy duration like the others: a default, a global
// value, a per-rotation override.
func TestPushRetryFor(t *testing.T) {
	const rot = `accounts: [{name: prod, region: us-east-1}]
gitlab: {token: x}
rotations:
  - {user: a, account: prod, targets: [{gitlab: {group: g}}]}
  - {user: b, account: prod, targets: [{gitlab: {group: g}}], policy: {pushRetryFor: 2d}}
`
	tests := []struct {
		name  string
		top   string
		wantA time.Duration
	}{
		{"default", "", model.DefaultPushRetryFor},
		{"global", "policy: {pushRetryFor: 90m}\n", 90 * time.Minute},
	}
	for _, tt := range tests {
		cfg, err := Parse("t.yaml", []byte(tt.top+rot), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		a, b := cfg.Rotations[0].Policy, cfg.Rotations[1].Policy
		if a.PushRetryFor != tt.wantA || a.PushRetryBudget() != tt.wantA || b.PushRetryFor != 48*time.Hour {
			t.Errorf("%s: pushRetryFor a=%v b=%v, want %v and 48h", tt.name, a.PushRetryFor, b.PushRetryFor, tt.wantA)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"24h", 24 * time.Hour, true},
		{"3d", 72 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"-2d", -48 * time.Hour, true},
		{"0", 0, true},
		{"1h30m", 90 * time.Minute, true},
		{"12h1d", 0, false},
		{"d", 0, false},
		{"3", 0, false},
		{"1d-1h", 0, false},
		{"3 d", 0, false},
		{"", 0, false},
		{"999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestEnvAndWarnings(t *testing.T) {
	src := `accounts:
  - name: prod
    region: ${REGION}
github:
  token: ghp_PLAINSECRET
gitlab:
  baseURL: ${GITLAB_URL}/api/v4
  token: ${GITLAB_TOKEN}
rotations:
  - user: u
    account: prod
    description: "costs $$5, literal $${HOME}, $HOME, ${UNSET_DESC}."
    targets:
      - github: {repository: acme/api}
      - gitlab: {group: g}
`
	cfg, err := Parse("k.yaml", []byte(src), env(map[string]string{"REGION": "eu-west-3", "GITLAB_URL": "https://gl.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Accounts[0].Region != "eu-west-3" {
		t.Errorf("region %q", cfg.Accounts[0].Region)
	}
	if cfg.GitLab.BaseURL != "https://gl.example.com/api/v4" || cfg.GitLab.Token.Reveal() != "" {
		t.Errorf("gitlab %+v", cfg.GitLab)
	}
	if got, want := cfg.Rotations[0].Description, "costs $$5, literal ${HOME}, $HOME, ."; got != want {
		t.Errorf("description %q, want %q", got, want)
	}
	if cfg.GitHub.Token.Reveal() != "ghp_PLAINSECRET" {
		t.Error("plain token not kept")
	}
	wantWarnings := []string{
		"k.yaml:5:10: github.token: the token is written in plain text; use ${VAR} to read it from the environment",
		"k.yaml:8:10: gitlab.token: environment variable GITLAB_TOKEN is not set; the value is empty",
		"k.yaml:12:18: rotations[0].description: environment variable UNSET_DESC is not set; the value is empty",
	}
	if !reflect.DeepEqual(cfg.Warnings, wantWarnings) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(cfg.Warnings, "\n"), strings.Join(wantWarnings, "\n"))
	}
	err = cfg.CheckWorker()
	if err == nil || err.Error() != "k.yaml:8:3: gitlab.token: is empty: the worker needs a gitlab token for 1 target(s); set GITLAB_TOKEN" {
		t.Errorf("CheckWorker = %v", err)
	}
	for _, s := range append(cfg.Warnings, fmt.Sprintf("%+v %#v", cfg, cfg.GitHub), err.Error()) {
		if strings.Contains(s, "PLAINSECRET") {
			t.Errorf("token printed: %s", s)
		}
	}
}

func TestCheckWorker(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"fine", "accounts: [{name: p, region: us-east-1}]\ngithub: {token: '${T}'}\nrotations: [{user: u, account: p, targets: [{github: {repository: a/b}}]}]\n", nil},
		{"no token field", "accounts: [{name: p, region: us-east-1}]\ngithub: {}\nrotations: [{user: u, account: p, targets: [{github: {repository: a/b}}]}]\n",
			[]string{"k.yaml:2:9: github.token: is not set: the worker needs a github token for 1 target(s); write token: ${GITHUB_TOKEN}"}},
		{"unset variable", "accounts: [{name: p, region: us-east-1}]\ngithub:\n  token: ${NOPE}\ngitlab:\n  token: ${GL}\nrotations: [{user: u, account: p, targets: [{github: {repository: a/b}}, {gitlab: {group: g}}, {github: {organization: o}}]}]\n",
			[]string{"k.yaml:3:3: github.token: is empty: the worker needs a github token for 2 target(s); set NOPE"}},
		{"unused provider needs no token", "accounts: [{name: p, region: us-east-1}]\ngithub: {token: '${T}'}\ngitlab: {}\nrotations: [{user: u, account: p, targets: [{github: {repository: a/b}}]}]\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("k.yaml", []byte(tt.src), env(map[string]string{"T": "t", "GL": "g"}))
			if err != nil {
				t.Fatal(err)
			}
			checkWorkerWants(t, cfg, tt.want)
		})
	}
}

func TestRotationLookup(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte(`accounts:
  - {name: prod, region: us-east-1, roleArn: "arn:aws:iam::111111111111:role/keyrotor"}
  - {name: staging, region: us-east-1, roleArn: "arn:aws:iam::222222222222:role/keyrotor"}
gitlab: {token: '${GL}'}
rotations:
  - {user: deployer, account: prod, targets: [{gitlab: {group: g}}]}
  - {user: deployer, account: staging, targets: [{gitlab: {group: g}}]}
  - {user: web, account: staging, targets: [{gitlab: {group: g}}]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		account, user string
		want          string // account of the result, or an error fragment
		ok            bool
	}{
		{"", "web", "staging", true},
		{"staging", "WEB", "staging", true},
		{"prod", "deployer", "prod", true},
		{"", "deployer", `k.yaml: user "deployer" is rotated in several accounts (prod, staging); name the account`, false},
		{"", "nobody", `k.yaml: no rotation for user "nobody"; configured users: deployer, web`, false},
		{"prod", "web", `k.yaml: no rotation for user "web" in account "prod"; the user is rotated in: staging`, false},
		{"dev", "web", `k.yaml: unknown account "dev"; configured accounts: prod, staging`, false},
	}
	if _, ok := cfg.users.of(cfg.Rotations); !ok {
		t.Error("Parse built no index of the rotations by user")
	}
	// The same answers from the index and, for a Config whose rotations
	// changed after it was built, from a scan.
	scanned := *cfg
	scanned.Rotations = slices.Clone(cfg.Rotations)
	for name, c := range map[string]*Config{"indexed": cfg, "scanned": &scanned} {
		for _, tt := range tests {
			r, err := c.Rotation(tt.account, tt.user)
			if tt.ok {
				if err != nil || r.Account != tt.want || !strings.EqualFold(r.User, tt.user) {
					t.Errorf("%s: Rotation(%q, %q) = %+v, %v", name, tt.account, tt.user, r, err)
				}
				continue
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("%s: Rotation(%q, %q) error = %v, want %s", name, tt.account, tt.user, err, tt.want)
			}
		}
	}
	if a, ok := cfg.Account("staging"); !ok || a.Region != "us-east-1" {
		t.Errorf("Account(staging) = %+v, %v", a, ok)
	}
	if _, ok := cfg.Account("dev"); ok {
		t.Error("Account(dev) found")
	}
}

func TestYAMLFeatures(t *testing.T) {
	// Anchors, aliases and merge keys work; GHES base URLs get their trailing slash.
	cfg, err := Parse("k.yaml", []byte(`accounts: [{name: prod, region: us-east-1}]
github: {baseURL: "https://ghe.example.com/api/v3", token: '${T}'}
rotations:
  - &base
    user: a
    account: prod
    policy: &fast {every: 1d, gracePeriod: 0s}
    targets: [{github: {repository: acme/a}}]
  - <<: *base
    user: b
    policy:
      <<: *fast
      deleteAfter: 1h
`), env(map[string]string{"T": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitHub.BaseURL != "https://ghe.example.com/api/v3/" {
		t.Errorf("baseURL %q", cfg.GitHub.BaseURL)
	}
	b := cfg.Rotations[1]
	if b.User != "b" || b.Account != "prod" || len(b.Targets) != 1 || b.Policy.Every != 24*time.Hour || b.Policy.GracePeriod != 0 || b.Policy.DeleteAfter != time.Hour {
		t.Errorf("merged rotation %+v", b)
	}
}

// The example the README points to must always load.
func TestExamplesLoad(t *testing.T) {
	env := func(name string) (string, bool) {
		if strings.HasSuffix(name, "_URL") {
			return "https://hooks.example.com/set-from-env", true
		}
		return "set-from-env", true
	}
	data, err := os.ReadFile("../../examples/keyrotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("examples/keyrotor.yaml", data, env); err != nil {
		t.Fatal(err)
	}
}

func TestCodecKeyFiles(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string
		wantErr string
	}{
		{"none", "", nil, ""},
		{"one relative to the config", "codec: {keyFile: keys/codec.key}", []string{"/etc/keyrotor/keys/codec.key"}, ""},
		{"absolute, from the environment", "codec: {keyFile: \"${KEYDIR}/codec.key\"}", []string{"/run/secrets/codec.key"}, ""},
		{"several, newest first", "codec: {keyFiles: [new.key, /old.key]}", []string{"/etc/keyrotor/new.key", "/old.key"}, ""},
		{"both", "codec: {keyFile: a, keyFiles: [b]}", nil, "k.yaml:1:21: codec: keyFile and keyFiles are mutually exclusive"},
		{"not a path", "codec: {keyFiles: [1]}", nil, "codec.keyFiles[0]: must be a file path"},
		{"unknown field", "codec: {key: x}", nil, `unknown field "key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.yaml + "\naccounts: [{name: p, region: us-east-1}]\ngitlab: {token: x}\nrotations: [{user: u, account: p, targets: [{gitlab: {group: g}}]}]\n"
			cfg, err := Parse("/etc/keyrotor/k.yaml", []byte(src), env(map[string]string{"KEYDIR": "/run/secrets"}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tt.wantErr, "k.yaml")) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.CodecKeyFiles, tt.want) {
				t.Errorf("CodecKeyFiles = %q, want %q", cfg.CodecKeyFiles, tt.want)
			}
		})
	}
}

// checkWorkerWants runs CheckWorker: no error when want is nil, else an
// error that contains every string of want. It returns the error.
func checkWorkerWants(t *testing.T, cfg *Config, want []string) error {
	t.Helper()
	err := cfg.CheckWorker()
	if want == nil {
		if err != nil {
			t.Errorf("CheckWorker = %v", err)
		}
		return err
	}
	if err == nil {
		t.Fatal("CheckWorker = nil")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("CheckWorker = %v, want %q", err, w)
		}
	}
	return err
}
