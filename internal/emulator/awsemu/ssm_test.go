package awsemu

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/model"
)

// ssmFor returns a constructor of clients signing with a given key, so
// that ssmFor(url)(e.AddAdmin()) reads as one call.
func ssmFor(url string) func(string, model.Secret) *ssm.Client {
	return func(id string, secret model.Secret) *ssm.Client {
		return ssm.NewFromConfig(sdkConfig(url, static(id, secret)))
	}
}

func getParam(c *ssm.Client, name string, decrypt bool) (*ssmtypes.Parameter, error) {
	out, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(decrypt)})
	if err != nil {
		return nil, err
	}
	return out.Parameter, nil
}

func TestSSMPutGet(t *testing.T) {
	e, url := start(t)
	c := ssmFor(url)(e.AddAdmin())
	ctx := context.Background()
	keyID := accessKeyPrefix + randomID(16)
	secret := randomSecret()
	arnPrefix := "arn:aws:ssm:" + testRegion + ":" + e.AccountID() + ":parameter/"

	steps := []struct {
		name        string
		in          ssm.PutParameterInput
		wantErr     any // pointer to the typed error, nil for success
		wantVersion int64
	}{
		{"create String", ssm.PutParameterInput{Name: aws.String("/ci/github/key-id"), Value: aws.String(keyID), Type: ssmtypes.ParameterTypeString}, nil, 1},
		{"create SecureString", ssm.PutParameterInput{Name: aws.String("/ci/github/secret"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString}, nil, 1},
		{"exists without Overwrite", ssm.PutParameterInput{Name: aws.String("/ci/github/secret"), Value: aws.String("other"), Type: ssmtypes.ParameterTypeSecureString}, new(*ssmtypes.ParameterAlreadyExists), 0},
		{"overwrite", ssm.PutParameterInput{Name: aws.String("/ci/github/key-id"), Value: aws.String(keyID), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}, nil, 2},
		{"overwrite keeps the type when none is given", ssm.PutParameterInput{Name: aws.String("/ci/github/key-id"), Value: aws.String(keyID), Overwrite: aws.Bool(true)}, nil, 3},
		{"a new parameter needs a type", ssm.PutParameterInput{Name: aws.String("/ci/untyped"), Value: aws.String("v")}, new(*ssmtypes.ValidationException), 0},
		{"KeyId on a String", ssm.PutParameterInput{Name: aws.String("/ci/plain"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, KeyId: aws.String(ssmManagedAlias)}, new(*ssmtypes.ValidationException), 0},
		{"unknown KMS alias", ssm.PutParameterInput{Name: aws.String("/ci/enc"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String("alias/nope")}, new(*ssmtypes.InvalidKeyId), 0},
		{"unknown KMS key", ssm.PutParameterInput{Name: aws.String("/ci/enc"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String(uuid())}, new(*ssmtypes.InvalidKeyId), 0},
		{"too long for Standard", ssm.PutParameterInput{Name: aws.String("/ci/big"), Value: aws.String(strings.Repeat("x", 4097)), Type: ssmtypes.ParameterTypeString}, new(*ssmtypes.ValidationException), 0},
		{"Advanced takes it", ssm.PutParameterInput{Name: aws.String("/ci/big"), Value: aws.String(strings.Repeat("x", 4097)), Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierAdvanced}, nil, 1},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.PutParameter(ctx, &tt.in)
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error = %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantTier := ssmtypes.ParameterTierStandard
			if tt.in.Tier != "" {
				wantTier = tt.in.Tier
			}
			if out.Version != tt.wantVersion || out.Tier != wantTier {
				t.Errorf("Version %d Tier %s, want %d %s", out.Version, out.Tier, tt.wantVersion, wantTier)
			}
		})
	}

	reads := []struct {
		name      string
		ref       string
		decrypt   bool
		wantValue string
		wantType  ssmtypes.ParameterType
		wantVer   int64
		wantErr   any
	}{
		{"String", "/ci/github/key-id", false, keyID, ssmtypes.ParameterTypeString, 3, nil},
		{"String by ARN", arnPrefix + "ci/github/key-id", false, keyID, ssmtypes.ParameterTypeString, 3, nil},
		{"an old version", "/ci/github/key-id:1", false, keyID, ssmtypes.ParameterTypeString, 1, nil},
		{"a version that never was", "/ci/github/key-id:9", false, "", "", 0, new(*ssmtypes.ParameterVersionNotFound)},
		{"SecureString decrypted", "/ci/github/secret", true, secret, ssmtypes.ParameterTypeSecureString, 1, nil},
		{"unknown", "/ci/nope", false, "", "", 0, new(*ssmtypes.ParameterNotFound)},
		{"another region's ARN", "arn:aws:ssm:us-east-1:" + e.AccountID() + ":parameter/ci/github/key-id", false, "", "", 0, new(*ssmtypes.ParameterNotFound)},
	}
	for _, tt := range reads {
		t.Run("get "+tt.name, func(t *testing.T) {
			p, err := getParam(c, tt.ref, tt.decrypt)
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error = %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(p.Value) != tt.wantValue || p.Type != tt.wantType || p.Version != tt.wantVer {
				t.Errorf("got %s v%d, want %s v%d (value differs: %t)", p.Type, p.Version, tt.wantType, tt.wantVer, aws.ToString(p.Value) != tt.wantValue)
			}
			if !strings.HasPrefix(aws.ToString(p.ARN), arnPrefix+"ci/github/") || p.LastModifiedDate == nil || aws.ToString(p.DataType) != "text" {
				t.Errorf("ARN %s LastModifiedDate %v DataType %s", aws.ToString(p.ARN), p.LastModifiedDate, aws.ToString(p.DataType))
			}
		})
	}

	st, ok := e.Parameter(testRegion, "/ci/github/secret")
	if !ok || st.Value.Reveal() != secret || st.Type != paramSecureString || st.Version != 1 || st.KeyID != ssmManagedAlias || st.ARN != arnPrefix+"ci/github/secret" {
		t.Errorf("Parameter: %+v, %t", st, ok)
	}
	if _, ok := e.Parameter(testRegion, "/ci/enc"); ok {
		t.Error("a put refused for its KMS key stored a parameter")
	}
	if _, err := getParam(ssm.NewFromConfig(sdkConfig(url, c.Options().Credentials), func(o *ssm.Options) { o.Region = "us-east-1" }), "/ci/github/key-id", false); !errors.As(err, new(*ssmtypes.ParameterNotFound)) {
		t.Errorf("parameters are regional: %v", err)
	}
}

// A SecureString read without decryption answers the ciphertext: base64,
// shaped like a KMS blob, and nothing of the plaintext.
func TestSSMSecureStringWithoutDecryption(t *testing.T) {
	e, url := start(t)
	c := ssmFor(url)(e.AddAdmin())
	secret := randomSecret()
	if v, err := e.PutParameter(testRegion, "/ci/secret", paramSecureString, secret); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	first, err := getParam(c, "/ci/secret", false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := getParam(c, "/ci/secret", false)
	if err != nil {
		t.Fatal(err)
	}
	value := aws.ToString(first.Value)
	blob, err := base64.StdEncoding.DecodeString(value)
	if err != nil || !strings.HasPrefix(value, "AQICAH") || len(blob) <= len(secret) {
		t.Errorf("ciphertext is not KMS-shaped: %d bytes, %v", len(blob), err)
	}
	if strings.Contains(value, secret) || strings.Contains(string(blob), secret) {
		t.Error("the ciphertext holds the plaintext")
	}
	if aws.ToString(again.Value) != value {
		t.Error("one version reads as two ciphertexts")
	}
	plain, err := getParam(c, "/ci/secret", true)
	if err != nil || aws.ToString(plain.Value) != secret {
		t.Errorf("with decryption: %v", err)
	}
}

func TestSSMParameterNames(t *testing.T) {
	e, url := start(t)
	c := ssmFor(url)(e.AddAdmin())
	ctx := context.Background()
	deep := "/" + strings.Repeat("l/", 15) + "name"

	tests := []struct {
		name     string
		param    string
		wantCode string
	}{
		{"hierarchical", "/ci/github/key_id-1.0", ""},
		{"top level", "TopLevel", ""},
		{"fifteen levels", "/" + strings.Repeat("l/", 14) + "name", ""},
		{"space inside", "/ci/key id", "ValidationException"},
		{"not fully qualified", "ci/key", "ValidationException"},
		{"empty level", "/ci//key", "ValidationException"},
		{"trailing slash", "/ci/key/", "ValidationException"},
		{"other characters", "/ci/key:x", "ValidationException"},
		{"non-ASCII", "/ci/clé", "ValidationException"},
		{"aws prefix", "awsKey", "ValidationException"},
		{"ssm prefix, any case", "SSM-key", "ValidationException"},
		{"ssm path", "/ssm/key", "ValidationException"},
		{"aws path is reserved", "/AWS/key", "AccessDeniedException"},
		{"sixteen levels", deep, "HierarchyLevelLimitExceededException"},
		{"an ARN", "arn:aws:ssm:" + testRegion + ":" + e.AccountID() + ":parameter/ci/key", "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(tt.param), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantCode == "ValidationException" && !errors.As(err, new(*ssmtypes.ValidationException)) {
				t.Errorf("not a typed ValidationException: %v", err)
			}
			var re *awshttp.ResponseError
			if err != nil && (!errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest) {
				t.Errorf("want HTTP 400, got %v", err)
			}
		})
	}

	// "/TopLevel" and "TopLevel" are one parameter.
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/TopLevel"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString}); !errors.As(err, new(*ssmtypes.ParameterAlreadyExists)) {
		t.Errorf("/TopLevel after TopLevel: %v", err)
	}
	if p, err := getParam(c, "/TopLevel", false); err != nil || aws.ToString(p.Name) != "TopLevel" {
		t.Errorf("/TopLevel: %v", err)
	}
	if _, err := e.PutParameter(testRegion, "ci/key", paramString, "v"); err == nil {
		t.Error("seeding accepted a bad name")
	}
}

