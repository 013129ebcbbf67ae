package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAWSTargets(t *testing.T) {
	base := "accounts:\n  - {name: prod, region: us-east-1}\nrotations:\n  - user: u\n    account: prod\n    targets:\n"
	cfg, err := Parse("k.yaml", []byte(base+
		"      - aws-secretsmanager: {account: prod, secretId: ci/deployer}\n"+
		"      - aws-ssm: {account: prod, parameter: /ci/deployer, kmsKeyId: alias/ci}\n"), nil)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, "aws-secretsmanager prod:ci/deployer", ts[0].String())
	require.Equal(t, "aws-ssm prod:/ci/deployer", ts[1].String())
	require.Equal(t, "alias/ci", ts[1].AWSSecret.KMSKeyID)
	require.Equal(t, "aws", ts[1].Kind.Provider())

	tests := []struct{ name, target, want string }{
		{"unknown account", "aws-ssm: {account: dev, parameter: /a}", `k.yaml:7:9: rotations[0].targets[0].aws-ssm: unknown account "dev"; accounts: prod`},
		{"no secret", "aws-secretsmanager: {account: prod}", "rotations[0].targets[0].aws-secretsmanager.secretId: is required"},
		{"bad parameter", "aws-ssm: {account: prod, parameter: 'a b'}", `aws-ssm.parameter: "a b" is not an SSM parameter name`},
		{"reserved parameter", "aws-ssm: {account: prod, parameter: /aws/x}", `aws-ssm.parameter: "/aws/x": SSM refuses names that begin with aws or ssm`},
		{"empty kms key", "aws-ssm: {account: prod, parameter: /a, kmsKeyId: ''}", "aws-ssm.kmsKeyId: must not be empty (leave it out for alias/aws/ssm)"},
		{"unknown field", "aws-ssm: {account: prod, parameter: /a, secretId: x}", `aws-ssm.secretId: unknown field "secretId"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(base+"      - "+tc.target+"\n"), nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
