package tests

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/audit"
)

// starter audit against the IAM emulator: exit status 0 while every key
// keeps the policy, 1 once an unmanaged user's key is older than it, 0
// again with a longer --max-age; 2 for usage errors. The JSON and the table
// name each key's user, account, age, last use and rotation, and no output
// holds a secret.
func TestAuditCommand(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	audited := func(args ...string) (*audit.Report, string, int) {
		t.Helper()
		out, code := r.starterWithEnv(r.emu.Env(), append([]string{"audit", "--config", r.cfgPath, "--output", "json"}, args...)...)
		var rep audit.Report
		start := strings.Index(out, "{\n")
		require.GreaterOrEqual(t, start, 0, out)
		require.NoError(t, json.NewDecoder(strings.NewReader(out[start:])).Decode(&rep), out)
		return &rep, out, code
	}

	rep, out, code := audited()
	require.Equal(t, 0, code, out)
	require.Equal(t, []string{"demo"}, rep.Accounts)
	require.Empty(t, rep.Problems)
	var managed *audit.Key
	for i, k := range rep.Keys {
		if k.User == "ci-deployer" {
			managed = &rep.Keys[i]
		}
	}
	require.NotNil(t, managed, out)
	require.Equal(t, r.oldKeys["ci-deployer"].ID, managed.AccessKeyID)
	require.Equal(t, "rotate/demo/ci-deployer", managed.Rotation)
	require.True(t, managed.LastUsedKnown)
	require.Nil(t, managed.LastUsedAt, "never used yet")
	require.Equal(t, int64(fastPolicy().Every/time.Second), managed.MaxAgeSeconds)

	// Someone made a key for a user keyrotor does not rotate 400 days ago;
	// a pipeline used it an hour ago.
	r.emu.AWS.AddUser("legacy")
	legacy, err := r.emu.AWS.CreateKey("legacy")
	require.NoError(t, err)
	require.NoError(t, r.emu.AWS.SetKeyCreated(legacy.ID, time.Now().Add(-400*24*time.Hour)))
	r.emu.AWS.MarkUsed(legacy.ID, time.Now().Add(-time.Hour))

	rep, out, code = audited("--account", "demo")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "starter audit: 1 of 3 keys break the policy")
	require.Equal(t, 1, rep.Breaches)
	var old audit.Key
	for _, k := range rep.Keys {
		if k.AccessKeyID == legacy.ID {
			old = k
		}
	}
	require.Equal(t, "legacy", old.User)
	require.False(t, old.Managed)
	require.True(t, old.TooOld)
	require.False(t, old.Unused)
	require.Equal(t, "s3", old.LastUsedService)
	require.GreaterOrEqual(t, old.AgeSeconds, int64(400*24*3600))

	table, code := r.starterWithEnv(r.emu.Env(), "audit", "--config", r.cfgPath)
	require.Equal(t, 1, code, table)
	require.Regexp(t, `demo\s+legacy\s+`+legacy.ID+`\s+Active\s+400d\s+\d{4}-\d\d-\d\d s3 us-east-1\s+unmanaged\s+older than 30d`, table)
	require.Regexp(t, `demo\s+ci-deployer\s+\S+\s+Active\s+0m\s+never\s+rotate/demo/ci-deployer\s+ok`, table)

	csv, code := r.starterWithEnv(r.emu.Env(), "audit", "--config", r.cfgPath, "--output", "csv", "--max-age", "500d")
	require.Equal(t, 0, code, csv)
	require.Contains(t, csv, "demo,legacy,"+legacy.ID+",Active,")

	for _, args := range [][]string{
		{"--output", "xml"}, {"--account", "nope"}, {"--max-age", "soon"}, {"--unused-for", "-1d"}, {"extra"},
	} {
		out, code := r.starterWithEnv(r.emu.Env(), append([]string{"audit", "--config", r.cfgPath}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, out)
	}
	out, code = r.starterWithEnv(r.emu.Env(), "audit", "--help")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "--unused-for")

	requireNoSecrets(t, "the audit's output", table+out+csv, map[string]string{
		"managed user's secret": r.oldKeys["ci-deployer"].Secret.Reveal(),
		"legacy secret":         legacy.Secret.Reveal(),
		"rotator's AWS secret":  r.emu.AdminSecret.Reveal(),
	})
}

// The worker binary audits every account each --audit-every and serves
// the oldest active key of any user per account.
func TestAuditMetric(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	r.emu.AWS.AddUser("legacy")
	legacy, err := r.emu.AWS.CreateKey("legacy")
	require.NoError(t, err)
	require.NoError(t, r.emu.AWS.SetKeyCreated(legacy.ID, time.Now().Add(-400*24*time.Hour)))

	worker, logPath := r.metricsWorker(nil, "--audit-every", "500ms")
	base := metricsBase(t, logPath)
	demo := map[string]string{"account": "demo"}
	var age float64
	require.Eventually(t, func() bool {
		var ok bool
		age, ok = metricValue(scrape(t, base), "keyrotor_account_oldest_key_age_seconds", demo)
		return ok
	}, time.Minute, 100*time.Millisecond, "the account's oldest key never showed")
	require.InDelta(t, 400*24*3600, age, 120)

	// The key is deactivated: the next audit sees the managed user's key.
	require.NoError(t, r.emu.AWS.SetKeyStatus(legacy.ID, "Inactive"))
	require.Eventually(t, func() bool {
		age, _ = metricValue(scrape(t, base), "keyrotor_account_oldest_key_age_seconds", demo)
		return age < 3600
	}, time.Minute, 100*time.Millisecond, "the inactive key still counts")
	require.NoError(t, worker.Process.Signal(syscall.SIGTERM))
	require.NoError(t, worker.Wait())
}
