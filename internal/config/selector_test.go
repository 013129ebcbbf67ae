package config

import (
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/model"
)

const selectorHead = `accounts:
  - {name: prod, region: us-east-1}
  - {name: dev, region: us-east-1, roleArn: "arn:aws:iam::210987654321:role/keyrotor"}
github: {token: "${GITHUB_TOKEN}"}
gitlab: {token: "${GITLAB_TOKEN}"}
rotations:
`

func TestSelectorExpand(t *testing.T) {
	src := selectorHead + `  - user: ci-static
    account: prod
    targets: [{github: {repository: acme/static}}]
  - selector: {path: /ci/, tag: {keyrotor: "true"}}
    account: prod
    policy: {every: 7d}
    targets:
      - github: {repository: "acme/{{.Tags.repo}}"}
      - gitlab: {project: "acme/{{.User}}"}
`
	cfg, err := Parse("k.yaml", []byte(selectorHead[:0]+src), exampleEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rotations) != 1 || len(cfg.Selectors) != 1 {
		t.Fatalf("rotations %d selectors %d", len(cfg.Rotations), len(cfg.Selectors))
	}
	s := cfg.Selectors[0]
	if s.Name != "rotations[1]" || s.Account != "prod" || s.Path != "/ci/" || s.Tags["keyrotor"] != "true" {
		t.Errorf("selector %+v", s)
	}
	if len(s.Kinds) != 2 {
		t.Errorf("kinds %v", s.Kinds)
	}
	u := SelectedUser{Account: "prod", User: "deployer", Path: "/ci/", Tags: map[string]string{"keyrotor": "true", "repo": "api"}}
	if !s.Matches(u) {
		t.Error("does not match")
	}
	for _, other := range []SelectedUser{
		{Account: "dev", User: "x", Path: "/ci/", Tags: u.Tags},
		{Account: "prod", User: "x", Path: "/cicd/", Tags: u.Tags},
		{Account: "prod", User: "x", Path: "/ci/", Tags: map[string]string{"keyrotor": "false"}},
	} {
		if s.Matches(other) {
			t.Errorf("matches %+v", other)
		}
	}
	r, err := cfg.Expand(s, u)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Target{
		{Kind: model.GitHubRepository, Repository: "acme/api"},
		{Kind: model.GitLabProject, Project: "acme/deployer"},
	}
	if r.User != "deployer" || r.Account != "prod" || len(r.Targets) != 2 || r.Targets[0].String() != want[0].String() || r.Targets[1].String() != want[1].String() {
		t.Errorf("rotation %+v", r)
	}
	if r.Policy.Every.Hours() != 168 {
		t.Errorf("policy %+v", r.Policy)
	}

	// A missing tag names the user, the field and the tag.
	_, err = cfg.Expand(s, SelectedUser{Account: "prod", User: "lost", Path: "/ci/", Tags: map[string]string{"keyrotor": "true"}})
	if err == nil || !strings.Contains(err.Error(), `user lost in account prod (selected by rotations[1])`) ||
		!strings.Contains(err.Error(), `k.yaml:14:30: rotations[1].targets[0].github.repository: the user has no tag "repo"`) {
		t.Errorf("missing tag: %v", err)
	}
	// A value that renders to an invalid target is checked like a written one.
	_, err = cfg.Expand(s, SelectedUser{Account: "prod", User: "bad", Path: "/ci/", Tags: map[string]string{"repo": ".."}})
	if err == nil || !strings.Contains(err.Error(), `"acme/.." is not a repository`) || !strings.Contains(err.Error(), "rendered from tag repo") {
		t.Errorf("invalid value: %v", err)
	}
	// A tag value is data: ${VAR} in it is not expanded.
	r, err = cfg.Expand(s, SelectedUser{Account: "prod", User: "env", Path: "/ci/", Tags: map[string]string{"repo": "${GITHUB_TOKEN}"}})
	if err == nil || strings.Contains(err.Error(), ghToken) || strings.Contains(r.Targets[0].Repository, ghToken) {
		t.Errorf("tag value expanded: %v %+v", err, r)
	}
}

func TestSelectorErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"user and selector", `  - user: a
    selector: {path: /ci/}
    account: prod
    targets: [{github: {repository: acme/a}}]
`, "k.yaml:7:5: rotations[0].user: user and selector are mutually exclusive"},
		{"everyone", `  - selector: {account: prod}
    targets: [{github: {repository: acme/a}}]
`, "rotations[0].selector: selects every user of the account"},
		{"bad path", `  - selector: {account: prod, path: /ci}
    targets: [{github: {repository: acme/a}}]
`, `k.yaml:7:37: rotations[0].selector.path: "/ci" is not an IAM path`},
		{"unknown account", `  - selector: {account: nope, tag: {a: b}}
    targets: [{github: {repository: acme/a}}]
`, `rotations[0].selector.account: unknown account "nope"`},
		{"bool tag", `  - selector: {account: prod, tag: {keyrotor: true}}
    targets: [{github: {repository: acme/a}}]
`, `rotations[0].selector.tag.keyrotor: must be a string, not a boolean`},
		{"unknown selector field", `  - selector: {account: prod, tags: {a: b}}
    targets: [{github: {repository: acme/a}}]
`, `rotations[0].selector.tags: unknown field "tags"; did you mean tag?`},
		{"template parse", `  - selector: {account: prod, tag: {a: b}}
    targets:
      - github: {repository: "acme/{{.Tags.repo"}
`, `k.yaml:9:30: rotations[0].targets[0].github.repository: template:`},
		{"template field", `  - selector: {account: prod, tag: {a: b}}
    targets:
      - github: {repository: "acme/{{.Name}}"}
`, `k.yaml:9:30: rotations[0].targets[0].github.repository: unknown field .Name; a placeholder reads .User, .Path, .Account or .Tags.KEY`},
		{"structure still checked", `  - selector: {account: prod, tag: {a: b}}
    targets:
      - github: {repository: "acme/{{.User}}", organization: acme}
`, `rotations[0].targets[0].github: repository and organization are mutually exclusive`},
		{"unknown target field", `  - selector: {account: prod, tag: {a: b}}
    targets:
      - github: {repo: "acme/{{.User}}"}
`, `rotations[0].targets[0].github.repo: unknown field "repo"`},
		{"template without selector", `  - user: a
    account: prod
    targets: [{github: {repository: "acme/{{.User}}"}}]
`, `k.yaml:9:37: rotations[0].targets[0].github.repository: a placeholder ({{...}}) needs a selector`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(selectorHead+c.src), exampleEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant %s", err, c.want)
			}
		})
	}
}
