package activities

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	ghAppID          = 123456
	ghInstallationID = 7890123
	exchangeOp       = "POST /app/installations/7890123/access_tokens"
)

// ghAppKey is generated at run time (no key file is ever committed), once:
// 2048-bit generation is slow under -race.
var ghAppKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func pkcs8PEM(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// appActivity builds the activity on the worker's GitHub App client.
func (e *ghEnv) appActivity(t *testing.T, baseURL string, keyPEM []byte) *GitHub {
	t.Helper()
	c, err := clients.NewGitHubAppClient(baseURL, ghAppID, ghInstallationID, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return NewGitHub(c, testSealer(), pushConfig(model.SecretNames{}, repoTarget, envTarget, orgTarget))
}

// TestGitHubAppPush pushes to every kind of target as a GitHub App
// installation: the emulator decrypts the right values, and ghinstallation
// fetches the installation token once for all the calls.
func TestGitHubAppPush(t *testing.T) {
	tests := []struct {
		name   string
		prefix string // "" or GHES's /api/v3
		key    func(t *testing.T) []byte
	}{
		{"PKCS#1 key, github.com-style root", "/", func(*testing.T) []byte { return pkcs1PEM(ghAppKey()) }},
		{"PKCS#8 key, GHES-style root", "/api/v3/", func(t *testing.T) []byte { return pkcs8PEM(t, ghAppKey()) }},
		{"root without trailing slash", "/api/v3", func(*testing.T) []byte { return pkcs1PEM(ghAppKey()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGHEnv(t, nil)
			env.emu.AddApp(ghAppID, &ghAppKey().PublicKey, ghInstallationID)
			act := env.appActivity(t, env.srv.URL+tt.prefix, tt.key(t))
			before := time.Now()
			calls := 0
			for _, target := range []model.Target{repoTarget, envTarget, orgTarget} {
				res, err := act.PushGitHubSecret(context.Background(), pushInput(target))
				if err != nil {
					t.Fatalf("push to %s: %v", target, err)
				}
				calls += res.Calls
			}
			for _, scope := range []string{"acme/api", "acme/web@production", "org:acme"} {
				assertStored(t, env.emu, scope, "AWS_ACCESS_KEY_ID", ghKeyID, before)
				assertStored(t, env.emu, scope, "AWS_SECRET_ACCESS_KEY", ghKeySecret, before)
			}
			got := env.emu.Faults.Calls()
			if got[exchangeOp] != 1 {
				t.Errorf("%s called %d times, want once for %d API calls: %v", exchangeOp, got[exchangeOp], calls, got)
			}
			if total := env.emu.Faults.Total(); total != calls+1 {
				t.Errorf("emulator counted %d calls, want the pushes' %d plus the exchange", total, calls)
			}
		})
	}
}

// TestGitHubAppRefused checks a refused token exchange (a regenerated key,
// an uninstalled App) stops the rotation like a bad token, instead of
// being retried as a network failure, and never shows the key.
func TestGitHubAppRefused(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(*ghEnv)
	}{
		{"key regenerated on GitHub", func(e *ghEnv) { e.emu.AddApp(ghAppID, &other.PublicKey, ghInstallationID) }},
		{"App not installed", func(e *ghEnv) { e.emu.AddApp(ghAppID, &ghAppKey().PublicKey, 1) }},
		{"unknown App", func(*ghEnv) {}},
	}
	keyPEM := pkcs1PEM(ghAppKey())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newGHEnv(t, nil)
			tt.setup(env)
			_, err := env.appActivity(t, env.srv.URL+"/", keyPEM).PushGitHubSecret(context.Background(), pushInput(repoTarget))
			if err == nil {
				t.Fatal("push succeeded")
			}
			t.Logf("error: %v", err)
			assertSafeError(t, err, repoTarget.String())
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) || ae.Type() != TypeUnauthorized || !ae.NonRetryable() {
				t.Fatalf("want non-retryable %s, got %T %v", TypeUnauthorized, err, err)
			}
			if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "installation token for GitHub App 123456") {
				t.Errorf("error does not say the exchange was refused: %v", err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "Bearer") {
				t.Errorf("error shows key material or the JWT: %v", err)
			}
			if n := env.emu.Faults.Total(); n != 1 {
				t.Errorf("%d calls, want only the refused exchange: %v", n, env.emu.Faults.Calls())
			}
		})
	}
}
