package activities

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

var (
	smTarget  = model.Target{Kind: model.AWSSecretsManager, AWSSecret: &model.AWSSecretTarget{Account: iamTestAccount, SecretID: "ci/deployer"}}
	ssmTarget = model.Target{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: iamTestAccount, Parameter: "/ci/deployer"}}
)

// newAWSSecretsEnv wires the kind to the emulator with the given
// credentials, over real HTTP and the real SDK clients.
func newAWSSecretsEnv(t *testing.T, id string, secret model.Secret) (*iamEnv, *AWSSecrets) {
	e := newIAMEnv(t)
	if id == "" {
		id, secret = e.emu.AddAdmin()
	}
	c := e.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount, Region: "eu-west-1"})
	rs := testRotations{{Account: iamTestAccount, User: iamTestUser, SecretNames: model.DefaultSecretNames, Targets: []model.Target{smTarget, ssmTarget}}}
	return e, NewAWSSecrets(c, testSealer(), rs)
}

func TestAWSSecretsPushAndReadBack(t *testing.T) {
	e, a := newAWSSecretsEnv(t, "", "")
	_, err := e.emu.PutSecret("eu-west-1", "ci/deployer", `{"other":"x"}`)
	require.NoError(t, err)
	key := model.NewAccessKey{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "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"}
	for _, tg := range []model.Target{smTarget, ssmTarget} {
		t.Run(tg.String(), func(t *testing.T) {
			in := PushInput{Account: iamTestAccount, User: iamTestUser, Target: tg, Key: sealKey(key)}
			res, err := a.push(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, ConfirmedReadBack, res.ConfirmedBy)
			require.Equal(t, 2, res.Calls, "one write, one read-back")
			var stored model.Secret
			if tg.Kind == model.AWSSecretsManager {
				stored, _ = e.emu.SecretValue("eu-west-1", "ci/deployer")
			} else {
				p, ok := e.emu.Parameter("eu-west-1", "/ci/deployer")
				require.True(t, ok)
				require.Equal(t, "SecureString", p.Type)
				stored = p.Value
			}
			var m map[string]string
			require.NoError(t, json.Unmarshal([]byte(stored.Reveal()), &m))
			require.Equal(t, map[string]string{"AWS_ACCESS_KEY_ID": key.ID, "AWS_SECRET_ACCESS_KEY": key.Secret.Reveal()}, m)

			// A retry of the same push (its answer lost) changes nothing:
			// Secrets Manager takes the same request token as the same version.
			_, err = a.push(context.Background(), in)
			require.NoError(t, err)
		})
	}
	versions := e.emu.SecretVersions("eu-west-1", "ci/deployer")
	require.Len(t, versions, 2, "the seeded version and one for the key, however often it is pushed")
}

func TestAWSSecretsErrors(t *testing.T) {
	key := model.NewAccessKey{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "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"}
	t.Run("missing secret", func(t *testing.T) {
		_, a := newAWSSecretsEnv(t, "", "")
		_, err := a.push(context.Background(), PushInput{Account: iamTestAccount, User: iamTestUser, Target: smTarget, Key: sealKey(key)})
		requireAppError(t, err, TypeNotFound, true)
		require.Contains(t, err.Error(), "aws-secretsmanager "+iamTestAccount+":ci/deployer: it does not exist (ResourceNotFoundException)")
	})
	t.Run("denied by policy", func(t *testing.T) {
		e := newIAMEnv(t)
		id, secret := e.emu.AddPrincipalWithPolicy("narrow", awsemu.Statement{Actions: []string{"ssm:GetParameter"}, Resources: []string{"*"}})
		c := e.clientsFor(t, id, secret, clients.AWSAccount{Name: iamTestAccount, Region: "eu-west-1"})
		a := NewAWSSecrets(c, testSealer(), testRotations{{Account: iamTestAccount, User: iamTestUser, Targets: []model.Target{ssmTarget}}})
		_, err := a.push(context.Background(), PushInput{Account: iamTestAccount, User: iamTestUser, Target: ssmTarget, Key: sealKey(key)})
		requireAppError(t, err, TypeUnauthorized, true)
		require.NotContains(t, err.Error(), key.Secret.Reveal())
		require.Contains(t, err.Error(), "aws-ssm "+iamTestAccount+":/ci/deployer")
		check := a.check(context.Background(), ssmTarget)
		require.True(t, check.OK, "GetParameter is allowed: %s", check.Detail)
	})
	t.Run("a target the worker does not have", func(t *testing.T) {
		_, a := newAWSSecretsEnv(t, "", "")
		other := model.Target{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: iamTestAccount, Parameter: "/elsewhere"}}
		_, err := a.push(context.Background(), PushInput{Account: iamTestAccount, User: iamTestUser, Target: other, Key: sealKey(key)})
		requireAppError(t, err, TypeNotConfigured, true)
	})
	t.Run("check a missing secret", func(t *testing.T) {
		_, a := newAWSSecretsEnv(t, "", "")
		c := a.check(context.Background(), smTarget)
		require.False(t, c.OK)
		require.True(t, strings.HasPrefix(c.Detail, "DescribeSecret: ResourceNotFoundException"), c.Detail)
	})
}

func requireAppError(t *testing.T, err error, typ string, final bool) {
	t.Helper()
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, typ, app.Type(), err.Error())
	require.Equal(t, final, app.NonRetryable())
}
