package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
)

// allKindTargets are one target of every kind beyond GitHub and GitLab,
// as the emulators serve them.
func allKindTargets() []model.Target {
	return []model.Target{
		{Kind: model.AWSSecretsManager, AWSSecret: &model.AWSSecretTarget{Account: "demo", SecretID: "ci/deployer"}},
		{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: "demo", Parameter: "/ci/deployer"}},
		{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "api", Category: "env"}},
		{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS keys", Category: "terraform"}},
	}
}

// TestRotationToEveryKind rotates a user whose key lives in one target of
// every kind, through the worker and PushToTarget: every target confirms,
// and says how.
func TestRotationToEveryKind(t *testing.T) {
	targets := append(devstack.DemoTargets()[:1], allKindTargets()...)
	r := newRig(t, rigOptions{users: map[string][]model.Target{"ci-deployer": targets}})
	st, err := rotate(t, r, "ci-deployer")
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)
	r.requireRotated("ci-deployer", st.NewKeyID, targets)
	confirmedBy := map[string]string{}
	for _, ts := range st.Targets {
		require.Equal(t, contract.TargetConfirmed, ts.State, ts.Target)
		confirmedBy[ts.Target] = ts.ConfirmedBy
	}
	require.Equal(t, map[string]string{
		"github acme/api":                            "metadata (updated_at)",
		"aws-secretsmanager demo:ci/deployer":        "read back",
		"aws-ssm demo:/ci/deployer":                  "read back",
		"terraform acme/api":                         "metadata (version-id)",
		"terraform varset acme/AWS keys (terraform)": "metadata (version-id)",
	}, confirmedBy)
}
