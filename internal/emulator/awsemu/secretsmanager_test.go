package awsemu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// testRegion is the region sdkConfig signs for.
const testRegion = "eu-west-1"

func smWith(url, id string, secret model.Secret) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(sdkConfig(url, static(id, secret)))
}

// smFor returns a constructor of clients signing with a given key, so
// that smFor(url)(e.AddAdmin()) reads as one call.
func smFor(url string) func(string, model.Secret) *secretsmanager.Client {
	return func(id string, secret model.Secret) *secretsmanager.Client { return smWith(url, id, secret) }
}

// keyJSON is a secret value as keyrotor writes one.
func keyJSON(t *testing.T) string {
	t.Helper()
	out, err := json.Marshal(map[string]string{
		"AWS_ACCESS_KEY_ID":     accessKeyPrefix + randomID(16),
		"AWS_SECRET_ACCESS_KEY": randomSecret(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// token is a ClientRequestToken (32 to 64 characters).
func token() string { return uuid() }

func createSecret(t *testing.T, c *secretsmanager.Client, name string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func putSecret(t *testing.T, c *secretsmanager.Client, id, value string) *secretsmanager.PutSecretValueOutput {
	t.Helper()
	out, err := c.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSecretsManagerRoundTrip(t *testing.T) {
	e, url := start(t)
	c := smFor(url)(e.AddAdmin())
	ctx := context.Background()
	created := createSecret(t, c, "ci/github")
	arnRE := regexp.MustCompile(`^arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/github-[A-Za-z0-9]{6}$`)
	if arn := aws.ToString(created.ARN); !arnRE.MatchString(arn) || created.VersionId != nil {
		t.Fatalf("CreateSecret: ARN %q, VersionId %v", arn, created.VersionId)
	}
	arn := aws.ToString(created.ARN)
	value := keyJSON(t)
	put := putSecret(t, c, "ci/github", value)
	if aws.ToString(put.ARN) != arn || aws.ToString(put.Name) != "ci/github" || !slices.Equal(put.VersionStages, []string{stageCurrent}) || aws.ToString(put.VersionId) == "" {
		t.Fatalf("PutSecretValue: %+v", put)
	}

	for _, id := range []string{"ci/github", arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		t.Run("by "+id, func(t *testing.T) {
			got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			var keys map[string]string
			if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &keys); err != nil {
				t.Fatal(err)
			}
			var want map[string]string
			_ = json.Unmarshal([]byte(value), &want)
			if keys["AWS_ACCESS_KEY_ID"] != want["AWS_ACCESS_KEY_ID"] || keys["AWS_SECRET_ACCESS_KEY"] != want["AWS_SECRET_ACCESS_KEY"] {
				t.Error("GetSecretValue returned another value")
			}
			if aws.ToString(got.ARN) != arn || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) ||
				!slices.Equal(got.VersionStages, []string{stageCurrent}) || got.CreatedDate == nil {
				t.Errorf("GetSecretValue: ARN %s version %s stages %v created %v", aws.ToString(got.ARN), aws.ToString(got.VersionId), got.VersionStages, got.CreatedDate)
			}
		})
	}
	binary := []byte{0, 1, 2, 0xff}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/binary"), SecretBinary: binary}); errorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("PutSecretValue before CreateSecret: %v", err)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci/binary"), SecretBinary: binary}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/binary")}); err != nil || !slices.Equal(got.SecretBinary, binary) || got.SecretString != nil {
		t.Errorf("SecretBinary round trip: %v", err)
	}
	if got, ok := e.SecretValue(testRegion, "ci/github"); !ok || got.Reveal() != value {
		t.Error("SecretValue does not hold the value put")
	}
	if got := e.SecretARN(testRegion, "ci/github"); got != arn {
		t.Errorf("SecretARN = %q, want %q", got, arn)
	}
	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("ci/github")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(desc.ARN) != arn || desc.LastAccessedDate == nil || desc.CreatedDate == nil ||
		!slices.Equal(desc.VersionIdsToStages[aws.ToString(put.VersionId)], []string{stageCurrent}) {
		t.Errorf("DescribeSecret: %+v", desc)
	}
}

func TestSecretsManagerStages(t *testing.T) {
	e, url := start(t)
	c := smFor(url)(e.AddAdmin())
	ctx := context.Background()
	createSecret(t, c, "ci/github")
	var ids []string
	for i := range 3 {
		ids = append(ids, aws.ToString(putSecret(t, c, "ci/github", "value-"+string(rune('1'+i))).VersionId))
	}

	tests := []struct {
		name       string
		in         secretsmanager.GetSecretValueInput
		wantValue  string
		wantStages []string
		wantErr    any
	}{
		{"current by default", secretsmanager.GetSecretValueInput{}, "value-3", []string{stageCurrent}, nil},
		{"previous by stage", secretsmanager.GetSecretValueInput{VersionStage: aws.String(stagePrevious)}, "value-2", []string{stagePrevious}, nil},
		{"oldest by ID, no stage left", secretsmanager.GetSecretValueInput{VersionId: aws.String(ids[0])}, "value-1", nil, nil},
		{"ID and stage agree", secretsmanager.GetSecretValueInput{VersionId: aws.String(ids[2]), VersionStage: aws.String(stageCurrent)}, "value-3", []string{stageCurrent}, nil},
		{"ID and stage disagree", secretsmanager.GetSecretValueInput{VersionId: aws.String(ids[0]), VersionStage: aws.String(stageCurrent)}, "", nil, new(*smtypes.ResourceNotFoundException)},
		{"unknown stage", secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPENDING")}, "", nil, new(*smtypes.ResourceNotFoundException)},
		{"unknown version", secretsmanager.GetSecretValueInput{VersionId: aws.String(token())}, "", nil, new(*smtypes.ResourceNotFoundException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.SecretId = aws.String("ci/github")
			got, err := c.GetSecretValue(ctx, &in)
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error = %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.SecretString) != tt.wantValue || !slices.Equal(got.VersionStages, tt.wantStages) {
				t.Errorf("got %q %v, want %q %v", aws.ToString(got.SecretString), got.VersionStages, tt.wantValue, tt.wantStages)
			}
		})
	}

	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("ci/github")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ids[2]: {stageCurrent}, ids[1]: {stagePrevious}}
	if len(desc.VersionIdsToStages) != len(want) {
		t.Fatalf("VersionIdsToStages = %v, want %v", desc.VersionIdsToStages, want)
	}
	for id, stages := range want {
		if !slices.Equal(desc.VersionIdsToStages[id], stages) {
			t.Errorf("version %s: stages %v, want %v", id, desc.VersionIdsToStages[id], stages)
		}
	}
	if vs := e.SecretVersions(testRegion, "ci/github"); len(vs) != 3 || vs[0].ID != ids[0] || len(vs[0].Stages) != 0 || vs[1].Value.Reveal() != "value-2" {
		t.Errorf("SecretVersions: %+v", vs)
	}
}

