package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The aws-secretsmanager and aws-ssm targets: a Secrets Manager secret or an
// SSM SecureString parameter, in one of the file's accounts (reached with
// its region and roleArn).
var (
	awsSecretsManagerTargetKind = targetKind{
		key:        "aws-secretsmanager",
		fields:     []string{"account", "secretId"},
		read:       (*loader).awsSecretsManagerTarget,
		configured: func(*Config) bool { return true },
		check:      awsTargetAccount,
	}
	awsSSMTargetKind = targetKind{
		key:        "aws-ssm",
		fields:     []string{"account", "parameter", "kmsKeyId"},
		read:       (*loader).awsSSMTarget,
		configured: func(*Config) bool { return true },
		check:      awsTargetAccount,
	}
)

var (
	// smSecretIDRE is a secret name (letters, digits, /_+=.@-) or ARN.
	smSecretIDRE = regexp.MustCompile(`^(?:arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:)?[\w/+=.@-]{1,512}$`)
	// ssmNameRE is a parameter name: letters, digits and _.-/, a
	// hierarchical one starting with /.
	ssmNameRE = regexp.MustCompile(`^/?[\w.-]+(?:/[\w.-]+)*$`)
)

func (l *loader) awsSecretsManagerTarget(fs fields, path string) model.Target {
	t := model.AWSSecretTarget{Account: l.str(fs, "account"), SecretID: l.str(fs, "secretId")}
	l.required(fs, "account", t.Account, accountNameRE, "not an account name")
	l.required(fs, "secretId", t.SecretID, smSecretIDRE, "not a Secrets Manager secret name or ARN")
	return model.Target{Kind: model.AWSSecretsManager, AWSSecret: &t}
}

func (l *loader) awsSSMTarget(fs fields, path string) model.Target {
	t := model.AWSSecretTarget{Account: l.str(fs, "account"), Parameter: l.str(fs, "parameter"), KMSKeyID: l.nonEmpty(fs, "kmsKeyId", " (leave it out for alias/aws/ssm)")}
	l.required(fs, "account", t.Account, accountNameRE, "not an account name")
	if l.required(fs, "parameter", t.Parameter, ssmNameRE, "not an SSM parameter name (letters, digits, _.-/; a path starts with /)") {
		lower := strings.ToLower(strings.TrimPrefix(t.Parameter, "/"))
		if strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
			l.errf(fs.get("parameter").valPos(), join(path, "parameter"), "%q: SSM refuses names that begin with aws or ssm", t.Parameter)
		}
	}
	return model.Target{Kind: model.AWSSSMParameter, AWSSecret: &t}
}

// awsTargetAccount checks that the target's account is one of the file's.
func awsTargetAccount(c *Config, t model.Target) string {
	if _, ok := c.Account(t.AWSSecret.Account); ok {
		return ""
	}
	names := make([]string, len(c.Accounts))
	for i, a := range c.Accounts {
		names[i] = a.Name
	}
	return fmt.Sprintf("unknown account %q; accounts: %s", t.AWSSecret.Account, list(names))
}
