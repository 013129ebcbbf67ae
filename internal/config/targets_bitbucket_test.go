package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

func TestBitbucketTargets(t *testing.T) {
	section := "bitbucket:\n  token: bbat-test\n"
	base := "accounts:\n  - {name: prod, region: us-east-1}\nrotations:\n  - user: u\n    account: prod\n    targets:\n"
	cfg, err := Parse("k.yaml", []byte(section+base+
		"      - bitbucket: {workspace: acme, repository: api}\n"+
		"      - bitbucket: {workspace: acme, repository: api, deployment: Production}\n"+
		"      - bitbucket: {workspace: '{0c9ef9a4-2f2a-4d8c-9b8e-5f0b5c8e1a11}', repository: web.site, deployment: Staging EU}\n"), nil)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, model.Target{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api"}}, ts[0])
	require.Equal(t, model.Target{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "Production"}}, ts[1])
	require.Equal(t, "bitbucket acme/api", ts[0].String())
	require.Equal(t, "bitbucket acme/api@Production", ts[1].String())
	require.Equal(t, "bitbucket {0c9ef9a4-2f2a-4d8c-9b8e-5f0b5c8e1a11}/web.site@Staging EU", ts[2].String())
	conn := cfg.Connection("bitbucket")
	require.NotNil(t, conn)
	require.Equal(t, "https://api.bitbucket.org", conn.BaseURL)

	tests := []struct {
		name, section, target, want string
	}{
		{"no workspace", section, "bitbucket: {repository: api}",
			"k.yaml:9:20: rotations[0].targets[0].bitbucket.workspace: is required"},
		{"no repository", section, "bitbucket: {workspace: acme}",
			"k.yaml:9:20: rotations[0].targets[0].bitbucket.repository: is required"},
		{"bad workspace", section, "bitbucket: {workspace: 'ac me', repository: api}",
			`k.yaml:9:32: rotations[0].targets[0].bitbucket.workspace: "ac me" is not a Bitbucket workspace ID`},
		{"bad repository", section, "bitbucket: {workspace: acme, repository: a/b}",
			`k.yaml:9:50: rotations[0].targets[0].bitbucket.repository: "a/b" is not a repository slug`},
		{"dot repository", section, "bitbucket: {workspace: acme, repository: '..'}",
			`k.yaml:9:50: rotations[0].targets[0].bitbucket.repository: ".." is not a repository slug`},
		{"empty deployment", section, "bitbucket: {workspace: acme, repository: api, deployment: ''}",
			"k.yaml:9:67: rotations[0].targets[0].bitbucket.deployment: must not be empty (a deployment environment's name"},
		{"unknown field", section, "bitbucket: {workspace: acme, repository: api, environment: prod}",
			`k.yaml:9:55: rotations[0].targets[0].bitbucket.environment: unknown field "environment"`},
		{"no section", "", "bitbucket: {workspace: acme, repository: api}",
			"k.yaml:7:9: rotations[0].targets[0].bitbucket: a bitbucket target needs the top-level bitbucket section (with its token)"},
		{"duplicate", section, "bitbucket: {workspace: acme, repository: api}\n      - bitbucket: {workspace: ACME, repository: API}",
			"k.yaml:10:9: rotations[0].targets[1]: duplicate target bitbucket ACME/API (first at line 9)"},
		{"two kinds in one item", section, "bitbucket: {workspace: acme, repository: api}\n        gitlab: {project: acme/api}",
			"k.yaml:9:9: rotations[0].targets[0]: gitlab and bitbucket are mutually exclusive; write one target per list item"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(tc.section+base+"      - "+tc.target+"\n"), nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