// A retried PutSecretValue (same token, same value) returns the version it
// made; the same token with another value is refused, as versions are
// immutable. Neither makes a version, and the value is never quoted.
func TestSecretsManagerIdempotencyToken(t *testing.T) {
	e, url := start(t)
	c := smFor(url)(e.AddAdmin())
	ctx := context.Background()
	createSecret(t, c, "ci/github")
	tok, first, second := token(), keyJSON(t), keyJSON(t)
	put := func(tok, value string) (*secretsmanager.PutSecretValueOutput, error) {
		return c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("ci/github"), ClientRequestToken: aws.String(tok), SecretString: aws.String(value),
		})
	}
	orig, err := put(tok, first)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(orig.VersionId) != tok {
		t.Fatalf("VersionId = %q, want the token %q", aws.ToString(orig.VersionId), tok)
	}

	tests := []struct {
		name     string
		tok      string
		value    string
		wantCode string
	}{
		{"same token, same value", tok, first, ""},
		{"same token, other value", tok, second, "ResourceExistsException"},
		{"token too short", "short", second, "ValidationException"},
		{"token too long", strings.Repeat("x", 65), second, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := put(tt.tok, tt.value)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				if strings.Contains(err.Error(), tt.value) || strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
					t.Errorf("the error quotes the secret value")
				}
				return
			}
			if aws.ToString(out.VersionId) != tok || !slices.Equal(out.VersionStages, []string{stageCurrent}) {
				t.Errorf("retry answered %s %v", aws.ToString(out.VersionId), out.VersionStages)
			}
		})
	}
	var exists *smtypes.ResourceExistsException
	if _, err := put(tok, second); !errors.As(err, &exists) {
		t.Errorf("not a typed ResourceExistsException: %v", err)
	}
	if vs := e.SecretVersions(testRegion, "ci/github"); len(vs) != 1 || vs[0].Value.Reveal() != first {
		t.Errorf("%d versions after the retries, want 1 holding the first value", len(vs))
	}
}

