package awsemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// start serves a new emulator over HTTP.
func start(t *testing.T, opts ...Option) (*Emulator, string) {
	t.Helper()
	e := New(opts...)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return e, srv.URL
}

// sdkConfig is an SDK configuration signing with the given static
// credentials against the emulator, retrying without backoff so fault tests
// stay fast.
func sdkConfig(url string, creds aws.CredentialsProvider) aws.Config {
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(url),
		Credentials:  creds,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func static(id string, secret model.Secret) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")
}

func iamWith(url, id string, secret model.Secret) *iam.Client {
	return iam.NewFromConfig(sdkConfig(url, static(id, secret)))
}

func stsWith(url, id string, secret model.Secret) *sts.Client {
	return sts.NewFromConfig(sdkConfig(url, static(id, secret)))
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func mustKey(t *testing.T, e *Emulator, user string) model.NewAccessKey {
	t.Helper()
	k, err := e.CreateKey(user)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAWSEmulatorKeyFormat(t *testing.T) {
	idRE := regexp.MustCompile(`^` + accessKeyPrefix + `[A-Z0-9]{16}$`)
	for range 10 {
		e := New()
		e.AddUser("ci")
		for _, k := range []model.NewAccessKey{mustKey(t, e, "ci"), mustKey(t, e, "ci")} {
			if !idRE.MatchString(k.ID) {
				t.Fatalf("key ID %q is not AWS-shaped", k.ID)
			}
			if n := len(k.Secret.Reveal()); n != 40 {
				t.Fatalf("secret has %d chars, want 40", n)
			}
		}
		if _, err := e.CreateKey("ci"); !errors.Is(err, ErrKeyQuota) {
			t.Fatalf("third key: err = %v, want ErrKeyQuota", err)
		}
		if got, want := e.UserARN("ci"), "arn:aws:iam::"+DefaultAccountID+":user/ci"; got != want {
			t.Fatalf("ARN = %q, want %q", got, want)
		}
	}
	if _, err := New().CreateKey("nobody"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestAWSEmulatorSignature(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	e.AddUserWithPath("ci", "/pipelines/")
	good := mustKey(t, e, "ci")
	deleted := mustKey(t, e, "ci")
	ctx := context.Background()
	if _, err := iamWith(url, adminID, adminSecret).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("ci"), AccessKeyId: aws.String(deleted.ID)}); err != nil {
		t.Fatal(err)
	}
	inactive := mustKey(t, e, "ci")
	if err := e.SetKeyStatus(inactive.ID, model.KeyInactive); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		id       string
		secret   model.Secret
		wantCode string
		wantARN  string
	}{
		{"user key", good.ID, good.Secret, "", "arn:aws:iam::123456789012:user/pipelines/ci"},
		{"admin key", adminID, adminSecret, "", "arn:aws:iam::123456789012:user/keyrotor-admin"},
		{"wrong secret", good.ID, model.Secret(randomSecret()), "SignatureDoesNotMatch", ""},
		{"deleted key", deleted.ID, deleted.Secret, "InvalidClientTokenId", ""},
		{"inactive key", inactive.ID, inactive.Secret, "InvalidClientTokenId", ""},
		{"unknown key", accessKeyPrefix + randomID(16), model.Secret(randomSecret()), "InvalidClientTokenId", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := stsWith(url, tt.id, tt.secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err == nil && aws.ToString(out.Arn) != tt.wantARN {
				t.Errorf("ARN = %q, want %q", aws.ToString(out.Arn), tt.wantARN)
			}
			if err == nil && aws.ToString(out.Account) != e.AccountID() {
				t.Errorf("Account = %q", aws.ToString(out.Account))
			}
		})
	}
}

func TestAWSEmulatorUserKeyHasNoIAMRights(t *testing.T) {
	e, url := start(t)
	e.AddUser("ci")
	k := mustKey(t, e, "ci")
	_, err := iamWith(url, k.ID, k.Secret).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("ci")})
	if got := errorCode(err); got != "AccessDenied" {
		t.Fatalf("error code = %q (%v), want AccessDenied", got, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("want HTTP 403, got %v", err)
	}
}

