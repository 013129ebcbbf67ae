package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

const circleciBase = "accounts:\n  - {name: prod, region: us-east-1}\n" +
	"circleci:\n  token: ${CIRCLE_TOKEN}\n" +
	"rotations:\n  - user: u\n    account: prod\n    targets:\n"

func circleciEnv(name string) (string, bool) {
	if name == "CIRCLE_TOKEN" {
		return "CCIPAT_test", true
	}
	return "", false
}

func TestCircleCITargets(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte(circleciBase+
		"      - circleci: {project: gh/acme/api}\n"+
		"      - circleci: {context: 7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab}\n"+
		"      - circleci: {project: circleci/0b7e8a52-1c9d-4a7f-9e3b-5d2c1f0a6b84/3f1c2e7d-8b9a-4c6d-a5e4-1f2b3c4d5e6f}\n"), circleciEnv)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, model.Target{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/api"}}, ts[0])
	require.Equal(t, "circleci gh/acme/api", ts[0].String())
	require.Equal(t, model.Target{Kind: model.CircleCIContext, CircleCI: &model.CircleCITarget{Context: "7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab"}}, ts[1])
	require.Equal(t, "circleci context 7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab", ts[1].String())
	require.Equal(t, model.CircleCIProject, ts[2].Kind)
	require.Equal(t, "circleci", ts[1].Kind.Provider())
	conn := cfg.Connection("circleci")
	require.NotNil(t, conn)
	require.Equal(t, "https://circleci.com", conn.BaseURL)
	require.Equal(t, "CCIPAT_test", conn.Token.Reveal())

	tests := []struct {
		name, base, target, want string
	}{
		{"neither", circleciBase, "circleci: {}",
			"k.yaml:9:19: rotations[0].targets[0].circleci: needs project (a project slug such as gh/acme/api) or context (a context ID)"},
		{"both", circleciBase, "circleci: {project: gh/acme/api, context: 7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab}",
			"k.yaml:9:19: rotations[0].targets[0].circleci: project and context are mutually exclusive"},
		{"bad slug", circleciBase, "circleci: {project: acme/api}",
			`k.yaml:9:29: rotations[0].targets[0].circleci.project: "acme/api" is not a project slug (gh/org/repo, bb/org/repo, or circleci/<org-id>/<project-id>)`},
		{"dot segment", circleciBase, "circleci: {project: gh/acme/..}",
			`k.yaml:9:29: rotations[0].targets[0].circleci.project: "gh/acme/.." is not a project slug`},
		{"context name instead of ID", circleciBase, "circleci: {context: aws-deploy}",
			`k.yaml:9:29: rotations[0].targets[0].circleci.context: "aws-deploy" is not a context ID (a UUID, shown on the context's page in the organization settings)`},
		{"unknown field", circleciBase, "circleci: {project: gh/acme/api, repository: x}",
			`k.yaml:9:42: rotations[0].targets[0].circleci.repository: unknown field "repository"; known fields: project, context`},
		{"no circleci section", strings.Replace(circleciBase, "circleci:\n  token: ${CIRCLE_TOKEN}\n", "", 1), "circleci: {project: gh/acme/api}",
			"k.yaml:7:9: rotations[0].targets[0].circleci: a circleci target needs the top-level circleci section (with its token)"},
		{"duplicate", circleciBase, "circleci: {project: gh/acme/api}\n      - circleci: {project: gh/acme/api}",
			"k.yaml:10:9: rotations[0].targets[1]: duplicate target circleci gh/acme/api (first at line 9)"},
		{"name too long", circleciBase + "      - circleci: {project: gh/acme/api}\n    secretNames:\n      accessKeyId: " + strings.Repeat("A", 301) + "\n", "",
			"k.yaml:11:20: rotations[0].secretNames.accessKeyId: is 301 characters long: CircleCI refuses variable names longer than 300"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.base
			if tc.target != "" {
				doc += "      - " + tc.target + "\n"
			}
			_, err := Parse("k.yaml", []byte(doc), circleciEnv)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
