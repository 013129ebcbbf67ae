// Package devstack brings up what a rotation needs on one machine: the IAM/STS,
// GitHub and GitLab emulators over real HTTP, seeded with users and targets,
// and a Temporal dev server. The demo and the end-to-end tests share it.
package devstack

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
	"github.com/keyrotor/keyrotor/internal/emulator/gitlabemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Region the emulated account lives in.
const Region = "us-east-1"

// Emulators are the three provider emulators, each behind its own HTTP server.
type Emulators struct {
	AWS    *awsemu.Emulator
	GitHub *githubemu.Emulator
	GitLab *gitlabemu.Emulator

	AWSURL, GitHubURL, GitLabURL string

	// The rotator's own credentials and tokens, made up at start.
	AdminKeyID  string
	AdminSecret model.Secret
	GitHubToken model.Secret
	GitLabToken model.Secret

	// kinds are the other target kinds' emulators, by provider (see
	// kinds.go; each kind's file has a typed accessor).
	kinds map[string]any
	// kindEnv are the variables the other kinds' connections read.
	kindEnv []string

	servers []*httptest.Server
}

// adminUser is the rotator's own IAM user in the emulator (AddAdmin's
// first).
const adminUser = "keyrotor-admin"

// StartEmulators starts the emulators on loopback ports.
func StartEmulators() *Emulators {
	e := &Emulators{
		AWS:         awsemu.New(),
		GitHubToken: model.Secret("ghp_" + randomHex(18)),
		GitLabToken: model.Secret("glpat-" + randomHex(10)),
	}
	e.GitHub = githubemu.New(e.GitHubToken.Reveal())
	e.GitLab = gitlabemu.New(e.GitLabToken.Reveal())
	// Quotas far above any test's needs: the workers pace themselves to
	// the quota the headers report, and the tests and the demo are not
	// about GitHub's 5,000 an hour (the quota tests set their own).
	e.GitHub.SetQuota(1_000_000, time.Hour)
	e.GitLab.SetQuota(1_000_000, time.Minute)
	e.AdminKeyID, e.AdminSecret = e.AWS.AddAdmin() // user adminUser
	e.AWSURL = e.serve(e.AWS.Handler())
	e.GitHubURL = e.serve(e.GitHub.Handler()) + "/"
	e.GitLabURL = e.serve(e.GitLab.Handler()) + "/api/v4"
	e.kinds = map[string]any{}
	for _, h := range kindHarnesses {
		h.start(e)
		if h.env != nil {
			e.kindEnv = append(e.kindEnv, h.env(e)...)
		}
	}
	return e
}

func (e *Emulators) serve(h http.Handler) string {
	s := httptest.NewServer(h)
	e.servers = append(e.servers, s)
	return s.URL
}

// Close stops the emulators' servers.
func (e *Emulators) Close() {
	for _, s := range e.servers {
		s.CloseClientConnections()
		s.Close()
	}
}