func TestAWSEmulatorIAMActions(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("ci")
	c := iamWith(url, adminID, adminSecret)
	ctx := context.Background()
	user := aws.String("ci")

	first, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(aws.ToString(first.AccessKey.SecretAccessKey)); n != 40 || first.AccessKey.Status != types.StatusTypeActive {
		t.Fatalf("created key: secret len %d, status %s", n, first.AccessKey.Status)
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user}); err != nil {
		t.Fatal(err)
	}
	firstID := first.AccessKey.AccessKeyId

	tests := []struct {
		name string
		call func() error
		want any // pointer to the typed error expected, nil for success
	}{
		{"third key exceeds the limit", func() error {
			_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
			return err
		}, new(*types.LimitExceededException)},
		{"list keys of unknown user", func() error {
			_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
			return err
		}, new(*types.NoSuchEntityException)},
		{"deactivate", func() error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: user, AccessKeyId: firstID, Status: types.StatusTypeInactive})
			return err
		}, nil},
		{"delete", func() error {
			_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: user, AccessKeyId: firstID})
			return err
		}, nil},
		{"delete again", func() error {
			_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: user, AccessKeyId: firstID})
			return err
		}, new(*types.NoSuchEntityException)},
		{"update deleted key", func() error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: user, AccessKeyId: firstID, Status: types.StatusTypeActive})
			return err
		}, new(*types.NoSuchEntityException)},
		{"room for a new key after delete", func() error {
			_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
			return err
		}, nil},
		{"get user", func() error {
			out, err := c.GetUser(ctx, &iam.GetUserInput{UserName: user})
			if err == nil && aws.ToString(out.User.Arn) != e.UserARN("ci") {
				t.Errorf("GetUser ARN = %q", aws.ToString(out.User.Arn))
			}
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			switch target := tt.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			default:
				if !errors.As(err, target) {
					t.Fatalf("error = %v, want %T", err, target)
				}
			}
		})
	}

	out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: user})
	if err != nil {
		t.Fatal(err)
	}
	states := e.Keys("ci")
	if len(out.AccessKeyMetadata) != 2 || len(states) != 2 {
		t.Fatalf("listed %d keys, emulator has %d, want 2", len(out.AccessKeyMetadata), len(states))
	}
	for i, m := range out.AccessKeyMetadata {
		if aws.ToString(m.AccessKeyId) != states[i].ID || string(m.Status) != states[i].Status {
			t.Errorf("key %d: listed %s/%s, emulator %s/%s", i, aws.ToString(m.AccessKeyId), m.Status, states[i].ID, states[i].Status)
		}
	}
}

// testClock is a settable clock for the emulator.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestAWSEmulatorLastUsed(t *testing.T) {
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	e, url := start(t, WithClock(clock.Now))
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("ci")
	k := mustKey(t, e, "ci")
	admin := iamWith(url, adminID, adminSecret)
	ctx := context.Background()
	lastUsed := func() *iam.GetAccessKeyLastUsedOutput {
		t.Helper()
		out, err := admin.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.ID)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	never := lastUsed()
	if never.AccessKeyLastUsed.LastUsedDate != nil || aws.ToString(never.AccessKeyLastUsed.ServiceName) != "N/A" || aws.ToString(never.UserName) != "ci" {
		t.Fatalf("never used key: %+v", never.AccessKeyLastUsed)
	}

	clock.Advance(time.Hour)
	if _, err := stsWith(url, k.ID, k.Secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	used := lastUsed().AccessKeyLastUsed
	if got := aws.ToTime(used.LastUsedDate); !got.Equal(clock.Now()) || aws.ToString(used.ServiceName) != "sts" || aws.ToString(used.Region) != "eu-west-1" {
		t.Fatalf("after STS call: date %v service %q region %q", got, aws.ToString(used.ServiceName), aws.ToString(used.Region))
	}

	at := clock.Now().Add(time.Minute)
	e.MarkUsed(k.ID, at)
	if s := e.Keys("ci")[0]; s.LastUsed == nil || !s.LastUsed.Equal(at) {
		t.Fatalf("Keys after MarkUsed: %+v", s)
	}

	_, err := admin.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(accessKeyPrefix + randomID(16))})
	if errorCode(err) != "NoSuchEntity" {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestAWSEmulatorNewKeyDelay(t *testing.T) {
	clock := &testClock{t: time.Now()}
	e, url := start(t, WithClock(clock.Now))
	e.SetNewKeyDelay(10 * time.Second)
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("ci")
	ctx := context.Background()
	out, err := iamWith(url, adminID, adminSecret).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci")})
	if err != nil {
		t.Fatal(err)
	}
	c := stsWith(url, aws.ToString(out.AccessKey.AccessKeyId), model.Secret(aws.ToString(out.AccessKey.SecretAccessKey)))
	if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errorCode(err) != "InvalidClientTokenId" {
		t.Fatalf("brand-new key: err = %v, want InvalidClientTokenId", err)
	}
	clock.Advance(11 * time.Second)
	if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
}

func TestAWSEmulatorAssumeRole(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("ci")
	roleARN := "arn:aws:iam::" + e.AccountID() + ":role/ops/keyrotor"
	e.AddRole(roleARN)
	ctx := context.Background()
	base := stsWith(url, adminID, adminSecret)

	creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(base, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "rotation"
	}))
	cfg := sdkConfig(url, creds)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(who.Arn), "arn:aws:sts::"+e.AccountID()+":assumed-role/keyrotor/rotation"; got != want {
		t.Errorf("assumed identity = %q, want %q", got, want)
	}
	if _, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci")}); err != nil {
		t.Fatalf("IAM call with temporary credentials: %v", err)
	}

	// A session token that does not belong to the temporary key is refused.
	got, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged := sts.NewFromConfig(sdkConfig(url, credentials.NewStaticCredentialsProvider(got.AccessKeyID, got.SecretAccessKey, "forged")))
	if _, err := forged.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("forged token: %v", err)
	}

	_, err = base.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + e.AccountID() + ":role/unknown"), RoleSessionName: aws.String("x")})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("unknown role: %v", err)
	}
}

