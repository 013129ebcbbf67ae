package activities

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	iamTestAccount = "prod"
	iamTestUser    = "ci"
)

// iamTestRotations is the worker configuration of the IAM tests: user "ci"
// in "prod" and in "staging" (an account the clients do not know), and
// "nobody" in "prod" (a user IAM does not know). "intruder" exists in IAM
// but is not configured.
var iamTestRotations = testRotations{
	{Account: iamTestAccount, User: iamTestUser},
	{Account: "staging", User: iamTestUser},
	{Account: iamTestAccount, User: "nobody"},
}

// iamTestClock is a settable clock for the emulator.
type iamTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *iamTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *iamTestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// iamEnv is one emulated account with user "ci", and the activities wired
// to it through clients.NewAWS with the emulator's admin credentials.
type iamEnv struct {
	emu   *awsemu.Emulator
	clock *iamTestClock
	url   string
	act   *IAM
}

func newIAMEnv(t *testing.T) *iamEnv {
	t.Helper()
	clock := &iamTestClock{t: time.Now().UTC().Truncate(time.Second)}
	emu := awsemu.New(awsemu.WithClock(clock.Now))
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	emu.AddUser(iamTestUser)
	id, secret := emu.AddAdmin()
	env := &iamEnv{emu: emu, clock: clock, url: srv.URL}
	env.act = NewIAM(env.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount, Region: "eu-west-1"}), testSealer(), iamTestRotations)
	return env
}

// clientsFor builds the production client factory against the emulator,
// signing with the given credentials and ignoring the developer's ~/.aws.
func (e *iamEnv) clientsFor(t *testing.T, id string, secret model.Secret, accounts ...clients.AWSAccount) *clients.AWS {
	t.Helper()
	c, err := clients.NewAWS(context.Background(), accounts,
		config.WithBaseEndpoint(e.url),
		config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *iamEnv) seedKey(t *testing.T, status string) model.NewAccessKey {
	t.Helper()
	k, err := e.emu.CreateKey(iamTestUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.emu.SetKeyStatus(k.ID, status); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // distinct creation times
	return k
}

func (e *iamEnv) keyIDs() []string {
	var ids []string
	for _, k := range e.emu.Keys(iamTestUser) {
		ids = append(ids, k.ID+"/"+k.Status)
	}
	return ids
}

func (e *iamEnv) keyInput(id string) KeyInput {
	return KeyInput{Account: iamTestAccount, User: iamTestUser, AccessKeyID: id}
}

// iamAppError asserts err is an application error of the given type and retryability.
func iamAppError(t *testing.T, err error, wantType string, wantNonRetryable bool) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want application error %s", err, wantType)
	}
	if ae.Type() != wantType || ae.NonRetryable() != wantNonRetryable {
		t.Fatalf("error type %q non-retryable %v (%v), want %q %v", ae.Type(), ae.NonRetryable(), err, wantType, wantNonRetryable)
	}
	return ae
}

// iamNoSecret asserts no secret shows up in an error.
func iamNoSecret(t *testing.T, err error, secrets ...model.Secret) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s.Reveal() != "" && strings.Contains(err.Error(), s.Reveal()) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}

