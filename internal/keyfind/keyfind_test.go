package keyfind_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/keyfind"
	"github.com/keyrotor/keyrotor/internal/model"
)

const stagingID = "210987654321"

// account is one emulated AWS account behind its own server, with the
// rotator's key in it.
type account struct {
	emu    *awsemu.Emulator
	url    string
	id     string
	secret model.Secret
}

func newAccount(t *testing.T, opts ...awsemu.Option) *account {
	t.Helper()
	a := &account{emu: awsemu.New(opts...)}
	srv := httptest.NewServer(a.emu.Handler())
	t.Cleanup(srv.Close)
	a.url = srv.URL
	a.id, a.secret = a.emu.AddAdmin()
	return a
}

// clients signs with the account's rotator key (or the given one).
func (a *account) clients(id string, secret model.Secret) (keyfind.IAM, keyfind.STS) {
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(a.url),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")}
	return iam.NewFromConfig(cfg), sts.NewFromConfig(cfg)
}

func (a *account) key(t *testing.T, user string) model.NewAccessKey {
	t.Helper()
	a.emu.AddUser(user)
	k, err := a.emu.CreateKey(user)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// world is two configured accounts: prod (the rotator's own, no roleArn)
// and staging (a role in another AWS account), each its own emulator.
type world struct {
	prod, staging *account
	cfg           *config.Config
	prodKey       func() (keyfind.IAM, keyfind.STS) // prod's clients; tests may swap the key
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{prod: newAccount(t), staging: newAccount(t, awsemu.WithAccountID(stagingID))}
	w.cfg = &config.Config{
		Accounts: []config.Account{
			{Name: "prod", Region: "eu-west-1"},
			{Name: "staging", Region: "eu-west-1", RoleARN: "arn:aws:iam::" + stagingID + ":role/keyrotor"},
		},
		Rotations: []model.Rotation{
			{Account: "prod", User: "ci-deployer", Targets: []model.Target{{Kind: model.GitHubRepository, Repository: "acme/api"}}},
			{Account: "prod", User: "web-deployer"},
			{Account: "staging", User: "ci-deployer"},
		},
	}
	w.prodKey = func() (keyfind.IAM, keyfind.STS) { return w.prod.clients(w.prod.id, w.prod.secret) }
	return w
}

func (w *world) finder() *keyfind.Finder {
	return keyfind.New(w.cfg, func(_ context.Context, name string) (keyfind.IAM, keyfind.STS, error) {
		switch name {
		case "prod":
			i, s := w.prodKey()
			return i, s, nil
		case "staging":
			i, s := w.staging.clients(w.staging.id, w.staging.secret)
			return i, s, nil
		}
		return nil, nil, fmt.Errorf("AWS account %q is not configured", name)
	})
}

// calls are the emulators' call counts per action, both accounts together.
func (w *world) calls() map[string]int {
	out := map[string]int{}
	for _, a := range []*account{w.prod, w.staging} {
		for op, n := range a.emu.Faults.Calls() {
			out[op] += n
		}
	}
	return out
}

func (w *world) resetCalls() {
	w.prod.emu.Faults.ResetCalls()
	w.staging.emu.Faults.ResetCalls()
}

// A configured user's key, found with the starter's own client wiring:
// the configured users are tried first, so ListUsers is never called.
func TestFindManagedUser(t *testing.T) {
	prod := newAccount(t)
	prod.emu.AddUser("web-deployer")
	k := prod.key(t, "ci-deployer")
	prod.key(t, "someone-else")
	used := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	prod.emu.MarkUsed(k.ID, used)
	cfg := &config.Config{
		Accounts:  []config.Account{{Name: "prod", Region: "eu-west-1"}},
		Rotations: []model.Rotation{{Account: "prod", User: "web-deployer"}, {Account: "prod", User: "CI-Deployer"}},
	}
	clients, err := keyfind.NewAWSClients(context.Background(), cfg,
		awsconfig.WithBaseEndpoint(prod.url),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(prod.id, prod.secret.Reveal(), "")),
		awsconfig.WithSharedConfigFiles(nil), awsconfig.WithSharedCredentialsFiles(nil))
	if err != nil {
		t.Fatal(err)
	}
	prod.emu.Faults.ResetCalls()

	got, err := keyfind.New(cfg, clients).Find(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != "prod" || got.AccountID != awsemu.DefaultAccountID || got.User != "ci-deployer" || got.Status != model.KeyActive ||
		!got.Managed() || got.Rotation.User != "CI-Deployer" || got.CreatedAt.IsZero() {
		t.Errorf("found %+v", got)
	}
	if got.LastUsed == nil || !got.LastUsed.Equal(used) || got.LastUsedService != "s3" {
		t.Errorf("last used %v %q, want %v s3", got.LastUsed, got.LastUsedService, used)
	}
	// GetAccessKeyInfo, GetCallerIdentity, ListAccessKeys ×2 (web-deployer, then ci-deployer), GetAccessKeyLastUsed.
	want := map[string]int{"GetAccessKeyInfo": 1, "GetCallerIdentity": 1, "ListAccessKeys": 2, "GetAccessKeyLastUsed": 1}
	if calls := prod.emu.Faults.Calls(); fmt.Sprint(calls) != fmt.Sprint(want) || got.Calls != 5 {
		t.Errorf("calls = %v (counted %d), want %v", calls, got.Calls, want)
	}
}

// A user no rotation manages is found through ListUsers, reported as
// unmanaged, and Deactivate sets the key Inactive without deleting it.
func TestFindUnmanagedUserAndDeactivate(t *testing.T) {
	w := newWorld(t)
	w.prod.key(t, "ci-deployer")
	for i := range 5 {
		w.prod.key(t, fmt.Sprintf("dev-%d", i))
	}
	k := w.prod.key(t, "legacy-bot")
	w.resetCalls()
	f := w.finder()

	got, err := f.Find(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Managed() || got.Account != "prod" || got.User != "legacy-bot" || got.Status != model.KeyActive || got.LastUsed != nil {
		t.Errorf("found %+v", got)
	}
	calls := w.calls()
	// ci-deployer and web-deployer (configured, web-deployer does not exist), then
	// the admin, the five devs and legacy-bot, sorted by name, ci-deployer skipped.
	if calls["ListUsers"] != 1 || calls["ListAccessKeys"] != 2+7 || calls["GetCallerIdentity"] != 1 {
		t.Errorf("calls = %v", calls)
	}
	if err := f.Deactivate(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	keys := w.prod.emu.Keys("legacy-bot")
	if len(keys) != 1 || keys[0].ID != k.ID || keys[0].Status != model.KeyInactive {
		t.Errorf("after Deactivate: %+v, want the key, Inactive", keys)
	}
}

// A key of the second account: its roleArn names the account ID, so
// nothing but GetAccessKeyInfo, one ListAccessKeys and the last use is asked.
func TestFindKeyInSecondAccount(t *testing.T) {
	w := newWorld(t)
	w.prod.key(t, "ci-deployer")
	k := w.staging.key(t, "ci-deployer")
	w.resetCalls()

	got, err := w.finder().Find(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != "staging" || got.AccountID != stagingID || got.User != "ci-deployer" || !got.Managed() || got.Rotation.Account != "staging" {
		t.Errorf("found %+v", got)
	}
	if got.Calls != 3 || w.prod.emu.Faults.Calls()["ListAccessKeys"] != 0 || w.staging.emu.Faults.Calls()["ListAccessKeys"] != 1 {
		t.Errorf("%d calls: %v", got.Calls, w.calls())
	}
}

// A key of an account that is not configured, and a deleted key of a
// configured one: clear errors naming what was searched.
func TestFindUnknownKey(t *testing.T) {
	w := newWorld(t)
	w.prod.key(t, "ci-deployer")
	f := w.finder()
	foreign := awsemu.KeyIDInAccount("999999999999")
	_, err := f.Find(context.Background(), foreign)
	var nf *keyfind.NotFoundError
	if !errors.As(err, &nf) || nf.AccountID != "999999999999" || nf.Account != "" {
		t.Fatalf("foreign key: %v", err)
	}
	for _, want := range []string{foreign, "999999999999, which is not configured", "prod (" + awsemu.DefaultAccountID + ")", "staging (" + stagingID + ")"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	gone := awsemu.KeyIDInAccount(awsemu.DefaultAccountID)
	_, err = f.Find(context.Background(), gone)
	if !errors.As(err, &nf) || nf.Account != "prod" || !strings.Contains(err.Error(), "none of its 2 IAM users holds it") {
		t.Fatalf("deleted key: %v", err)
	}
}

// A rotator that may not list users cannot find an unmanaged user's key:
// the error names the account and the action.
func TestFindListUsersDenied(t *testing.T) {
	w := newWorld(t)
	w.prod.key(t, "ci-deployer")
	k := w.prod.key(t, "legacy-bot")
	id, secret := w.prod.emu.AddPrincipal("rotator", "sts:GetAccessKeyInfo", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed")
	w.prodKey = func() (keyfind.IAM, keyfind.STS) { return w.prod.clients(id, secret) }

	_, err := w.finder().Find(context.Background(), k.ID)
	if err == nil {
		t.Fatal("found the key without iam:ListUsers")
	}
	for _, want := range []string{"account prod (" + awsemu.DefaultAccountID + ")", "iam:ListUsers", "AccessDenied", "checked: ci-deployer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), secret.Reveal()) {
		t.Error("the error reveals the rotator's secret")
	}
}

// Users listed in pages of 1000: the key of the last user is found.
func TestFindPagesThroughUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("1200 users")
	}
	w := newWorld(t)
	for i := range 1200 {
		w.prod.emu.AddUser(fmt.Sprintf("u%04d", i))
	}
	k := w.prod.key(t, "zz-last")
	w.resetCalls()
	got, err := w.finder().Find(context.Background(), k.ID)
	if err != nil || got.User != "zz-last" {
		t.Fatalf("Find = %+v, %v", got, err)
	}
	if n := w.calls()["ListUsers"]; n != 2 {
		t.Errorf("%d ListUsers calls, want 2", n)
	}
}

func TestValidateKeyID(t *testing.T) {
	for id, want := range map[string]string{
		awsemu.KeyIDInAccount(awsemu.DefaultAccountID): "",
		"ASIA" + strings.Repeat("A", 16):               "temporary access key ID",
		"AKIA" + strings.Repeat("A", 15):               "not an access key ID",
		"akia" + strings.Repeat("a", 16):               "not an access key ID",
		"":                                             "not an access key ID",
	} {
		err := keyfind.ValidateKeyID(id)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidateKeyID(%q) = %v, want %q", id, err, want)
		}
	}
}