// A role's trust policy decides who may assume it, besides the caller's
// own policy: a principal it does not name is refused as AWS refuses it.
func TestAWSEmulatorRoleTrust(t *testing.T) {
	e, url := start(t)
	workerID, workerSecret := e.AddAdmin()
	otherID, otherSecret := e.AddAdmin()
	workerARN := e.UserARN("keyrotor-admin")
	trusted := "arn:aws:iam::210987654321:role/keyrotor"
	e.AddRole(trusted)
	e.SetRoleTrust(trusted, workerARN)
	rootTrusted := "arn:aws:iam::210987654321:role/keyrotor-any"
	e.AddRole(rootTrusted)
	e.SetRoleTrust(rootTrusted, "arn:aws:iam::"+e.AccountID()+":root")
	ctx := context.Background()
	tests := []struct {
		name        string
		id          string
		secret      model.Secret
		role        string
		wantRefusal bool
	}{
		{"the principal the trust names", workerID, workerSecret, trusted, false},
		{"another principal of the same account", otherID, otherSecret, trusted, true},
		{"any principal of a trusted account root", otherID, otherSecret, rootTrusted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stsWith(url, tt.id, tt.secret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String("rotation")})
			if tt.wantRefusal {
				if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "is not authorized to perform: sts:AssumeRole on resource: "+tt.role) {
					t.Fatalf("want AccessDenied naming the role, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAWSEmulatorFaults(t *testing.T) {
	tests := []struct {
		name       string
		rule       faults.Rule
		attempts   int // SDK attempts allowed
		wantCode   string
		wantStatus int
		wantRetry  string // Retry-After header seen by the SDK
		wantCalls  int
	}{
		{"503 then success", faults.Rule{Op: "ListAccessKeys", Status: 503, Times: 1}, 3, "", 0, "", 2},
		{"429 with Retry-After", faults.Rule{Op: "ListAccessKeys", Status: 429, RetryAfter: 2 * time.Second}, 1, "Throttling", 429, "2", 1},
		{"429 retried by the SDK", faults.Rule{Op: "ListAccessKeys", Status: 429, Times: 2}, 3, "", 0, "", 3},
		{"fault on another action", faults.Rule{Op: "CreateAccessKey", Status: 500}, 1, "", 0, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, url := start(t)
			adminID, adminSecret := e.AddAdmin()
			e.AddUser("ci")
			e.Faults.Add(tt.rule)
			c := iamWith(url, adminID, adminSecret)
			_, err := c.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("ci")},
				func(o *iam.Options) { o.RetryMaxAttempts = tt.attempts })
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantCode != "" {
				var re *awshttp.ResponseError
				if !errors.As(err, &re) {
					t.Fatalf("no HTTP response in %v", err)
				}
				if re.HTTPStatusCode() != tt.wantStatus || re.Response.Header.Get("Retry-After") != tt.wantRetry {
					t.Errorf("status %d Retry-After %q, want %d %q", re.HTTPStatusCode(), re.Response.Header.Get("Retry-After"), tt.wantStatus, tt.wantRetry)
				}
			}
			if got := e.Faults.Calls()["ListAccessKeys"]; got != tt.wantCalls {
				t.Errorf("ListAccessKeys calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestAWSEmulatorRejectsUnsigned(t *testing.T) {
	_, url := start(t)
	resp, err := http.Post(url, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest { // no Action: InvalidAction
		t.Errorf("status = %d", resp.StatusCode)
	}
	resp, err = http.Post(url+"/?Action=GetCallerIdentity&Version=2011-06-15", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GetCallerIdentity: status = %d, want 403", resp.StatusCode)
	}
}

// A request signed correctly and then altered in transit is refused: the
// signature covers the body and the signed headers.
func TestAWSEmulatorTamperedRequest(t *testing.T) {
	e, url := start(t)
	id, secret := e.AddAdmin()
	e.AddUser("ci")
	e.AddUser("other")
	tests := []struct {
		name     string
		tamper   func(r *http.Request)
		wantCode int
	}{
		{"untouched", func(*http.Request) {}, http.StatusOK},
		{"body changed", func(r *http.Request) {
			body := "Action=ListAccessKeys&UserName=cx&Version=2010-05-08"
			r.Body = io.NopCloser(strings.NewReader(body))
			r.GetBody = nil
		}, http.StatusForbidden},
		{"signed header changed", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusForbidden},
		{"signing date changed", func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().Add(time.Hour).UTC().Format(amzDateFormat))
		}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "Action=ListAccessKeys&UserName=ci&Version=2010-05-08"
			req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			sum := sha256.Sum256([]byte(body))
			creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret.Reveal()}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			tt.tamper(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantCode, out)
			}
			if tt.wantCode == http.StatusForbidden && !strings.Contains(string(out), "<Code>SignatureDoesNotMatch</Code>") {
				t.Errorf("body: %s", out)
			}
		})
	}
}

// IAM user names are unique without regard to case, every call may name the
// user either way, and answers carry the name as it was created.
func TestAWSEmulatorUserNamesIgnoreCase(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	arn := e.AddUser("CI-Deployer")
	if again := e.AddUser("ci-deployer"); again != arn {
		t.Fatalf("AddUser with another case made a second user: %s, %s", arn, again)
	}
	k := mustKey(t, e, "ci-DEPLOYER")
	c := iamWith(url, adminID, adminSecret)
	ctx := context.Background()
	out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ci-deployer")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AccessKeyMetadata) != 1 || aws.ToString(out.AccessKeyMetadata[0].UserName) != "CI-Deployer" || aws.ToString(out.AccessKeyMetadata[0].AccessKeyId) != k.ID {
		t.Fatalf("ListAccessKeys: %+v", out.AccessKeyMetadata)
	}
	who, err := stsWith(url, k.ID, k.Secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != arn || !strings.HasSuffix(arn, ":user/CI-Deployer") {
		t.Fatalf("GetCallerIdentity = %v, %v; want %s", aws.ToString(who.Arn), err, arn)
	}
	if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("CI-DEPLOYER"), AccessKeyId: aws.String(k.ID)}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Keys("ci-deployer")); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}

// CreateDate has one-second resolution in IAM: the emulator stores what it
// answers, so a key's listed CreateDate and its state agree.
func TestAWSEmulatorCreateDateSeconds(t *testing.T) {
	clock := &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)}
	e, url := start(t, WithClock(clock.Now))
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("ci")
	out, err := iamWith(url, adminID, adminSecret).CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String("ci")})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := aws.ToTime(out.AccessKey.CreateDate); !got.Equal(want) {
		t.Errorf("CreateDate = %v, want %v", got, want)
	}
	if s := e.Keys("ci")[0]; !s.CreatedAt.Equal(want) {
		t.Errorf("Keys CreatedAt = %v, want %v", s.CreatedAt, want)
	}
}