func TestSecretsManagerErrors(t *testing.T) {
	e, url := start(t)
	c := smFor(url)(e.AddAdmin())
	ctx := context.Background()
	createSecret(t, c, "empty")
	if _, err := e.PutSecret(testRegion, "ci/github", "v"); err != nil {
		t.Fatal(err)
	}
	otherRegion := "arn:aws:secretsmanager:us-east-1:" + e.AccountID() + ":secret:ci/github"

	tests := []struct {
		name     string
		call     func() error
		wantCode string
		want     any // pointer to the typed error, when the SDK models one
	}{
		{"get unknown", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", new(*smtypes.ResourceNotFoundException)},
		{"put unknown", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("v")})
			return err
		}, "ResourceNotFoundException", new(*smtypes.ResourceNotFoundException)},
		{"describe unknown", func() error {
			_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", new(*smtypes.ResourceNotFoundException)},
		{"ARN of another region", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(otherRegion)})
			return err
		}, "ResourceNotFoundException", new(*smtypes.ResourceNotFoundException)},
		{"secret without a value", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
			return err
		}, "ResourceNotFoundException", new(*smtypes.ResourceNotFoundException)},
		{"create existing", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci/github")})
			return err
		}, "ResourceExistsException", new(*smtypes.ResourceExistsException)},
		{"bad name", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci github")})
			return err
		}, "ValidationException", nil},
		{"string and binary", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("empty"), SecretString: aws.String("v"), SecretBinary: []byte("v")})
			return err
		}, "InvalidParameterException", new(*smtypes.InvalidParameterException)},
		{"no value", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("empty")})
			return err
		}, "InvalidRequestException", new(*smtypes.InvalidRequestException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.want != nil && !errors.As(err, tt.want) {
				t.Errorf("error %v is not a %T", err, tt.want)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
				t.Errorf("want HTTP 400, got %v", err)
			}
		})
	}
	if _, err := e.PutSecret(testRegion, "bad name", "v"); err == nil {
		t.Error("PutSecret accepted a bad name")
	}
}