func TestIAMInspectKeys(t *testing.T) {
	tests := []struct {
		name        string
		seed        []string // statuses of the keys to seed, oldest first
		user        string
		account     string
		wantActive  int // index into seed, -1 for none
		wantDeleted []int
		wantErr     string
	}{
		{name: "no key", wantActive: -1},
		{name: "one active key", seed: []string{model.KeyActive}, wantActive: 0},
		{name: "inactive leftover deleted", seed: []string{model.KeyInactive, model.KeyActive}, wantActive: 1, wantDeleted: []int{0}},
		{name: "only inactive keys", seed: []string{model.KeyInactive, model.KeyInactive}, wantActive: -1, wantDeleted: []int{0, 1}},
		{name: "two active keys refused", seed: []string{model.KeyActive, model.KeyActive}, wantErr: TypeTwoActiveKeys},
		{name: "unknown user", user: "nobody", wantErr: TypeNoSuchEntity},
		{name: "unknown account", account: "staging", wantErr: TypeValidation},
		{name: "user not configured", user: "intruder", wantErr: TypeNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIAMEnv(t)
			var seeded []model.NewAccessKey
			for _, s := range tt.seed {
				seeded = append(seeded, env.seedKey(t, s))
			}
			before := env.keyIDs()
			in := InspectKeysInput{Account: iamTestAccount, User: iamTestUser}
			if tt.user != "" {
				in.User = tt.user
			}
			if tt.account != "" {
				in.Account = tt.account
			}
			res, err := env.act.InspectKeys(context.Background(), in)
			if tt.wantErr != "" {
				ae := iamAppError(t, err, tt.wantErr, true)
				for _, k := range seeded {
					if !strings.Contains(ae.Error(), k.ID) {
						t.Errorf("error %q does not name key %s", ae.Error(), k.ID)
					}
				}
				if after := env.keyIDs(); !slices.Equal(before, after) {
					t.Errorf("keys changed: %v → %v", before, after)
				}
				if n := env.emu.Faults.Calls()["DeleteAccessKey"]; n != 0 {
					t.Errorf("%d DeleteAccessKey calls on a refused inspection", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantActive < 0 && res.ActiveKey != nil {
				t.Errorf("ActiveKey = %+v, want none", res.ActiveKey)
			}
			if tt.wantActive >= 0 && (res.ActiveKey == nil || res.ActiveKey.ID != seeded[tt.wantActive].ID || res.ActiveKey.Status != model.KeyActive) {
				t.Errorf("ActiveKey = %+v, want %s", res.ActiveKey, seeded[tt.wantActive].ID)
			}
			var wantDeleted []string
			for _, i := range tt.wantDeleted {
				wantDeleted = append(wantDeleted, seeded[i].ID)
			}
			if !slices.Equal(res.DeletedInactive, wantDeleted) {
				t.Errorf("DeletedInactive = %v, want %v", res.DeletedInactive, wantDeleted)
			}
			if n := len(env.emu.Keys(iamTestUser)); n != len(tt.seed)-len(wantDeleted) {
				t.Errorf("%d keys left", n)
			}
		})
	}
}

// iamSeed is a key seeded before CreateAccessKey runs.
type iamSeed struct {
	status string
	known  bool // in KnownKeyIDs
	used   bool // used once since its creation
}

func TestIAMCreateAccessKey(t *testing.T) {
	active, inactive := model.KeyActive, model.KeyInactive
	tests := []struct {
		name string
		seed []iamSeed // oldest first, one minute apart
		// notBefore is the index of the first seeded key created at or
		// after NotBefore (len(seed): all are older); -1 for a zero NotBefore.
		notBefore int
		wantStray []int
		wantErr   string
		wantNamed int // for ForeignKey: the index of the key the error names
	}{
		{name: "first key", notBefore: 0},
		{name: "next to the active key", seed: []iamSeed{{active, true, true}}, notBefore: 1},
		{name: "stray from a lost attempt deleted", seed: []iamSeed{{active, true, true}, {active, false, false}}, notBefore: 1, wantStray: []int{1}},
		{name: "inactive stray deleted", seed: []iamSeed{{active, true, true}, {inactive, false, false}}, notBefore: 1, wantStray: []int{1}},
		{name: "out-of-band key made before the step refused", seed: []iamSeed{{active, true, true}, {active, false, false}}, notBefore: 2, wantErr: TypeForeignKey, wantNamed: 1},
		{name: "unknown key made after the step but used refused", seed: []iamSeed{{active, true, true}, {active, false, true}}, notBefore: 1, wantErr: TypeForeignKey, wantNamed: 1},
		{name: "no NotBefore: no unknown key deleted", seed: []iamSeed{{active, true, true}, {active, false, false}}, notBefore: -1, wantErr: TypeForeignKey, wantNamed: 1},
		{name: "a foreign key protects a stray too", seed: []iamSeed{{active, false, true}, {active, false, false}}, notBefore: 1, wantErr: TypeForeignKey, wantNamed: 0},
		{name: "two known keys", seed: []iamSeed{{active, true, true}, {inactive, true, false}}, notBefore: 2, wantErr: TypeKeyLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIAMEnv(t)
			in := CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser}
			var seeded []model.NewAccessKey
			for i, sd := range tt.seed {
				if i == tt.notBefore {
					in.NotBefore = env.clock.Now()
				}
				k := env.seedKey(t, sd.status)
				if sd.used {
					env.emu.MarkUsed(k.ID, env.clock.Now())
				}
				if sd.known {
					in.KnownKeyIDs = append(in.KnownKeyIDs, k.ID)
				}
				seeded = append(seeded, k)
			}
			if tt.notBefore == len(tt.seed) {
				in.NotBefore = env.clock.Now()
			}
			before := env.keyIDs()
			res, err := env.act.CreateAccessKey(context.Background(), in)
			if tt.wantErr != "" {
				ae := iamAppError(t, err, tt.wantErr, true)
				calls := env.emu.Faults.Calls()
				if calls["CreateAccessKey"] != 0 || calls["DeleteAccessKey"] != 0 {
					t.Errorf("calls %v on a refused create", calls)
				}
				if after := env.keyIDs(); !slices.Equal(before, after) {
					t.Errorf("keys changed: %v → %v", before, after)
				}
				if tt.wantErr == TypeForeignKey {
					named := seeded[tt.wantNamed]
					for _, want := range []string{named.ID, `"` + iamTestUser + `"`, `"` + iamTestAccount + `"`, "nothing was deleted", "rotate again",
						env.emu.Keys(iamTestUser)[tt.wantNamed].CreatedAt.Format(time.RFC3339)} {
						if !strings.Contains(ae.Error(), want) {
							t.Errorf("error %q does not say %q", ae.Error(), want)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var wantStray []string
			for _, i := range tt.wantStray {
				wantStray = append(wantStray, seeded[i].ID)
			}
			if !slices.Equal(res.DeletedStray, wantStray) {
				t.Errorf("DeletedStray = %v, want %v", res.DeletedStray, wantStray)
			}
			keys := env.emu.Keys(iamTestUser)
			if last := keys[len(keys)-1]; last.ID != res.Key.ID || last.Status != model.KeyActive || !last.CreatedAt.Equal(res.CreatedAt) {
				t.Errorf("newest key %+v, created %s at %v", last, res.Key.ID, res.CreatedAt)
			}
			if len(openTestKey(t, res.Key).Secret.Reveal()) != 40 {
				t.Errorf("secret missing")
			}
		})
	}
}

// A retried CreateAccessKey whose first answer was lost deletes the key the
// first attempt made and creates another, even when that key was made in
// the same second as NotBefore (IAM lists CreateDate to the second, so it
// shows as made before a NotBefore with a fraction of a second).
func TestIAMCreateAccessKeyRetryAfterLostAnswer(t *testing.T) {
	env := newIAMEnv(t)
	old := env.seedKey(t, model.KeyActive)
	in := CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser, KnownKeyIDs: []string{old.ID},
		NotBefore: env.clock.Now().Add(300 * time.Millisecond)}
	env.clock.Advance(500 * time.Millisecond)
	lost, err := env.act.CreateAccessKey(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.act.CreateAccessKey(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.DeletedStray, []string{lost.Key.ID}) || again.Key.ID == lost.Key.ID {
		t.Fatalf("retry: %+v (first attempt made %s)", again.DeletedStray, lost.Key.ID)
	}
	if ids := env.keyIDs(); !slices.Equal(ids, []string{old.ID + "/Active", again.Key.ID + "/Active"}) {
		t.Errorf("keys = %v", ids)
	}
}

// racingIAM is the real IAM client, except that CreateAccessKey first lets
// an overlapping attempt of the same step create a key (through the same
// API), between this attempt's list and its create.
type racingIAM struct {
	IAMAPI
	once sync.Once
}

func (r *racingIAM) CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, opts ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error) {
	var err error
	r.once.Do(func() { _, err = r.IAMAPI.CreateAccessKey(ctx, in, opts...) })
	if err != nil {
		return nil, err
	}
	return r.IAMAPI.CreateAccessKey(ctx, in, opts...)
}

type racingClients struct {
	IAMClients
	api *racingIAM
}

func (c *racingClients) IAM(ctx context.Context, account string) (IAMAPI, error) {
	if c.api == nil {
		api, err := c.IAMClients.IAM(ctx, account)
		if err != nil {
			return nil, err
		}
		c.api = &racingIAM{IAMAPI: api}
	}
	return c.api, nil
}

// Two attempts of CreateAccessKey racing: IAM's LimitExceeded while the
// rotation knows one key is retryable, and the next attempt removes the
// other attempt's key (a provable stray) and creates its own.
func TestIAMCreateAccessKeyLimitRace(t *testing.T) {
	env := newIAMEnv(t)
	id, secret := env.emu.AddAdmin()
	act := NewIAM(&racingClients{IAMClients: env.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount})}, testSealer(), iamTestRotations)
	old := env.seedKey(t, model.KeyActive)
	in := CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser, KnownKeyIDs: []string{old.ID}, NotBefore: env.clock.Now()}
	_, err := act.CreateAccessKey(context.Background(), in)
	var ae *temporal.ApplicationError
	if err == nil || errors.As(err, &ae) && ae.NonRetryable() {
		t.Fatalf("LimitExceeded with one known key: err = %v, want a retryable error", err)
	}
	keys := env.emu.Keys(iamTestUser)
	if len(keys) != 2 {
		t.Fatalf("keys after the race: %+v", keys)
	}
	raced := keys[1].ID
	res, err := act.CreateAccessKey(context.Background(), in)
	if err != nil {
		t.Fatalf("next attempt: %v", err)
	}
	if !slices.Equal(res.DeletedStray, []string{raced}) {
		t.Errorf("DeletedStray = %v, want the raced key %s", res.DeletedStray, raced)
	}
	if ids := env.keyIDs(); !slices.Equal(ids, []string{old.ID + "/Active", res.Key.ID + "/Active"}) {
		t.Errorf("keys = %v", ids)
	}
}