// A least-privilege writer may put parameters under its path and no other;
// a customer managed KMS key needs kms:Encrypt to write a SecureString and
// kms:Decrypt to read it decrypted, which the AWS managed key does not.
func TestSSMPolicy(t *testing.T) {
	e, url := start(t)
	admin := ssmFor(url)(e.AddAdmin())
	ctx := context.Background()
	keyARN := e.AddKMSKey(testRegion, "alias/ci")
	paramARN := "arn:aws:ssm:" + testRegion + ":" + e.AccountID() + ":parameter/"
	if _, err := admin.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/ci/cmk"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
	c := ssmFor(url)(e.AddPrincipalWithPolicy("writer",
		Statement{Actions: []string{"ssm:PutParameter", "ssm:GetParameter"}, Resources: []string{"arn:aws:ssm:*:" + e.AccountID() + ":parameter/ci/*"}},
	))
	withKMS := ssmFor(url)(e.AddPrincipalWithPolicy("writer-kms",
		Statement{Actions: []string{"ssm:PutParameter", "ssm:GetParameter"}, Resources: []string{paramARN + "ci/*"}},
		Statement{Actions: []string{"kms:Encrypt", "kms:Decrypt"}, Resources: []string{keyARN}},
	))
	put := func(c *ssm.Client, name, keyID string) error {
		in := &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(randomSecret()), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}
		if keyID != "" {
			in.KeyId = aws.String(keyID)
		}
		_, err := c.PutParameter(ctx, in)
		return err
	}
	get := func(c *ssm.Client, name string, decrypt bool) error {
		_, err := getParam(c, name, decrypt)
		return err
	}

	tests := []struct {
		name     string
		call     func() error
		wantCode string
		wantMsg  string
	}{
		{"put under its path", func() error { return put(c, "/ci/github/secret", "") }, "", ""},
		{"read back", func() error { return get(c, "/ci/github/secret", true) }, "", ""},
		{"put elsewhere", func() error { return put(c, "/prod/secret", "") }, "AccessDeniedException",
			"User: " + e.UserARN("writer") + " is not authorized to perform: ssm:PutParameter on resource: " + paramARN + "prod/secret because no identity-based policy allows the ssm:PutParameter action"},
		{"read elsewhere", func() error { return get(c, "/prod/secret", false) }, "AccessDeniedException", "ssm:GetParameter on resource: " + paramARN + "prod/secret"},
		{"customer managed key without kms:Encrypt", func() error { return put(c, "/ci/cmk", "alias/ci") }, "AccessDeniedException", "kms:Encrypt on resource: " + keyARN},
		{"read without decryption needs no key", func() error { return get(c, "/ci/cmk", false) }, "", ""},
		{"decrypt without kms:Decrypt", func() error { return get(c, "/ci/cmk", true) }, "AccessDeniedException", "kms:Decrypt on resource: " + keyARN},
		{"customer managed key with kms permissions", func() error {
			if err := put(withKMS, "/ci/cmk", "alias/ci"); err != nil {
				return err
			}
			return get(withKMS, "/ci/cmk", true)
		}, "", ""},
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
	if st, _ := e.Parameter(testRegion, "/ci/cmk"); st.Version != 2 || st.KeyID != "alias/ci" {
		t.Errorf("/ci/cmk: version %d key %s, want 2 alias/ci", st.Version, st.KeyID)
	}
	if _, ok := e.Parameter(testRegion, "/prod/secret"); ok {
		t.Error("a refused put stored a parameter")
	}
}