// A least-privilege rotator may write and read one secret and nothing
// else; an explicit Deny wins over an Allow; a customer managed KMS key
// needs kms: permissions of its own.
func TestSecretsManagerPolicy(t *testing.T) {
	e, url := start(t)
	admin := smFor(url)(e.AddAdmin())
	ctx := context.Background()
	keyARN := e.AddKMSKey(testRegion, "alias/ci")
	for _, name := range []string{"ci/github", "ci/other", "ci/denied"} {
		createSecret(t, admin, name)
	}
	if _, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci/cmk"), KmsKeyId: aws.String("alias/ci")}); err != nil {
		t.Fatal(err)
	}
	prefix := "arn:aws:secretsmanager:" + testRegion + ":" + e.AccountID() + ":secret:"
	c := smFor(url)(e.AddPrincipalWithPolicy("rotator",
		Statement{Actions: []string{"secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"},
			Resources: []string{prefix + "ci/github-??????", prefix + "ci/denied-*", prefix + "ci/cmk-*"}},
		Statement{Deny: true, Actions: []string{"secretsmanager:Get*"}, Resources: []string{prefix + "ci/denied-*"}},
	))
	withKMS := smFor(url)(e.AddPrincipalWithPolicy("rotator-kms",
		Statement{Actions: []string{"secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"}, Resources: []string{prefix + "ci/cmk-*"}},
		Statement{Actions: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resources: []string{keyARN}},
	))
	user := e.UserARN("rotator")

	tests := []struct {
		name     string
		call     func() error
		wantCode string
		wantMsg  string
	}{
		{"put the allowed secret", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/github"), SecretString: aws.String(keyJSON(t))})
			return err
		}, "", ""},
		{"get the allowed secret", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/github")})
			return err
		}, "", ""},
		{"describe is not allowed", func() error {
			_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("ci/github")})
			return err
		}, "AccessDeniedException", "User: " + user + " is not authorized to perform: secretsmanager:DescribeSecret on resource: " + e.SecretARN(testRegion, "ci/github") + " because no identity-based policy allows the secretsmanager:DescribeSecret action"},
		{"put another secret", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/other"), SecretString: aws.String("v")})
			return err
		}, "AccessDeniedException", "secretsmanager:PutSecretValue on resource: " + e.SecretARN(testRegion, "ci/other")},
		{"put an unknown secret", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/nope"), SecretString: aws.String("v")})
			return err
		}, "AccessDeniedException", "on resource: " + prefix + "ci/nope because"},
		{"explicit deny wins", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/denied")})
			return err
		}, "AccessDeniedException", "with an explicit deny in an identity-based policy"},
		{"customer managed key without kms permissions", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/cmk"), SecretString: aws.String("v")})
			return err
		}, "AccessDeniedException", "Access to KMS is not allowed"},
		{"customer managed key with kms permissions", func() error {
			_, err := withKMS.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("ci/cmk"), SecretString: aws.String("v")})
			if err == nil {
				_, err = withKMS.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/cmk")})
			}
			return err
		}, "", ""},
		{"read back without kms:Decrypt", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/cmk")})
			return err
		}, "AccessDeniedException", "Access to KMS is not allowed"},
		{"unknown KMS key", func() error {
			_, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci/bad-key"), KmsKeyId: aws.String("alias/nope"), SecretString: aws.String("v")})
			var ef *smtypes.EncryptionFailure
			if err != nil && !errors.As(err, &ef) {
				t.Errorf("not a typed EncryptionFailure: %v", err)
			}
			return err
		}, "EncryptionFailure", "Alias arn:aws:kms:" + testRegion + ":" + e.AccountID() + ":alias/nope is not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q\ndoes not contain %q", err.Error(), tt.wantMsg)
			}
		})
	}
	if vs := e.SecretVersions(testRegion, "ci/other"); len(vs) != 0 {
		t.Error("a refused PutSecretValue made a version")
	}
	if e.SecretARN(testRegion, "ci/bad-key") != "" {
		t.Error("a CreateSecret that could not encrypt left a secret")
	}
}

// The JSON services refuse bad credentials with their own codes, record
// the key's use under their service, and take injected faults per
// operation like IAM does.
func TestSecretsManagerAuthAndFaults(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	c := smWith(url, adminID, adminSecret)
	ctx := context.Background()
	createSecret(t, c, "ci/github")

	tests := []struct {
		name     string
		client   *secretsmanager.Client
		wantCode string
	}{
		{"wrong secret", smWith(url, adminID, model.Secret(randomSecret())), "InvalidSignatureException"},
		{"unknown key", smWith(url, accessKeyPrefix+randomID(16), model.Secret(randomSecret())), "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("ci/github")})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
	if s := e.Keys("keyrotor-admin")[0]; s.LastService != "secretsmanager" || s.LastRegion != testRegion {
		t.Errorf("LastUsed after a Secrets Manager call: %s in %s", s.LastService, s.LastRegion)
	}

	e.Faults.Add(faults.Rule{Op: "PutSecretValue", Status: http.StatusServiceUnavailable, Times: 1})
	putSecret(t, c, "ci/github", "v") // the SDK retries the 503
	if got := e.Faults.Calls()["PutSecretValue"]; got != 2 {
		t.Errorf("PutSecretValue calls = %d, want 2", got)
	}
	e.Faults.Add(faults.Rule{Op: "GetSecretValue", Status: http.StatusInternalServerError})
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ci/github")},
		func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	var internal *smtypes.InternalServiceError
	if !errors.As(err, &internal) {
		t.Errorf("injected 500: %v, want InternalServiceError", err)
	}
}