func TestIAMVerifyAccessKey(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the key to verify; it may also change the emulator.
		prepare       func(t *testing.T, env *iamEnv) model.NewAccessKey
		wantErr       string
		wantRetryable bool
	}{
		{name: "new key accepted", prepare: func(t *testing.T, env *iamEnv) model.NewAccessKey {
			return iamCreate(t, env)
		}},
		{name: "deleted key refused", prepare: func(t *testing.T, env *iamEnv) model.NewAccessKey {
			k := iamCreate(t, env)
			if _, err := env.act.DeleteAccessKey(context.Background(), env.keyInput(k.ID)); err != nil {
				t.Fatal(err)
			}
			return k
		}, wantErr: TypeKeyNotAccepted, wantRetryable: true},
		{name: "wrong secret refused", prepare: func(t *testing.T, env *iamEnv) model.NewAccessKey {
			k := iamCreate(t, env)
			other, err := env.emu.CreateKey(iamTestUser)
			if err != nil {
				t.Fatal(err)
			}
			k.Secret = other.Secret
			return k
		}, wantErr: TypeKeyNotAccepted, wantRetryable: true},
		{name: "key of another user", prepare: func(t *testing.T, env *iamEnv) model.NewAccessKey {
			env.emu.AddUser("intruder")
			k, err := env.emu.CreateKey("intruder")
			if err != nil {
				t.Fatal(err)
			}
			return k
		}, wantErr: TypeWrongIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIAMEnv(t)
			k := tt.prepare(t, env)
			res, err := env.act.VerifyAccessKey(context.Background(), VerifyAccessKeyInput{Account: iamTestAccount, User: iamTestUser, Key: sealKey(k)})
			iamNoSecret(t, err, k.Secret)
			if tt.wantErr != "" {
				iamAppError(t, err, tt.wantErr, !tt.wantRetryable)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ARN != env.emu.UserARN(iamTestUser) {
				t.Errorf("ARN = %q", res.ARN)
			}
		})
	}
}

