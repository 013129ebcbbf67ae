package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"

	kconfig "github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// AWSAccount is one AWS account keyrotor rotates keys in.
type AWSAccount struct {
	Name    string // the account's name in the configuration
	Region  string // signing region; the loaded default (AWS_REGION, profile) when empty
	RoleARN string // role to assume in the account; the base credentials are used when empty
}

// IAMAPI is the part of the IAM client the rotation activities call. It is
// declared here rather than in package activities so that *AWS satisfies
// activities.IAMClients without this package importing activities (the
// activities import clients, not the other way round); activities aliases it.
type IAMAPI interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// STSAPI is the part of the STS client the Verify activity calls.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// fallbackRegion is used when neither the account nor the environment names
// a region: IAM is a global service signed for us-east-1, and STS answers
// there too.
const fallbackRegion = "us-east-1"

// AWS builds IAM and STS clients per configured account.
type AWS struct {
	accounts map[string]*awsAccount
}

type awsAccount struct {
	AWSAccount
	cfg     aws.Config // region and credentials (assumed role, if any) of the account
	iam     *iam.Client
	secrets *secretsmanager.Client
	ssm     *ssm.Client
}

// NewAWS loads the default SDK configuration once (environment variables
// such as AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL_IAM and
// AWS_ENDPOINT_URL_STS, shared config files, instance roles; optFns can
// override any of it) and derives one configuration per account.
func NewAWS(ctx context.Context, accounts []AWSAccount, optFns ...func(*config.LoadOptions) error) (*AWS, error) {
	// The SDK's own transport keeps 10 idle connections per host; a
	// fleet's rotations call IAM and STS from many activities at once.
	pool := config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	}))
	base, err := config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{pool, config.WithLogger(sdkLogger{})}, optFns...)...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	a := &AWS{accounts: make(map[string]*awsAccount, len(accounts))}
	for _, acct := range accounts {
		if acct.Name == "" {
			return nil, errors.New("AWS account without a name")
		}
		if _, dup := a.accounts[acct.Name]; dup {
			return nil, fmt.Errorf("AWS account %q configured twice", acct.Name)
		}
		cfg := accountConfig(base, acct)
		a.accounts[acct.Name] = &awsAccount{AWSAccount: acct, cfg: cfg, iam: iam.NewFromConfig(cfg, adaptiveRetries),
			secrets: secretsmanager.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg)}
	}
	return a, nil
}

// sdkLogger hands the AWS SDK's own log lines (such as its warning that an
// instance's metadata service fell back to IMDSv1) to slog's default logger,
// so that they come out in the worker's format (--log-format json) and not
// as plain "SDK <time> WARN" lines on stderr. The SDK logs requests and
// responses only when a client's log mode asks for them, which keyrotor
// never sets: they would carry signed headers and keys' secrets.
type sdkLogger struct{}

func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	slog.Default().Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}

// NewAWSForConfig builds clients for the accounts of cfg, with NewAWS: what
// the worker, the starter's AWS commands and the checks all connect with.
func NewAWSForConfig(ctx context.Context, cfg *kconfig.Config, optFns ...func(*config.LoadOptions) error) (*AWS, error) {
	accounts := make([]AWSAccount, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		accounts[i] = AWSAccount{Name: a.Name, Region: a.Region, RoleARN: a.RoleARN}
	}
	return NewAWS(ctx, accounts, optFns...)
}

// adaptiveRetries gives an account's IAM client the SDK's adaptive retry
// mode: IAM throttles each account's requests (400 Throttling), publishes
// no rate and sends no quota headers, so the client learns the rate from
// the throttles themselves and holds its requests to it (a token bucket
// per client, so per account, shared by every rotation of the worker).
func adaptiveRetries(o *iam.Options) {
	o.Retryer = retry.NewAdaptiveMode()
}

// accountConfig copies the base configuration with the account's region
// and, when a role is configured, credentials from assuming it with the base
// credentials (cached and refreshed before they expire).
func accountConfig(base aws.Config, acct AWSAccount) aws.Config {
	cfg := base.Copy()
	if acct.Region != "" {
		cfg.Region = acct.Region
	}
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	if acct.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), acct.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "keyrotor-" + acct.Name
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg
}

func (a *AWS) account(name string) (*awsAccount, error) {
	acct, ok := a.accounts[name]
	if !ok {
		return nil, fmt.Errorf("AWS account %q is not configured", name)
	}
	return acct, nil
}

// Accounts returns the configured account names (in no particular order).
func (a *AWS) Accounts() []string {
	out := make([]string, 0, len(a.accounts))
	for name := range a.accounts {
		out = append(out, name)
	}
	return out
}

// Config returns the account's SDK configuration (region and credentials resolved).
func (a *AWS) Config(account string) (aws.Config, error) {
	acct, err := a.account(account)
	if err != nil {
		return aws.Config{}, err
	}
	return acct.cfg.Copy(), nil
}

// IAM returns the account's IAM client, signed with the rotator's credentials.
func (a *AWS) IAM(_ context.Context, account string) (IAMAPI, error) {
	acct, err := a.account(account)
	if err != nil {
		return nil, err
	}
	return acct.iam, nil
}

// SecretsManagerAPI is the part of Secrets Manager an aws-secretsmanager
// target uses.
type SecretsManagerAPI interface {
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// SSMAPI is the part of SSM Parameter Store an aws-ssm target uses.
type SSMAPI interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretsManager returns the account's Secrets Manager client (endpoint:
// AWS_ENDPOINT_URL_SECRETS_MANAGER, like any SDK).
func (a *AWS) SecretsManager(account string) (SecretsManagerAPI, error) {
	acct, err := a.account(account)
	if err != nil {
		return nil, err
	}
	return acct.secrets, nil
}

// SSM returns the account's SSM client (endpoint: AWS_ENDPOINT_URL_SSM).
func (a *AWS) SSM(account string) (SSMAPI, error) {
	acct, err := a.account(account)
	if err != nil {
		return nil, err
	}
	return acct.ssm, nil
}

// STSWithKey returns an STS client for the account that signs with the given
// key and nothing else: no fallback to the environment's or the role's
// credentials, so a successful call proves the key itself works. Region and
// endpoint resolution are the account's.
func (a *AWS) STSWithKey(_ context.Context, account string, key model.NewAccessKey) (STSAPI, error) {
	acct, err := a.account(account)
	if err != nil {
		return nil, err
	}
	if key.ID == "" || key.Secret.Reveal() == "" {
		return nil, fmt.Errorf("AWS account %q: access key ID or secret missing", account)
	}
	cfg := acct.cfg.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key.ID, key.Secret.Reveal(), "")
	return sts.NewFromConfig(cfg), nil
}
