package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// AWSSecretStores reaches a configured account's Secrets Manager and SSM
// Parameter Store (*clients.AWS implements it).
type AWSSecretStores interface {
	SecretsManager(account string) (clients.SecretsManagerAPI, error)
	SSM(account string) (clients.SSMAPI, error)
}

// AWSSecrets pushes the key into an AWS Secrets Manager secret or an SSM
// SecureString parameter, as one JSON value holding both halves, so the
// pair can never be torn: {"AWS_ACCESS_KEY_ID": …, "AWS_SECRET_ACCESS_KEY": …}
// (the rotation's secret names). The value is read back and compared.
type AWSSecrets struct {
	kindBase
	stores AWSSecretStores
}

// NewAWSSecrets returns the aws-secretsmanager and aws-ssm kinds.
func NewAWSSecrets(stores AWSSecretStores, s Sealer, rs Rotations, opts ...Option) *AWSSecrets {
	return &AWSSecrets{kindBase: newKindBase("aws", rs, s, opts), stores: stores}
}

var _ TargetKind = (*AWSSecrets)(nil)

func (a *AWSSecrets) kinds() []model.TargetKind {
	return []model.TargetKind{model.AWSSecretsManager, model.AWSSSMParameter}
}

// push takes 2 calls: the write (PutSecretValue or PutParameter) and the
// read-back (GetSecretValue or GetParameter with decryption).
func (a *AWSSecrets) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		t := p.req.Target.AWSSecret
		if t == nil {
			return "", nonRetryable(TypeValidation, p.target+": not an AWS secret target", nil)
		}
		value, err := secretJSON(p)
		if err != nil {
			return "", err
		}
		judge := a.judge(p)
		var read func(ctx context.Context) (string, error)
		switch p.req.Target.Kind {
		case model.AWSSecretsManager:
			c, err := a.stores.SecretsManager(t.Account)
			if err != nil {
				return "", nonRetryable(TypeNotConfigured, p.target+": "+err.Error(), nil)
			}
			put := &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(t.SecretID), SecretString: aws.String(value.Reveal()),
				// The same token for the same key: a retried put whose
				// answer was lost makes no second version.
				ClientRequestToken: aws.String(requestToken(p)),
			}
			if err := p.write(t.SecretID, func(ctx context.Context) error { _, err := c.PutSecretValue(ctx, put); return err }, judge); err != nil {
				return "", err
			}
			read = func(ctx context.Context) (string, error) {
				out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.SecretID), VersionStage: aws.String("AWSCURRENT")})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.SecretString), nil
			}
		case model.AWSSSMParameter:
			c, err := a.stores.SSM(t.Account)
			if err != nil {
				return "", nonRetryable(TypeNotConfigured, p.target+": "+err.Error(), nil)
			}
			put := &ssm.PutParameterInput{
				Name: aws.String(t.Parameter), Value: aws.String(value.Reveal()),
				Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
				Description: aws.String("Managed by keyrotor: rotated automatically"),
			}
			if t.KMSKeyID != "" {
				put.KeyId = aws.String(t.KMSKeyID)
			}
			if err := p.write(t.Parameter, func(ctx context.Context) error { _, err := c.PutParameter(ctx, put); return err }, judge); err != nil {
				return "", err
			}
			read = func(ctx context.Context) (string, error) {
				out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(t.Parameter), WithDecryption: aws.Bool(true)})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.Parameter.Value), nil
			}
		default:
			return "", nonRetryable(TypeValidation, p.target+": not an AWS secret target", nil)
		}
		var got string
		if err := p.call(ctx, func(ctx context.Context) (err error) { got, err = read(ctx); return err }, judge); err != nil {
			return "", err
		}
		if !holdsKey(got, p) {
			return "", p.notConfirmed("the value read back does not hold the new key")
		}
		return ConfirmedReadBack, nil
	})
}

// secretJSON is the value an AWS secret target holds.
func secretJSON(p *pushRun) (model.Secret, error) {
	n := withDefaultNames(p.req.SecretNames)
	if n.AccessKeyID == n.SecretAccessKey {
		return "", nonRetryable(TypeValidation, p.target+": the key ID and the secret need different names", nil)
	}
	b, err := json.Marshal(map[string]string{n.AccessKeyID: p.req.Key.ID, n.SecretAccessKey: p.req.Key.Secret.Reveal()})
	if err != nil {
		return "", nonRetryable(TypeValidation, p.target+": cannot encode the value", nil)
	}
	return model.Secret(b), nil
}