// IAM's eventual consistency: a brand-new key is refused for a while, then accepted.
func TestIAMVerifyAccessKeyAfterDelay(t *testing.T) {
	env := newIAMEnv(t)
	env.emu.SetNewKeyDelay(8 * time.Second)
	k := iamCreate(t, env)
	in := VerifyAccessKeyInput{Account: iamTestAccount, User: iamTestUser, Key: sealKey(k)}
	_, err := env.act.VerifyAccessKey(context.Background(), in)
	iamAppError(t, err, TypeKeyNotAccepted, false)
	env.clock.Advance(10 * time.Second)
	if _, err := env.act.VerifyAccessKey(context.Background(), in); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
	if used := env.emu.Keys(iamTestUser)[0]; used.LastUsed == nil || used.LastService != "sts" {
		t.Errorf("the verified key was not used: %+v", used)
	}
}

func iamCreate(t *testing.T, env *iamEnv) model.NewAccessKey {
	t.Helper()
	res, err := env.act.CreateAccessKey(context.Background(), CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser, NotBefore: env.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return openTestKey(t, res.Key)
}

func TestIAMKeyChangesAreIdempotent(t *testing.T) {
	env := newIAMEnv(t)
	k := env.seedKey(t, model.KeyActive)
	in := env.keyInput(k.ID)
	ctx := context.Background()
	deactivate := func() (KeyChangeResult, error) { return env.act.DeactivateAccessKey(ctx, in) }
	activate := func() (KeyChangeResult, error) { return env.act.ActivateAccessKey(ctx, in) }
	del := func() (KeyChangeResult, error) { return env.act.DeleteAccessKey(ctx, in) }
	steps := []struct {
		name       string
		call       func() (KeyChangeResult, error)
		wantDone   bool
		wantErr    string
		wantStatus string // "" when the key must be gone
	}{
		{"deactivate", deactivate, false, "", model.KeyInactive},
		{"deactivate again", deactivate, true, "", model.KeyInactive},
		{"activate (rollback)", activate, false, "", model.KeyActive},
		{"activate again", activate, true, "", model.KeyActive},
		{"deactivate before delete", deactivate, false, "", model.KeyInactive},
		{"delete", del, false, "", ""},
		{"delete again", del, true, "", ""},
		{"deactivate a deleted key", deactivate, true, "", ""},
		{"activate a deleted key", activate, false, TypeNoSuchEntity, ""},
	}
	for _, s := range steps {
		res, err := s.call()
		if s.wantErr != "" {
			iamAppError(t, err, s.wantErr, true)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.AlreadyDone != s.wantDone {
			t.Errorf("%s: AlreadyDone = %v, want %v", s.name, res.AlreadyDone, s.wantDone)
		}
		keys := env.emu.Keys(iamTestUser)
		switch {
		case s.wantStatus == "" && len(keys) != 0:
			t.Errorf("%s: key still there: %+v", s.name, keys)
		case s.wantStatus != "" && (len(keys) != 1 || keys[0].Status != s.wantStatus):
			t.Errorf("%s: keys %+v, want status %s", s.name, keys, s.wantStatus)
		}
	}
}

func TestIAMGetAccessKeyLastUsed(t *testing.T) {
	env := newIAMEnv(t)
	k := env.seedKey(t, model.KeyActive)
	ctx := context.Background()

	res, err := env.act.GetAccessKeyLastUsed(ctx, env.keyInput(k.ID))
	if err != nil || res.LastUsed != nil || res.Service != "" {
		t.Fatalf("never used: %+v, %v", res, err)
	}

	at := env.clock.Now().Add(-time.Hour)
	env.emu.MarkUsed(k.ID, at)
	res, err = env.act.GetAccessKeyLastUsed(ctx, env.keyInput(k.ID))
	if err != nil || res.LastUsed == nil || !res.LastUsed.Equal(at) || res.Service != "s3" {
		t.Fatalf("after use: %+v, %v", res, err)
	}

	env.emu.AddUser("other")
	other, err := env.emu.CreateKey("other")
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.act.GetAccessKeyLastUsed(ctx, env.keyInput(other.ID))
	iamAppError(t, err, TypeNoSuchEntity, true)

	// A deleted key is gone, which is as idle as a key can be: the check
	// runs again after a lost workflow task that went on to delete it.
	if _, err := env.act.DeleteAccessKey(ctx, env.keyInput(k.ID)); err != nil {
		t.Fatal(err)
	}
	res, err = env.act.GetAccessKeyLastUsed(ctx, env.keyInput(k.ID))
	if err != nil || !res.Gone || res.LastUsed != nil {
		t.Fatalf("deleted: %+v, %v", res, err)
	}
}

func TestIAMThrottling(t *testing.T) {
	tests := []struct {
		name      string
		rule      faults.Rule
		wantDelay time.Duration
	}{
		{"429 with Retry-After", faults.Rule{Op: "ListAccessKeys", Status: 429, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{"429 without Retry-After", faults.Rule{Op: "ListAccessKeys", Status: 429}, iamDefaultRetryDelay},
		{"IAM-style 400 Throttling", faults.Rule{Op: "ListAccessKeys", Status: 400,
			Body: `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>`},
			iamDefaultRetryDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIAMEnv(t)
			env.emu.Faults.Add(tt.rule)
			_, err := env.act.InspectKeys(context.Background(), InspectKeysInput{Account: iamTestAccount, User: iamTestUser})
			ae := iamAppError(t, err, TypeRateLimited, false)
			if ae.NextRetryDelay() != tt.wantDelay {
				t.Errorf("NextRetryDelay = %v, want %v", ae.NextRetryDelay(), tt.wantDelay)
			}
			if n := env.emu.Faults.Calls()["ListAccessKeys"]; n != 1 {
				t.Errorf("ListAccessKeys called %d times: the SDK must not retry on its own", n)
			}
		})
	}
}

func TestIAMServerErrorIsRetryable(t *testing.T) {
	env := newIAMEnv(t)
	env.emu.Faults.Add(faults.Rule{Op: "ListAccessKeys", Status: 503, Times: 1})
	in := InspectKeysInput{Account: iamTestAccount, User: iamTestUser}
	_, err := env.act.InspectKeys(context.Background(), in)
	var ae *temporal.ApplicationError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), `"ci"`) {
		t.Fatalf("503: err = %v, want a plain retryable error naming the user", err)
	}
	if _, err := env.act.InspectKeys(context.Background(), in); err != nil {
		t.Fatalf("next attempt: %v", err)
	}
}

func TestIAMRotatorCredentialsRefused(t *testing.T) {
	env := newIAMEnv(t)
	// A CI user's key has no IAM rights: the emulator answers AccessDenied.
	k := env.seedKey(t, model.KeyActive)
	act := NewIAM(env.clientsFor(t, k.ID, k.Secret, clients.AWSAccount{Name: iamTestAccount}), testSealer(), iamTestRotations)
	_, err := act.InspectKeys(context.Background(), InspectKeysInput{Account: iamTestAccount, User: iamTestUser})
	iamAppError(t, err, TypeUnauthorized, true)
	iamNoSecret(t, err, k.Secret)
}

// An account with a RoleARN works through temporary credentials from AssumeRole.
func TestIAMAssumedRoleAccount(t *testing.T) {
	env := newIAMEnv(t)
	roleARN := "arn:aws:iam::" + env.emu.AccountID() + ":role/keyrotor"
	env.emu.AddRole(roleARN)
	id, secret := env.emu.AddAdmin()
	act := NewIAM(env.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount, RoleARN: roleARN}), testSealer(), iamTestRotations)
	old := env.seedKey(t, model.KeyActive)
	res, err := act.CreateAccessKey(context.Background(), CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser, KnownKeyIDs: []string{old.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := act.VerifyAccessKey(context.Background(), VerifyAccessKeyInput{Account: iamTestAccount, User: iamTestUser, Key: res.Key}); err != nil {
		t.Fatal(err)
	}
	if n := env.emu.Faults.Calls()["AssumeRole"]; n != 1 {
		t.Errorf("AssumeRole called %d times, want 1 (cached)", n)
	}
}

// The standard environment variables are enough to point keyrotor at the
// emulator: no option is passed to clients.NewAWS.
func TestIAMEndpointFromEnvironment(t *testing.T) {
	env := newIAMEnv(t)
	id, secret := env.emu.AddAdmin()
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL_IAM", env.url)
	t.Setenv("AWS_ENDPOINT_URL_STS", env.url)
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret.Reveal())
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	c, err := clients.NewAWS(context.Background(), []clients.AWSAccount{{Name: iamTestAccount}})
	if err != nil {
		t.Fatal(err)
	}
	act := NewIAM(c, testSealer(), iamTestRotations)
	res, err := act.CreateAccessKey(context.Background(), CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser})
	if err != nil {
		t.Fatal(err)
	}
	// The verify client must sign with the new key, not with the environment's.
	if _, err := act.VerifyAccessKey(context.Background(), VerifyAccessKeyInput{Account: iamTestAccount, User: iamTestUser, Key: res.Key}); err != nil {
		t.Fatal(err)
	}
	used := env.emu.Keys(iamTestUser)[0]
	if used.LastUsed == nil || used.LastService != "sts" || used.LastRegion != "eu-central-1" {
		t.Errorf("new key use not recorded as STS in eu-central-1: %+v", used)
	}
	if _, err := c.IAM(context.Background(), "staging"); err == nil || !strings.Contains(err.Error(), `"staging"`) {
		t.Errorf("unknown account: %v", err)
	}
}

