package tests

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/preflight"
)

// requireNoRotationStarted checks that the dry run started no workflow: the
// rotation's workflow ID is unknown to the server.
func requireNoRotationStarted(t *testing.T, r *rig, account, user string) {
	t.Helper()
	_, err := r.client.DescribeWorkflowExecution(context.Background(), model.WorkflowID(account, user), "")
	var nf *serviceerror.NotFound
	require.True(t, errors.As(err, &nf), "%s should not exist: %v", model.WorkflowID(account, user), err)
}

// requireOnlyOldKey checks that the dry run created no key: the user still
// holds exactly the key it was seeded with.
func requireOnlyOldKey(t *testing.T, r *rig, user string) {
	t.Helper()
	keys := r.emu.AWS.Keys(user)
	require.Len(t, keys, 1, "%s's keys: %+v", user, keys)
	require.Equal(t, r.oldKeys[user].ID, keys[0].ID)
	require.Equal(t, "Active", keys[0].Status)
}

// requireNoSecretsInDryRun checks that the output quotes no key or token.
func requireNoSecretsInDryRun(t *testing.T, r *rig, out string) {
	t.Helper()
	for user, k := range r.oldKeys {
		require.NotContains(t, out, k.Secret.Reveal(), user)
	}
	require.NotContains(t, out, r.emu.AdminSecret.Reveal())
	require.NotContains(t, out, r.emu.GitHubToken.Reveal())
	require.NotContains(t, out, r.emu.GitLabToken.Reveal())
}

// rotate --dry-run shows, per target, what would be written where and how
// it would be confirmed, checks every permission harmlessly, and changes
// nothing: no key is created and no workflow started.
func TestDryRun(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	requireNoRotationStarted(t, r, "demo", "ci-deployer")

	out, code := r.starterWithEnv(r.emu.Env(), "rotate", "--config", r.cfgPath, "--dry-run", "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	for _, want := range []string{
		"dry run: ci-deployer in demo (would start rotate/demo/ci-deployer; nothing created, nothing started)",
		"secret names: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
		"ok       iam:CreateAccessKey",
		"ok       iam:ListAccessKeys",
		"targets (5):",
		"ok       github acme/api (github-repository)\n" +
			"             writes:    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (repository Actions secrets)\n" +
			"             confirmed: metadata (updated_at)\n" +
			"             access:    read the Actions secrets public key\n",
		"ok       github acme/api@production (github-environment)",
		"ok       github org acme (github-organization)",
		"visibility selected: shared with api, web",
		"ok       gitlab acme/api@production (gitlab-project)\n" +
			"             writes:    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (project CI/CD variables; environment scope production, protected, masked)\n" +
			"             confirmed: read back\n" +
			"             access:    listed the CI/CD variables\n",
		"ok       gitlab group acme (gitlab-group)",
		"result: OK",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "MISSING")
	requireNoSecretsInDryRun(t, r, out)

	out, code = r.starterWithEnv(r.emu.Env(), "rotate", "--config", r.cfgPath, "--dry-run", "--user", "ci-deployer", "--output", "json")
	require.Equal(t, 0, code, out)
	var rep struct {
		OK      bool               `json:"ok"`
		Missing []string           `json:"missing"`
		Users   []preflight.DryRun `json:"users"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.True(t, rep.OK, out)
	require.Empty(t, rep.Missing)
	require.Len(t, rep.Users, 1)
	u := rep.Users[0]
	require.Equal(t, "rotate/demo/ci-deployer", u.WorkflowID)
	require.Empty(t, u.Missing())
	require.Len(t, u.Targets, len(devstack.DemoTargets()))
	for _, tg := range u.Targets {
		require.True(t, tg.Access.OK, "%+v", tg)
		require.Equal(t, model.DefaultSecretNames, tg.Names, tg.Target)
		require.NotEmpty(t, tg.ConfirmedBy, tg.Target)
	}
	requireNoSecretsInDryRun(t, r, out)

	requireOnlyOldKey(t, r, "ci-deployer")
	requireNoRotationStarted(t, r, "demo", "ci-deployer")
}

// A target the worker cannot reach (404) fails the dry run, named with
// what it needs; the others are still planned.
func TestDryRunMissingTarget(t *testing.T) {
	gone := model.Target{Kind: model.GitHubRepository, Repository: "acme/gone"}
	r := newRig(t, rigOptions{noStart: true, users: map[string][]model.Target{"ci-deployer": {gone, devstack.DemoTargets()[3]}}, noSeed: []model.Target{gone}})
	out, code := r.starterWithEnv(r.emu.Env(), "rotate", "--config", r.cfgPath, "--dry-run", "--user", "ci-deployer")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "MISSING  github acme/gone (github-repository)")
	require.Contains(t, out, "access:    cannot read the Actions secrets public key: 404 Not Found")
	require.Contains(t, out, "ok       gitlab acme/api@production (gitlab-project)")
	require.Contains(t, out, "result: 1 problem(s), the rotation would fail:\n    - target github acme/gone: cannot read the Actions secrets public key: 404 Not Found")
	require.Contains(t, out, "dry run: 1 problem(s) would stop 1 of 1 rotation(s)")
	requireNoSecretsInDryRun(t, r, out)
	requireOnlyOldKey(t, r, "ci-deployer")
	requireNoRotationStarted(t, r, "demo", "ci-deployer")
}

// rotate --dry-run --all plans every user, a block each, across accounts;
// --account narrows it to one account's users.
func TestDryRunAll(t *testing.T) {
	users := map[string][]model.Target{
		"ci-deployer": devstack.DemoTargets(),
		"web-deployer": {
			{Kind: model.GitHubRepository, Repository: "acme/web"},
		},
	}
	r := newRig(t, rigOptions{noStart: true, users: users, userAccounts: map[string]string{"web-deployer": "ops"}})
	out, code := r.starterWithEnv(r.emu.Env(), "rotate", "--config", r.cfgPath, "--dry-run", "--all")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "dry run: ci-deployer in demo (would start rotate/demo/ci-deployer;")
	require.Contains(t, out, "dry run: web-deployer in ops (would start rotate/ops/web-deployer;")
	require.Contains(t, out, "ok       github acme/web (github-repository)")
	require.Equal(t, 2, strings.Count(out, "result: OK"), out)
	requireNoSecretsInDryRun(t, r, out)

	out, code = r.starterWithEnv(r.emu.Env(), "rotate", "--config", r.cfgPath, "--dry-run", "--all", "--account", "ops")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "dry run: web-deployer in ops")
	require.NotContains(t, out, "ci-deployer")

	for user, account := range map[string]string{"ci-deployer": "demo", "web-deployer": "ops"} {
		requireOnlyOldKey(t, r, user)
		requireNoRotationStarted(t, r, account, user)
	}
}
