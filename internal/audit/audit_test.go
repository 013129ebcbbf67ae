package audit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	day       = 24 * time.Hour
	stageRole = "arn:aws:iam::210987654321:role/keyrotor"
)

// now is the emulators' clock during the audit: the real time, not a fixed
// date, because an assumed role's session expires by the emulator's clock
// (15 minutes after now) while the SDK checks it against the real one. A
// fixed date made the stage account's credentials expired from a quarter
// of an hour after it, and every call assumed the role again.
var now = time.Now().UTC().Truncate(time.Second)

// clock is the emulators' clock: keys are created "in the past" by
// setting it back.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// account is one emulated AWS account served over HTTP, reached with the
// real SDK.
type account struct {
	emu *awsemu.Emulator
	url string
	cfg aws.Config // the rotator's credentials, the role assumed when roleARN is set
}

func newAccount(t *testing.T, c *clock, id, roleARN string) *account {
	t.Helper()
	emu := awsemu.New(awsemu.WithClock(c.now), awsemu.WithAccountID(id))
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	keyID, secret := emu.AddAdmin()
	cfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret.Reveal(), ""),
		// Only the audit's own retries: the tests count every call.
		Retryer: func() aws.Retryer { return aws.NopRetryer{} },
	}
	if roleARN != "" {
		emu.AddRole(roleARN)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN))
	}
	return &account{emu: emu, url: srv.URL, cfg: cfg}
}

// key seeds a key for user created at created, last used at used (never
// when zero), with status.
func (a *account) key(t *testing.T, c *clock, user string, created, used time.Time, status string) string {
	t.Helper()
	a.emu.AddUser(user)
	c.set(created)
	k, err := a.emu.CreateKey(user)
	require.NoError(t, err)
	c.set(now)
	if !used.IsZero() {
		a.emu.MarkUsed(k.ID, used)
	}
	require.NoError(t, a.emu.SetKeyStatus(k.ID, status))
	return k.ID
}

const testConfig = `policy:
  every: 90d
accounts:
  - name: prod
    region: us-east-1
  - name: stage
    region: eu-west-1
    roleArn: ` + stageRole + `
github:
  token: t
rotations:
  - user: ci-deployer
    account: prod
    policy: {every: 30d}
    targets: [{github: {repository: acme/api}}]
  - user: Deploy-Stage
    account: stage
    policy: {every: 7d}
    targets: [{github: {repository: acme/web}}]
`

// world is two accounts: prod (the rotator's own) and stage (through a
// role), with managed and unmanaged users, old, unused, never used and
// inactive keys.
type world struct {
	cfg         *config.Config
	prod, stage *account
	keys        map[string]string // by name
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := &clock{t: now}
	cfg, err := config.Parse("keyrotor.yaml", []byte(testConfig), nil)
	require.NoError(t, err)
	w := &world{cfg: cfg, prod: newAccount(t, c, "123456789012", ""), stage: newAccount(t, c, "210987654321", stageRole), keys: map[string]string{}}
	// prod: the rotator's own admin user has a key too (used by every call).
	w.keys["managed"] = w.prod.key(t, c, "ci-deployer", now.Add(-10*day), now.Add(-time.Hour), model.KeyActive)
	w.keys["old"] = w.prod.key(t, c, "legacy", now.Add(-400*day), now.Add(-2*day), model.KeyActive)
	w.keys["unused"] = w.prod.key(t, c, "idle", now.Add(-60*day), now.Add(-50*day), model.KeyActive)
	w.keys["never"] = w.prod.key(t, c, "never-used", now.Add(-40*day), time.Time{}, model.KeyActive)
	w.keys["new"] = w.prod.key(t, c, "never-used", now.Add(-5*day), time.Time{}, model.KeyActive)
	w.keys["inactive"] = w.prod.key(t, c, "retired", now.Add(-200*day), now.Add(-199*day), model.KeyInactive)
	w.prod.emu.AddUser("no-keys")
	// stage: the managed user's policy is 7 days; its key is 10 days old.
	w.keys["stage"] = w.stage.key(t, c, "deploy-stage", now.Add(-10*day), now.Add(-day), model.KeyActive)
	return w
}

func (w *world) clients() Clients {
	return func(_ context.Context, account string) (IAM, error) {
		switch account {
		case "prod":
			return iam.NewFromConfig(w.prod.cfg), nil
		case "stage":
			return iam.NewFromConfig(w.stage.cfg), nil
		}
		return nil, fmt.Errorf("no account %s", account)
	}
}

func (w *world) run(t *testing.T, o Options) *Report {
	t.Helper()
	o.Now = now
	r, err := Run(context.Background(), w.cfg, w.clients(), o)
	require.NoError(t, err)
	return r
}

func byKey(r *Report) map[string]Key {
	out := map[string]Key{}
	for _, k := range r.Keys {
		out[k.AccessKeyID] = k
	}
	return out
}

