package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/model"
)

// CallerARN signs GetCallerIdentity with the given key, as a pipeline's
// first AWS call would, and returns who STS says it is.
func (e *Emulators) CallerARN(id, secret string) (string, error) {
	c := sts.New(sts.Options{
		Region:       Region,
		BaseEndpoint: aws.String(e.AWSURL),
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

// TargetValues reads the key ID and secret a target holds (GitHub's are
// decrypted by the emulator).
func (e *Emulators) TargetValues(t model.Target, names model.SecretNames) (id, secret string) {
	switch t.Kind {
	case model.GitHubRepository, model.GitHubEnvironment, model.GitHubOrganization:
		scope := t.Repository
		switch t.Kind {
		case model.GitHubEnvironment:
			scope += "@" + t.Environment
		case model.GitHubOrganization:
			scope = "org:" + t.Organization
		}
		id, _, _ = e.GitHub.Secret(scope, names.AccessKeyID)
		secret, _, _ = e.GitHub.Secret(scope, names.SecretAccessKey)
	case model.AWSSecretsManager, model.AWSSSMParameter:
		var value model.Secret
		if t.Kind == model.AWSSecretsManager {
			value, _ = e.AWS.SecretValue(Region, t.AWSSecret.SecretID)
		} else if p, ok := e.AWS.Parameter(Region, t.AWSSecret.Parameter); ok {
			value = p.Value
		}
		var m map[string]string
		if json.Unmarshal([]byte(value.Reveal()), &m) == nil {
			id, secret = m[names.AccessKeyID], m[names.SecretAccessKey]
		}
	case model.GitLabProject, model.GitLabGroup:
		scope := "project:" + t.Project
		if t.Kind == model.GitLabGroup {
			scope = "group:" + t.Group
		}
		env := t.EnvironmentScope
		if env == "" {
			env = "*"
		}
		v1, _ := e.GitLab.Variable(scope, names.AccessKeyID, env)
		v2, _ := e.GitLab.Variable(scope, names.SecretAccessKey, env)
		id, secret = v1.Value, v2.Value
	default:
		if h := harnessOf(t.Kind.Provider()); h != nil {
			id, secret = h.values(e, t, names)
		}
	}
	return id, secret
}

// CheckRotated checks the end state keyrotor promises after a rotation:
// exactly one key, the new one, active; every target holds it; it signs as
// the user; the old key is refused. It returns the checks that passed, or
// the first that failed.
func (e *Emulators) CheckRotated(user, newKeyID string, old model.NewAccessKey, targets []model.Target) ([]string, error) {
	var passed []string
	keys := e.AWS.Keys(user)
	if len(keys) != 1 || keys[0].ID != newKeyID || keys[0].Status != model.KeyActive {
		return passed, fmt.Errorf("user %s should have exactly one active key, %s; has %v", user, newKeyID, keys)
	}
	passed = append(passed, fmt.Sprintf("user %s has exactly one key, the new %s, and it is active", user, newKeyID))
	var secret string
	for _, t := range targets {
		id, s := e.TargetValues(t, model.DefaultSecretNames)
		if id != newKeyID || s == "" || (secret != "" && s != secret) {
			return passed, fmt.Errorf("%s does not hold the new key %s (holds %q)", t, newKeyID, id)
		}
		secret = s
	}
	passed = append(passed, fmt.Sprintf("all %d targets hold the new key ID and the same secret", len(targets)))
	arn, err := e.CallerARN(newKeyID, secret)
	if err != nil || arn != e.AWS.UserARN(user) {
		return passed, fmt.Errorf("the pushed key does not sign as %s: %v %s", user, err, arn)
	}
	passed = append(passed, "STS accepts the pushed key as "+arn)
	if _, err := e.CallerARN(old.ID, old.Secret.Reveal()); err == nil {
		return passed, fmt.Errorf("the old key %s still works", old.ID)
	}
	passed = append(passed, "STS refuses the old key "+old.ID)
	return passed, nil
}
