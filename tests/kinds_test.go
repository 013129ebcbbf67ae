package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
)

// TestRotationToEveryKind rotates a user whose key lives in one target of
// every kind, through the worker and PushToTarget: every target confirms,
// and says how.
func TestRotationToEveryKind(t *testing.T) {
	targets := append(devstack.DemoTargets()[:1], devstack.AllKindTargets()...)
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
		"github acme/api":                                       "metadata (updated_at)",
		"aws-secretsmanager demo:ci/deployer":                   "read back",
		"aws-ssm demo:/ci/deployer":                             "read back",
		"bitbucket acme/api":                                    "metadata (uuid, listed by key)",
		"bitbucket acme/api@Production":                         "metadata (uuid, listed by key)",
		"circleci gh/acme/api":                                  "masked value's last 4 chars",
		"circleci context 7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab": "metadata (updated_at)",
		"travis acme/api":                                       "metadata (listed by name)",
		"kubernetes emulator/ci/aws-deployer":                   "read back and rolled out deployment/api",
		"terraform acme/api":                                    "metadata (version-id)",
		"terraform varset acme/AWS keys (terraform)":            "metadata (version-id)",
	}, confirmedBy)
}