// A user the worker's configuration does not rotate is refused by every IAM
// activity before any AWS call, whatever the workflow input says.
func TestIAMRefusesUnconfiguredUser(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		account string
		user    string
	}{
		{"user not configured", iamTestAccount, "intruder"},
		{"user configured in another account only", "dev", iamTestUser},
		{"no user", iamTestAccount, ""},
		{"no account", "", iamTestUser},
	}
	for _, tt := range tests {
		env := newIAMEnv(t)
		env.emu.AddUser("intruder")
		k, err := env.emu.CreateKey("intruder")
		if err != nil {
			t.Fatal(err)
		}
		key := KeyInput{Account: tt.account, User: tt.user, AccessKeyID: k.ID}
		calls := map[string]func() error{
			"InspectKeys": func() error {
				_, err := env.act.InspectKeys(ctx, InspectKeysInput{Account: tt.account, User: tt.user})
				return err
			},
			"CreateAccessKey": func() error {
				_, err := env.act.CreateAccessKey(ctx, CreateAccessKeyInput{Account: tt.account, User: tt.user, NotBefore: env.clock.Now()})
				return err
			},
			"VerifyAccessKey": func() error {
				_, err := env.act.VerifyAccessKey(ctx, VerifyAccessKeyInput{Account: tt.account, User: tt.user, Key: sealKey(k)})
				return err
			},
			"GetAccessKeyLastUsed": func() error { _, err := env.act.GetAccessKeyLastUsed(ctx, key); return err },
			"DeactivateAccessKey":  func() error { _, err := env.act.DeactivateAccessKey(ctx, key); return err },
			"ActivateAccessKey":    func() error { _, err := env.act.ActivateAccessKey(ctx, key); return err },
			"DeleteAccessKey":      func() error { _, err := env.act.DeleteAccessKey(ctx, key); return err },
		}
		for name, call := range calls {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				err := call()
				iamAppError(t, err, TypeNotConfigured, true)
				iamNoSecret(t, err, k.Secret)
			})
		}
		if n := env.emu.Faults.Total(); n != 0 {
			t.Errorf("%s: %d AWS calls (%v)", tt.name, n, env.emu.Faults.Calls())
		}
		if ks := env.emu.Keys("intruder"); len(ks) != 1 || ks[0].Status != model.KeyActive {
			t.Errorf("%s: intruder's keys changed: %+v", tt.name, ks)
		}
	}
}