func TestAuditTwoAccounts(t *testing.T) {
	w := newWorld(t)
	w.prod.emu.Faults.ResetCalls()
	w.stage.emu.Faults.ResetCalls()
	r := w.run(t, Options{UnusedFor: DefaultUnusedFor})
	require.Empty(t, r.Problems)
	require.Equal(t, []string{"prod", "stage"}, r.Accounts)

	var order []string
	for _, k := range r.Keys {
		order = append(order, k.Account+"/"+k.User)
	}
	require.Equal(t, []string{"prod/ci-deployer", "prod/idle", "prod/keyrotor-admin", "prod/legacy",
		"prod/never-used", "prod/never-used", "prod/retired", "stage/deploy-stage", "stage/keyrotor-admin"}, order,
		"sorted by account and user, oldest key first; users without keys left out")

	keys := byKey(r)
	managed := keys[w.keys["managed"]]
	require.True(t, managed.Managed)
	require.Equal(t, "rotate/prod/ci-deployer", managed.Rotation)
	require.Equal(t, int64(30*day/time.Second), managed.MaxAgeSeconds, "a managed key's limit is its rotation's every")
	require.Equal(t, int64(10*day/time.Second), managed.AgeSeconds)
	require.Equal(t, now.Add(-time.Hour), *managed.LastUsedAt)
	require.Equal(t, "s3", managed.LastUsedService)
	require.Equal(t, "us-east-1", managed.LastUsedRegion)
	require.False(t, managed.BreaksPolicy)

	old := keys[w.keys["old"]]
	require.False(t, old.Managed)
	require.Empty(t, old.Rotation)
	require.Equal(t, int64(90*day/time.Second), old.MaxAgeSeconds, "an unmanaged key's limit is the file's every")
	require.True(t, old.TooOld)
	require.False(t, old.Unused)

	unused := keys[w.keys["unused"]]
	require.True(t, unused.Unused)
	require.False(t, unused.TooOld)

	never := keys[w.keys["never"]]
	require.Nil(t, never.LastUsedAt)
	require.True(t, never.LastUsedKnown)
	require.True(t, never.Unused, "never used in the 40 days since its creation")
	require.False(t, keys[w.keys["new"]].BreaksPolicy, "never used, but only 5 days old")

	inactive := keys[w.keys["inactive"]]
	require.Equal(t, model.KeyInactive, inactive.Status)
	require.False(t, inactive.BreaksPolicy, "an inactive key is listed, never flagged")

	stage := keys[w.keys["stage"]]
	require.Equal(t, "stage", stage.Account)
	require.Equal(t, "deploy-stage", stage.User, "the name as IAM has it")
	require.Equal(t, "rotate/stage/Deploy-Stage", stage.Rotation, "the rotation's workflow ID, as configured")
	require.True(t, stage.TooOld, "10 days old under a 7-day policy")

	require.Equal(t, 4, r.Breaches)

	// Calls: one ListUsers per account (one page), one ListAccessKeys per
	// user, one GetAccessKeyLastUsed per key; nothing that writes.
	calls := w.prod.emu.Faults.Calls()
	require.Equal(t, map[string]int{"ListUsers": 1, "ListAccessKeys": 7, "GetAccessKeyLastUsed": 7}, calls)
	calls = w.stage.emu.Faults.Calls()
	require.Equal(t, map[string]int{"AssumeRole": 1, "ListUsers": 1, "ListAccessKeys": 2, "GetAccessKeyLastUsed": 2}, calls)

	oldest := r.OldestActive()
	require.Equal(t, now.Add(-400*day), oldest["prod"], "the inactive key does not count")
	require.Equal(t, now.Add(-10*day), oldest["stage"])
}

func TestAuditMaxAgeAndUnusedFor(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, Options{Accounts: []string{"prod"}, MaxAge: 500 * day, UnusedFor: 0})
	require.Equal(t, []string{"prod"}, r.Accounts)
	for _, k := range r.Keys {
		require.Equal(t, "prod", k.Account)
		require.Equal(t, int64(500*day/time.Second), k.MaxAgeSeconds)
		require.False(t, k.BreaksPolicy, "%s: nothing is older than 500d, and unused keys are not checked", k.User)
	}
	r = w.run(t, Options{Accounts: []string{"prod"}, MaxAge: 45 * day, UnusedFor: 45 * day})
	keys := byKey(r)
	require.True(t, keys[w.keys["unused"]].Unused, "unused for 50 days")
	require.True(t, keys[w.keys["unused"]].TooOld, "60 days old")
	require.False(t, keys[w.keys["never"]].BreaksPolicy, "40 days old, never used: under both limits")

	_, err := Run(context.Background(), w.cfg, w.clients(), Options{Accounts: []string{"nope"}})
	require.ErrorContains(t, err, `unknown account "nope"; configured accounts: prod, stage`)
}