// holdsKey reports whether a value read back holds the pair being pushed.
func holdsKey(got string, p *pushRun) bool {
	n := withDefaultNames(p.req.SecretNames)
	var m map[string]string
	return json.Unmarshal([]byte(got), &m) == nil && m[n.AccessKeyID] == p.req.Key.ID && m[n.SecretAccessKey] == p.req.Key.Secret.Reveal()
}

// requestToken is Secrets Manager's idempotency token for this key and
// target: 32 to 64 characters.
func requestToken(p *pushRun) string {
	sum := sha256.Sum256([]byte(p.target))
	return "keyrotor-" + p.req.Key.ID + "-" + hex.EncodeToString(sum[:8])
}

// judge classifies an AWS error in the one vocabulary: missing resource,
// refused credentials and invalid input are final and name the target;
// throttling waits; the rest is retried.
func (a *AWSSecrets) judge(p *pushRun) func(error) failure {
	return func(err error) failure {
		msg := p.target + ": " + p.redactor().clean(err.Error())
		if iamThrottled(err) {
			return failure{err: rateLimited(msg, iamRetryDelay(err), nil), wait: iamRetryDelay(err)}
		}
		switch code := iamErrorCode(err); code {
		case "ResourceNotFoundException", "ParameterNotFound":
			return failure{err: nonRetryable(TypeNotFound, p.target+": it does not exist ("+code+"); create it, or fix the target", nil)}
		case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException",
			"MissingAuthenticationTokenException", "InvalidClientTokenId", "EncryptionFailure", "DecryptionFailure":
			return failure{err: nonRetryable(TypeUnauthorized, msg, nil)}
		case "ValidationException", "InvalidParameterException", "InvalidRequestException", "InvalidKeyId",
			"ParameterAlreadyExists", "ResourceExistsException", "HierarchyLevelLimitExceededException",
			"ParameterMaxVersionLimitExceeded", "LimitExceededException":
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 && re.HTTPStatusCode() != http.StatusRequestTimeout {
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		}
		return failure{err: fmt.Errorf("%s", msg), transient: true}
	}
}

// check reads the target's metadata: DescribeSecret for a secret, and for
// a parameter GetParameter without decryption (a parameter not yet made is
// fine: the push creates it).
func (a *AWSSecrets) check(ctx context.Context, t model.Target) TargetCheck {
	s := t.AWSSecret
	if s == nil {
		return TargetCheck{Detail: "not an AWS secret target"}
	}
	var err error
	switch t.Kind {
	case model.AWSSecretsManager:
		var c clients.SecretsManagerAPI
		if c, err = a.stores.SecretsManager(s.Account); err == nil {
			_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.SecretID)})
		}
		if err != nil {
			return TargetCheck{Denied: awsDenied(err), Detail: "DescribeSecret: " + iamErrorCodeOr(err) + "; the worker needs secretsmanager:DescribeSecret, PutSecretValue and GetSecretValue on it (and kms:GenerateDataKey, kms:Decrypt for a customer managed key)"}
		}
		return TargetCheck{OK: true, Detail: "the secret exists and its metadata is readable"}
	default:
		var c clients.SSMAPI
		if c, err = a.stores.SSM(s.Account); err == nil {
			_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.Parameter)})
		}
		if err != nil && iamErrorCode(err) != "ParameterNotFound" {
			return TargetCheck{Denied: awsDenied(err), Detail: "GetParameter: " + iamErrorCodeOr(err) + "; the worker needs ssm:PutParameter and ssm:GetParameter on it (and kms:Encrypt, kms:Decrypt for a customer managed key)"}
		}
		return TargetCheck{OK: true, Detail: "the parameter is readable (or does not exist yet: the push creates it)"}
	}
}

func iamErrorCodeOr(err error) string {
	if c := iamErrorCode(err); c != "" {
		return c
	}
	return "no answer"
}

// awsDenied reports an AWS answer that is a final no: access denied, or a
// secret that does not exist.
func awsDenied(err error) bool {
	switch iamErrorCode(err) {
	case "AccessDeniedException", "AccessDenied", "ResourceNotFoundException", "UnrecognizedClientException":
		return true
	}
	return false
}

// plan: one JSON value whose two fields are the secret names, read back.
func (a *AWSSecrets) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: names, ConfirmedBy: ConfirmedReadBack}
	if t.Kind == model.AWSSSMParameter {
		p.Where = "JSON fields of the SecureString parameter's value"
		if t.AWSSecret != nil && t.AWSSecret.KMSKeyID != "" {
			p.Detail = "encrypted with KMS key " + t.AWSSecret.KMSKeyID
		} else {
			p.Detail = "encrypted with alias/aws/ssm"
		}
	} else {
		p.Where = "JSON fields of the secret's value (a new AWSCURRENT version)"
	}
	return p
}
