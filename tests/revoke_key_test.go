package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// revokeByKey runs `starter revoke --key ID` with the worker's AWS
// environment (the lookup signs with the rotator's credentials).
func (r *rig) revokeByKey(keyID string, args ...string) (string, int) {
	r.t.Helper()
	return r.starterWithEnv(r.emu.Env(), append([]string{"revoke", "--config", r.cfgPath, "--key", keyID}, args...)...)
}

// A leak report names a key ID and nothing else: the starter finds its
// account, user and rotation, and the running rotation (in a one-hour grace
// period) retires the key within seconds.
func TestRevokeByKeyAloneDuringGrace(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	old := r.oldKeys["ci-deployer"].ID
	t0 := time.Now()
	out, code := r.revokeByKey(old, "--reason", "key printed in build 1234")
	require.Equal(t, 0, code, out)
	t.Logf("starter revoke --key:\n%s", out)
	for _, want := range []string{
		"key " + old + ": account demo (AWS account " + r.emu.AWS.AccountID() + "), IAM user ci-deployer",
		"rotation rotate/demo/ci-deployer (running, grace",
		"targets configured to hold the key (5):",
		devstack.DemoTargets()[0].String() + ": replaced: confirmed the new key",
		"revoke sent to rotate/demo/ci-deployer",
		"accepted, the old key " + old,
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, r.oldKeys["ci-deployer"].Secret.Reveal())
	st, err := waitFor(t, r, started, 30*time.Second)
	require.NoError(t, err)
	require.Less(t, time.Since(t0), 20*time.Second)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.Len(t, st.Revocations, 1)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
	require.Equal(t, old, st.Revocations[0].AccessKeyID)
	require.Equal(t, "key printed in build 1234", st.Revocations[0].Reason)
}

// With no rotation running, --key alone starts one that revokes the key
// (update-with-start), and --now still deactivates it first.
func TestRevokeByKeyAloneWhenNothingRuns(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy()})
	old := r.oldKeys["ci-deployer"].ID
	out, code := r.revokeByKey(old, "--now", "--reason", "found in an old artifact", "--wait")
	require.Equal(t, 0, code, out)
	t.Logf("starter revoke --key --now --wait:\n%s", out)
	require.Contains(t, out, "rotation rotate/demo/ci-deployer (no rotation running: the revoke starts one)")
	require.Contains(t, out, "DONE")
	st, err := operator.Wait(context.Background(), r.client, operator.Started{WorkflowID: model.WorkflowID("demo", "ci-deployer")})
	require.NoError(t, err)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
	require.Len(t, st.Revocations, 1)
	require.Equal(t, old, st.Revocations[0].AccessKeyID)
	require.Equal(t, "now", st.Revocations[0].Mode)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
}

// A key whose user no rotation manages: reported (exit status 1, the
// --deactivate offer, nothing changed); with --deactivate it is Inactive,
// not deleted. Temporary and malformed key IDs are command-line mistakes.
func TestRevokeByKeyUnmanagedUser(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	r.emu.AWS.AddUser("legacy-bot")
	k, err := r.emu.AWS.CreateKey("legacy-bot")
	require.NoError(t, err)

	out, code := r.revokeByKey(k.ID)
	require.Equal(t, 1, code, out)
	t.Logf("starter revoke --key (unmanaged):\n%s", out)
	require.Contains(t, out, "key "+k.ID+": account demo (AWS account "+r.emu.AWS.AccountID()+"), IAM user legacy-bot")
	require.Contains(t, out, "Active, created ")
	require.Contains(t, out, "never used")
	require.Contains(t, out, "no rotation manages user legacy-bot in account demo")
	require.Contains(t, out, "starter revoke --config "+r.cfgPath+" --key "+k.ID+" --deactivate")
	require.NotContains(t, out, k.Secret.Reveal())
	require.Equal(t, model.KeyActive, r.emu.AWS.Keys("legacy-bot")[0].Status, "nothing changes without --deactivate")

	out, code = r.revokeByKey(k.ID, "--deactivate")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "deactivated "+k.ID+" of user legacy-bot in account demo")
	require.Contains(t, out, "it is not deleted")
	keys := r.emu.AWS.Keys("legacy-bot")
	require.Len(t, keys, 1)
	require.Equal(t, k.ID, keys[0].ID)
	require.Equal(t, model.KeyInactive, keys[0].Status)

	out, code = r.revokeByKey("ASIA" + strings.Repeat("A", 16))
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "temporary access key ID")
	out, code = r.revokeByKey("AKIA123")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "not an access key ID")
}