// The JSON services are told apart by X-Amz-Target, and a request must be
// signed for the service it targets.
func TestJSONProtocolRouting(t *testing.T) {
	e, url := start(t)
	id, secret := e.AddAdmin()
	tests := []struct {
		name     string
		target   string
		sign     string // credential-scope service; "" for unsigned
		wantCode int
		wantType string
	}{
		{"signed for ssm", "AmazonSSM.GetParameter", "ssm", http.StatusBadRequest, "ParameterNotFound"},
		{"signed for another service", "AmazonSSM.GetParameter", "secretsmanager", http.StatusBadRequest, "InvalidSignatureException"},
		{"unsigned", "secretsmanager.GetSecretValue", "", http.StatusBadRequest, "MissingAuthenticationTokenException"},
		{"unknown operation", "AmazonSSM.DeleteEverything", "ssm", http.StatusBadRequest, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"Name":"/ci/nope","SecretId":"nope"}`
			req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", jsonContentType)
			req.Header.Set("X-Amz-Target", tt.target)
			if tt.sign != "" {
				sum := sha256.Sum256([]byte(body))
				creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret.Reveal()}
				if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), tt.sign, testRegion, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc struct {
				Type string `json:"__type"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode || doc.Type != tt.wantType || resp.Header.Get("Content-Type") != jsonContentType {
				t.Errorf("status %d type %q content type %q, want %d %q", resp.StatusCode, doc.Type, resp.Header.Get("Content-Type"), tt.wantCode, tt.wantType)
			}
		})
	}
}
