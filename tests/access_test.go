package tests

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// starter validate --check-access tries the rotator's calls harmlessly
// against the account (here the IAM emulator, through the SDK's standard
// endpoint variables) and reports what is missing.
func TestValidateCheckAccess(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	full := r.emu.Env()
	out, code := r.starterWithEnv(full, "validate", "--config", r.cfgPath, "--check-access")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "missing")

	id, secret := r.emu.AWS.AddPrincipal("keyrotor-narrow", "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:DeleteAccessKey",
		"iam:GetAccessKeyLastUsed", "iam:SimulatePrincipalPolicy", "iam:GetUser")
	narrow := append(full, "AWS_ACCESS_KEY_ID="+id, "AWS_SECRET_ACCESS_KEY="+secret.Reveal())
	out, code = r.starterWithEnv(narrow, "validate", "--config", r.cfgPath, "--check-access")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "iam:CreateAccessKey")
	require.Contains(t, out, "missing")
	require.NotContains(t, out, secret.Reveal())

	// Plain validate stays offline: it passes with no AWS settings at all.
	out, code = r.starter("validate", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
}