// Only creation dates: one ListAccessKeys per user, no GetAccessKeyLastUsed
// (the worker's key-age gauge). ListUsers pages through.
func TestAuditCreationDatesOnlyAndPages(t *testing.T) {
	w := newWorld(t)
	w.prod.emu.Faults.ResetCalls()
	r := w.run(t, Options{Accounts: []string{"prod"}, SkipLastUsed: true, UnusedFor: DefaultUnusedFor, pageSize: 2})
	require.Empty(t, r.Problems)
	require.Len(t, r.Keys, 7)
	for _, k := range r.Keys {
		require.False(t, k.LastUsedKnown)
		require.False(t, k.Unused, "unknown last use is not judged")
	}
	require.Equal(t, map[string]int{"ListUsers": 4, "ListAccessKeys": 7}, w.prod.emu.Faults.Calls(), "8 users in pages of 2")
}

func TestAuditRetriesThrottling(t *testing.T) {
	w := newWorld(t)
	w.prod.emu.Faults.Add(faults.Rule{Op: "ListAccessKeys", Status: http.StatusTooManyRequests, Times: 3})
	w.prod.emu.Faults.Add(faults.Rule{Op: "ListUsers", Status: http.StatusTooManyRequests, Times: 1})
	var waits []time.Duration
	throttles := 0
	r := w.run(t, Options{Accounts: []string{"prod"}, OnThrottle: func() { throttles++ },
		Retry: Retry{Tries: 4, Initial: time.Second, Max: 4 * time.Second},
		sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	require.Empty(t, r.Problems)
	require.Len(t, r.Keys, 7)
	require.Equal(t, 4, throttles)
	require.Len(t, waits, 4)
	for _, d := range waits[:1] {
		require.True(t, d >= 500*time.Millisecond && d <= time.Second, "first wait %s", d)
	}

	// Throttled on every try: the problem names the account, user and action.
	w.prod.emu.Faults.Add(faults.Rule{Op: "ListAccessKeys", Status: http.StatusTooManyRequests})
	r = w.run(t, Options{Accounts: []string{"prod"}, Retry: Retry{Tries: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	require.Len(t, r.Problems, 7, "one per user")
	require.Equal(t, "account prod, user ci-deployer: iam:ListAccessKeys: still throttled after 2 tries: Throttling: Rate exceeded", r.Problems[0].String())
}

// A refused call is a problem naming the account, the user or key and the
// action; the rest of the audit goes on.
func TestAuditDenied(t *testing.T) {
	w := newWorld(t)
	// In prod the rotator may list keys only under /keyrotor/ and may not
	// list users at all; in stage the role is not there.
	id, secret := w.prod.emu.AddPrincipalWithPolicy("narrow", awsemu.Statement{
		Actions: []string{"iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"}, Resources: []string{"arn:aws:iam::123456789012:user/keyrotor/*"},
	})
	w.prod.cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")
	r := w.run(t, Options{Accounts: []string{"prod"}})
	require.Empty(t, r.Keys)
	require.Len(t, r.Problems, 1)
	p := r.Problems[0]
	require.Equal(t, "prod", p.Account)
	require.Equal(t, ActionListUsers, p.Action)
	require.Contains(t, p.String(), "account prod: iam:ListUsers: AccessDenied: User: arn:aws:iam::123456789012:user/narrow is not authorized to perform: iam:ListUsers on resource: *")
	require.Error(t, r.Err())
	_, ok := r.OldestActive()["prod"]
	require.False(t, ok, "an account with a problem has no oldest key")

	// ListUsers allowed, the rest only under /keyrotor/: every user's
	// ListAccessKeys is refused, each named.
	id, secret = w.prod.emu.AddPrincipalWithPolicy("lister",
		awsemu.Statement{Actions: []string{"iam:ListUsers"}},
		awsemu.Statement{Actions: []string{"iam:ListAccessKeys"}, Resources: []string{"arn:aws:iam::123456789012:user/keyrotor/*"}})
	w.prod.cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")
	r = w.run(t, Options{Accounts: []string{"prod"}})
	require.Empty(t, r.Keys)
	require.NotEmpty(t, r.Problems)
	require.True(t, strings.HasPrefix(r.Problems[0].String(), "account prod, user ci-deployer: iam:ListAccessKeys: AccessDenied: "), r.Problems[0].String())

	// A role that cannot be assumed: one problem for the account.
	w.stage.cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(w.stage.cfg), "arn:aws:iam::210987654321:role/missing"))
	r = w.run(t, Options{Accounts: []string{"stage"}})
	require.Len(t, r.Problems, 1)
	require.Equal(t, actionAssumeRole, r.Problems[0].Action)
	require.Contains(t, r.Problems[0].String(), "account stage: sts:AssumeRole: cannot assume "+stageRole)
}
