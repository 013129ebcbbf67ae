package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

func TestTerraformTargets(t *testing.T) {
	env := func(name string) (string, bool) { return "atlasv1-token", name == "TFE_TOKEN" }
	head := "accounts:\n  - {name: prod, region: us-east-1}\nterraform:\n  token: ${TFE_TOKEN}\nrotations:\n  - user: u\n    account: prod\n    targets:\n"
	cfg, err := Parse("k.yaml", []byte(head+
		"      - terraform: {organization: acme, workspace: api}\n"+
		"      - terraform: {organization: acme, variableSet: AWS keys, category: terraform}\n"), env)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, model.Target{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "api", Category: "env"}}, ts[0])
	require.Equal(t, model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS keys", Category: "terraform"}}, ts[1])
	require.Equal(t, "terraform acme/api", ts[0].String())
	require.Equal(t, "terraform varset acme/AWS keys (terraform)", ts[1].String())
	require.Equal(t, "terraform", ts[1].Kind.Provider())
	conn := cfg.Connection("terraform")
	require.NotNil(t, conn)
	require.Equal(t, "https://app.terraform.io", conn.BaseURL)
	require.Equal(t, "atlasv1-token", conn.Token.Reveal())

	tests := []struct{ name, target, want string }{
		{"neither", "terraform: {organization: acme}", "rotations[0].targets[0].terraform: needs workspace or variableSet"},
		{"both", "terraform: {organization: acme, workspace: api, variableSet: keys}", "terraform: workspace and variableSet are mutually exclusive"},
		{"no organization", "terraform: {workspace: api}", "terraform.organization: is required"},
		{"bad organization", "terraform: {organization: 'acme corp', workspace: api}", `terraform.organization: "acme corp" is not an HCP Terraform organization name`},
		{"bad workspace", "terraform: {organization: acme, workspace: 'api/prod'}", `terraform.workspace: "api/prod" is not a workspace name`},
		{"long workspace", "terraform: {organization: acme, workspace: " + strings.Repeat("w", 91) + "}", "is not a workspace name"},
		{"empty variable set", "terraform: {organization: acme, variableSet: ''}", "terraform.variableSet: must not be empty"},
		{"padded variable set", "terraform: {organization: acme, variableSet: ' keys'}", "does not begin or end with spaces"},
		{"bad category", "terraform: {organization: acme, workspace: api, category: policy-set}", `terraform.category: "policy-set" must be env (environment variables, the default) or terraform`},
		{"unknown field", "terraform: {organization: acme, workspace: api, project: p}", `terraform.project: unknown field "project"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(head+"      - "+tc.target+"\n"), env)
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("no terraform section", func(t *testing.T) {
		noSection := strings.Replace(head, "terraform:\n  token: ${TFE_TOKEN}\n", "", 1)
		_, err := Parse("k.yaml", []byte(noSection+"      - terraform: {organization: acme, workspace: api}\n"), env)
		require.ErrorContains(t, err, "a terraform target needs the top-level terraform section (with its token)")
	})
	t.Run("secret name too long", func(t *testing.T) {
		long := strings.Repeat("K", 129)
		_, err := Parse("k.yaml", []byte(head+"      - terraform: {organization: acme, workspace: api}\n    secretNames: {secretAccessKey: "+long+"}\n"), env)
		require.ErrorContains(t, err, "is 129 characters long: HCP Terraform refuses variable keys longer than 128")
	})
}