// IAM user names are case-insensitive: the configuration may spell the user
// "deployer" while IAM created it as "Deployer" and answers with that name.
func TestIAMUserNameCase(t *testing.T) {
	env := newIAMEnv(t)
	env.emu.AddUser("Deployer")
	id, secret := env.emu.AddAdmin()
	act := NewIAM(env.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount}), testSealer(),
		testRotations{{Account: iamTestAccount, User: "deployer"}})
	ctx := context.Background()
	res, err := act.CreateAccessKey(ctx, CreateAccessKeyInput{Account: iamTestAccount, User: "DEPLOYER", NotBefore: env.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := act.VerifyAccessKey(ctx, VerifyAccessKeyInput{Account: iamTestAccount, User: "deployer", Key: res.Key})
	if err != nil || v.ARN != env.emu.UserARN("Deployer") {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	if _, err := act.GetAccessKeyLastUsed(ctx, KeyInput{Account: iamTestAccount, User: "deployer", AccessKeyID: res.Key.ID}); err != nil {
		t.Fatalf("GetAccessKeyLastUsed: %v", err)
	}
}

func TestIAMIsUserARN(t *testing.T) {
	tests := []struct {
		arn, name string
		want      bool
	}{
		{"arn:aws:iam::123456789012:user/ci-deployer", "ci-deployer", true},
		{"arn:aws:iam::123456789012:user/CI-Deployer", "ci-deployer", true},
		{"arn:aws:iam::123456789012:user/ci/path/ci-deployer", "CI-DEPLOYER", true},
		{"arn:aws-cn:iam::123456789012:user/ci-deployer", "ci-deployer", true},
		{"arn:aws:iam::123456789012:user/ci-deployer2", "ci-deployer", false},
		{"arn:aws:iam::123456789012:role/ci-deployer", "ci-deployer", false},
		{"arn:aws:sts::123456789012:assumed-role/ci-deployer/s", "ci-deployer", false},
		{"not an arn", "ci-deployer", false},
	}
	for _, tt := range tests {
		if got := iamIsUserARN(tt.arn, tt.name); got != tt.want {
			t.Errorf("iamIsUserARN(%q, %q) = %v, want %v", tt.arn, tt.name, got, tt.want)
		}
	}
}