// DemoTargets are the five targets the demo user's key goes to: one of
// every kind.
func DemoTargets() []model.Target {
	return []model.Target{
		{Kind: model.GitHubRepository, Repository: "acme/api"},
		{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"},
		{Kind: model.GitHubOrganization, Organization: "acme", Visibility: model.VisibilitySelected, Repositories: []string{"api", "web"}},
		{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
		{Kind: model.GitLabGroup, Group: "acme", EnvironmentScope: "*", Masked: true},
	}
}

// SeedUser creates the IAM user with one active key (the key to rotate) and
// makes every target's repository, environment, organization, project or
// group exist.
func (e *Emulators) SeedUser(user string, targets []model.Target) (model.NewAccessKey, error) {
	e.AWS.AddUser(user)
	for _, t := range targets {
		e.SeedTarget(t)
	}
	return e.AWS.CreateKey(user)
}

// SeedTarget makes the target's scope exist (idempotent).
func (e *Emulators) SeedTarget(t model.Target) {
	switch t.Kind {
	case model.GitHubRepository:
		e.GitHub.AddRepo(t.Repository)
	case model.GitHubEnvironment:
		e.GitHub.AddRepo(t.Repository)
		e.GitHub.AddEnvironment(t.Repository, t.Environment)
	case model.GitHubOrganization:
		e.GitHub.AddOrg(t.Organization)
		for _, r := range t.Repositories {
			e.GitHub.AddRepo(t.Organization + "/" + r)
		}
	case model.GitLabProject:
		e.GitLab.AddProject(t.Project)
	case model.GitLabGroup:
		e.GitLab.AddGroup(t.Group)
	case model.AWSSecretsManager:
		// A secret must exist before values are put into it; the SSM
		// parameter is made by the first push.
		if _, ok := e.AWS.SecretValue(Region, t.AWSSecret.SecretID); !ok {
			if _, err := e.AWS.PutSecret(Region, t.AWSSecret.SecretID, "{}"); err != nil {
				panic(fmt.Sprintf("seed secret %s: %v", t.AWSSecret.SecretID, err))
			}
		}
	default:
		if h := harnessOf(t.Kind.Provider()); h != nil {
			h.seed(e, t)
		}
	}
}

// Env is the environment a worker process needs to reach the emulators:
// the AWS SDK's standard variables and the token variables the generated
// configuration reads.
func (e *Emulators) Env() []string {
	return append([]string{
		"AWS_ENDPOINT_URL_IAM=" + e.AWSURL,
		"AWS_ENDPOINT_URL_STS=" + e.AWSURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.AWSURL,
		"AWS_ENDPOINT_URL_SSM=" + e.AWSURL,
		"AWS_ACCESS_KEY_ID=" + e.AdminKeyID,
		"AWS_SECRET_ACCESS_KEY=" + e.AdminSecret.Reveal(),
		"AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"KEYROTOR_GITHUB_TOKEN=" + e.GitHubToken.Reveal(),
		"KEYROTOR_GITLAB_TOKEN=" + e.GitLabToken.Reveal(),
	}, e.kindEnv...)
}

// WriteEnv writes Env and the extra NAME=value pairs to dir/env as shell
// exports, readable by its owner only (it holds the emulators' credentials,
// made up for this run), so that a shell that sources it runs bin/starter
// and bin/worker against these emulators. It returns the file's path.
func (e *Emulators) WriteEnv(dir string, extra ...string) (string, error) {
	var b strings.Builder
	b.WriteString("# The environment of bin/starter and bin/worker for this run's emulators\n")
	b.WriteString("# and dev server: . " + filepath.Join(dir, "env") + "\n")
	for _, kv := range append(e.Env(), extra...) {
		name, value, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(value))
	}
	path := filepath.Join(dir, "env")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	// WriteFile sets the mode only on a file it creates.
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("chmod %s: %w", path, err)
	}
	return path, nil
}

// shellQuote quotes s for a POSIX shell: in single quotes, each single
// quote closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// LookupEnv resolves the variables of Env, for loading the generated
// configuration in process without touching the process environment.
func (e *Emulators) LookupEnv(name string) (string, bool) {
	for _, kv := range e.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return "", false
}

// AWSOptions point an in-process AWS SDK at the emulator with the rotator's
// credentials, the same as Env does for a separate process.
func (e *Emulators) AWSOptions() []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(Region),
		awsconfig.WithBaseEndpoint(e.AWSURL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(e.AdminKeyID, e.AdminSecret.Reveal(), "")),
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithSharedCredentialsFiles([]string{}),
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// AddGitHubApp registers a GitHub App with the GitHub emulator and writes
// its private key (made up now, PKCS#1 PEM) into dir.
func (e *Emulators) AddGitHubApp(dir string, appID, installationID int64) (*GitHubApp, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "github-app.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return nil, err
	}
	e.GitHub.AddApp(appID, &key.PublicKey, installationID)
	return &GitHubApp{AppID: appID, InstallationID: installationID, PrivateKeyFile: path}, nil
}
