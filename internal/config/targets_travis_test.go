package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

const travisBase = "accounts:\n  - {name: prod, region: us-east-1}\n" +
	"travis:\n  baseURL: https://travis.example.com/api\n  token: ${TRAVIS_TOKEN}\n" +
	"rotations:\n  - user: u\n    account: prod\n    targets:\n"

func travisEnv(name string) (string, bool) {
	if name == "TRAVIS_TOKEN" {
		return "travis-test-token", true
	}
	return "", false
}

func TestTravisTargets(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte(travisBase+"      - travis: {repository: acme/api}\n"), travisEnv)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, model.Target{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: "acme/api"}}, ts[0])
	require.Equal(t, "travis acme/api", ts[0].String())
	require.Equal(t, "travis", ts[0].Kind.Provider())
	conn := cfg.Connection("travis")
	require.NotNil(t, conn)
	require.Equal(t, "https://travis.example.com/api", conn.BaseURL)
	require.Equal(t, "travis-test-token", conn.Token.Reveal())

	tests := []struct {
		name, base, target, want string
	}{
		{"no repository", travisBase, "travis: {}", "k.yaml:10:17: rotations[0].targets[0].travis.repository: is required"},
		{"not a slug", travisBase, "travis: {repository: api}",
			`k.yaml:10:30: rotations[0].targets[0].travis.repository: "api" is not a repository slug (owner/name)`},
		{"dot segment", travisBase, "travis: {repository: acme/..}",
			`k.yaml:10:30: rotations[0].targets[0].travis.repository: "acme/.." is not a repository slug (owner/name)`},
		{"unknown field", travisBase, "travis: {repository: acme/api, branch: main}",
			`k.yaml:10:40: rotations[0].targets[0].travis.branch: unknown field "branch"`},
		{"no travis section", strings.Replace(travisBase, "travis:\n  baseURL: https://travis.example.com/api\n  token: ${TRAVIS_TOKEN}\n", "", 1), "travis: {repository: acme/api}",
			"k.yaml:7:9: rotations[0].targets[0].travis: a travis target needs the top-level travis section (with its token)"},
		{"with another kind in one item", travisBase, "travis: {repository: acme/api}\n        gitlab: {project: acme/api}",
			"k.yaml:10:9: rotations[0].targets[0]: gitlab and travis are mutually exclusive; write one target per list item"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(tc.base+"      - "+tc.target+"\n"), travisEnv)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
