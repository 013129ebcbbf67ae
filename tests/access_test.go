package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
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
	require.Contains(t, out, "ok       ci-deployer in demo: github acme/api: read the Actions secrets public key")
	require.Contains(t, out, "ok       ci-deployer in demo: gitlab group acme: listed the CI/CD variables")
	require.Contains(t, out, "target access: OK")

	id, secret := r.emu.AWS.AddPrincipal("keyrotor-narrow", "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:DeleteAccessKey",
		"iam:GetAccessKeyLastUsed", "iam:SimulatePrincipalPolicy", "iam:GetUser")
	narrow := append(full, "AWS_ACCESS_KEY_ID="+id, "AWS_SECRET_ACCESS_KEY="+secret.Reveal())
	out, code = r.starterWithEnv(narrow, "validate", "--config", r.cfgPath, "--check-access")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "iam:CreateAccessKey")
	require.Contains(t, out, "missing")
	require.NotContains(t, out, secret.Reveal())

	// A target the token cannot reach is named, with what it needs.
	gone := model.Target{Kind: model.GitHubRepository, Repository: "acme/gone"}
	r2 := newRig(t, rigOptions{noStart: true, users: map[string][]model.Target{"ci-deployer": {gone, devstack.DemoTargets()[3]}}, noSeed: []model.Target{gone}})
	out, code = r2.starterWithEnv(r2.emu.Env(), "validate", "--config", r2.cfgPath, "--check-access")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "MISSING  ci-deployer in demo: github acme/gone: cannot read the Actions secrets public key: 404 Not Found")
	require.Contains(t, out, "target access: 1 of 2 targets cannot be written")
	require.NotContains(t, out, r2.emu.GitHubToken.Reveal())

	// An account reached through a role whose trust policy does not name
	// the caller: the role and the account are named.
	r3 := newRig(t, rigOptions{noStart: true, users: map[string][]model.Target{"ci-ops": {devstack.DemoTargets()[3]}},
		userAccounts: map[string]string{"ci-ops": "ops"}})
	out, code = r3.starterWithEnv(r3.emu.Env(), "validate", "--config", r3.cfgPath, "--check-access")
	require.Equal(t, 0, code, "the rotator's own identity is trusted: %s", out)
	id, secret = r3.emu.AWS.AddPrincipal("keyrotor-untrusted", "*")
	untrusted := append(r3.emu.Env(), "AWS_ACCESS_KEY_ID="+id, "AWS_SECRET_ACCESS_KEY="+secret.Reveal())
	out, code = r3.starterWithEnv(untrusted, "validate", "--config", r3.cfgPath, "--check-access")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "account ops: cannot assume "+r3.cfg.Accounts[1].RoleARN+": AccessDenied: User: "+
		r3.emu.AWS.UserARN("keyrotor-untrusted")+" is not authorized to perform: sts:AssumeRole")

	// Plain validate stays offline: it passes with no AWS settings at all.
	out, code = r.starter("validate", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
}
