package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const appHead = "accounts: [{name: p, region: us-east-1}]\nrotations: [{user: u, account: p, targets: [{github: {repository: a/b}}]}]\n"

func TestGitHubApp(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want *GitHubApp // nil: no app
	}{
		{"absolute path", "github:\n  app:\n    appId: 123456\n    installationId: 7890123\n    privateKeyFile: /etc/keys/app.pem\n",
			&GitHubApp{AppID: 123456, InstallationID: 7890123, PrivateKeyFile: "/etc/keys/app.pem"}},
		{"relative to the config file", "github: {app: {appId: 1, installationId: 2, privateKeyFile: keys/app.pem}}\n",
			&GitHubApp{AppID: 1, InstallationID: 2, PrivateKeyFile: "/etc/keyrotor/keys/app.pem"}},
		{"from the environment", "github: {app: {appId: 1, installationId: 2, privateKeyFile: '${KEYDIR}/app.pem'}}\n",
			&GitHubApp{AppID: 1, InstallationID: 2, PrivateKeyFile: "/run/secrets/app.pem"}},
		{"IDs beyond int32", "github: {app: {appId: 1_000_000, installationId: 5000000000, privateKeyFile: /k.pem}}\n",
			&GitHubApp{AppID: 1000000, InstallationID: 5000000000, PrivateKeyFile: "/k.pem"}},
		{"token only", "github: {token: '${T}'}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("/etc/keyrotor/k.yaml", []byte(appHead+tt.src), env(map[string]string{"KEYDIR": "/run/secrets", "T": "t"}))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != 0 {
				t.Errorf("warnings: %q", cfg.Warnings)
			}
			got := cfg.GitHub.App
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("App = %+v, want nil", got)
			case tt.want != nil && got == nil:
				t.Errorf("App = nil, want %+v", tt.want)
			case tt.want != nil && (got.AppID != tt.want.AppID || got.InstallationID != tt.want.InstallationID || got.PrivateKeyFile != tt.want.PrivateKeyFile):
				t.Errorf("App = %+v, want %+v", got, tt.want)
			}
			if tt.want != nil && cfg.GitHub.Token != "" {
				t.Errorf("Token set with an App")
			}
		})
	}
}

func TestGitHubAppErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error, in this order
	}{
		{"token and app", "github:\n  token: ${T}\n  app: {appId: 1, installationId: 2, privateKeyFile: k.pem}\n",
			[]string{"t.yaml:3:3: github: token and app are mutually exclusive"}},
		{"empty token and app", "github:\n  token:\n  app: {appId: 1, installationId: 2, privateKeyFile: k.pem}\n",
			[]string{"t.yaml:3:3: github: token and app are mutually exclusive"}},
		{"empty app", "github:\n  app:\n", []string{
			"t.yaml:2:3: github.app.appId: is required",
			"t.yaml:2:3: github.app.installationId: is required",
			"t.yaml:2:3: github.app.privateKeyFile: is required",
		}},
		{"app not a mapping", "github:\n  app: 123\n", []string{"t.yaml:2:8: github.app: must be a mapping, not an integer"}},
		{"bad IDs", "github:\n  app:\n    appId: 0\n    installationId: -5\n    privateKeyFile: k.pem\n", []string{
			"t.yaml:3:12: github.app.appId: must be a positive integer (the App ID shown on the App's settings page), not 0",
			"t.yaml:4:21: github.app.installationId: must be a positive integer",
		}},
		{"ID types", "github:\n  app:\n    appId: '123'\n    installationId: 1.5\n    privateKeyFile: k.pem\n", []string{
			"t.yaml:3:12: github.app.appId: must be a positive integer (the App ID shown on the App's settings page), not a string",
			"t.yaml:4:21: github.app.installationId: must be a positive integer (the number at the end of the installation's settings URL), not a number",
		}},
		{"ID out of range", "github: {app: {appId: 99999999999999999999, installationId: 1, privateKeyFile: k.pem}}\n",
			[]string{"t.yaml:1:23: github.app.appId: must be a positive integer"}},
		{"empty key file", "github:\n  app: {appId: 1, installationId: 2, privateKeyFile: ''}\n",
			[]string{"t.yaml:2:54: github.app.privateKeyFile: must not be empty"}},
		{"key file type", "github:\n  app: {appId: 1, installationId: 2, privateKeyFile: [a]}\n",
			[]string{"t.yaml:2:54: github.app.privateKeyFile: must be a string, not a list"}},
		{"unknown app field", "github:\n  app:\n    appId: 1\n    installationId: 2\n    privateKey: k.pem\n", []string{
			"t.yaml:3:5: github.app.privateKeyFile: is required",
			`t.yaml:5:5: github.app.privateKey: unknown field "privateKey"; known fields: appId, installationId, privateKeyFile`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src), env(map[string]string{"T": "t"}))
			if err == nil {
				t.Fatal("no error")
			}
			want := withRotationsError(tt.src, tt.want)
			msg := err.Error()
			rest := msg
			for _, w := range want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("error does not contain (in order) %q:\n%s", w, msg)
					continue
				}
				rest = rest[i+len(w):]
			}
			if n := strings.Count(msg, "\n") + 1; n != len(want) {
				t.Errorf("%d errors, want %d:\n%s", n, len(want), msg)
			}
		})
	}
}

// testRSAKey is generated once: 2048-bit generation is slow under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckWorkerGitHubApp(t *testing.T) {
	dir := t.TempDir()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(testRSAKey())
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, "pkcs1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testRSAKey()))
	writePEM(t, dir, "pkcs8.pem", "PRIVATE KEY", pkcs8)
	writePEM(t, dir, "ec.pem", "PRIVATE KEY", ecDER)
	writePEM(t, dir, "garbage.pem", "RSA PRIVATE KEY", []byte("TOPSECRET-not-der"))
	if err := os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("TOPSECRET key material\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	app := func(file string) string {
		return appHead + "github:\n  app:\n    appId: 1\n    installationId: 2\n    privateKeyFile: " + file + "\n"
	}
	tests := []struct {
		name, src string
		want      []string
	}{
		{"PKCS#1", app("pkcs1.pem"), nil},
		{"PKCS#8", app("pkcs8.pem"), nil},
		{"absolute", app(filepath.Join(dir, "pkcs1.pem")), nil},
		{"missing", app("missing.pem"), []string{"k.yaml:7:21: github.app.privateKeyFile: cannot read " + filepath.Join(dir, "missing.pem") + ": no such file or directory"}},
		{"a directory", app("."), []string{"github.app.privateKeyFile: cannot read " + dir + ": is a directory"}},
		{"not PEM", app("plain.txt"), []string{filepath.Join(dir, "plain.txt") + ": not a PEM file"}},
		{"not DER", app("garbage.pem"), []string{filepath.Join(dir, "garbage.pem") + `: the PEM block "RSA PRIVATE KEY" is not an RSA private key`}},
		{"not RSA", app("ec.pem"), []string{filepath.Join(dir, "ec.pem") + ": the PEM block holds a *ecdsa.PrivateKey, not an RSA private key"}},
		{"unset variable", app("${NOPE}"), []string{"k.yaml:7:21: github.app.privateKeyFile: is empty: the worker needs the GitHub App's private key; set NOPE"}},
		{"checked without github targets", "github:\n  app: {appId: 1, installationId: 2, privateKeyFile: missing.pem}\naccounts: [{name: p, region: us-east-1}]\ngitlab: {token: x}\nrotations: [{user: u, account: p, targets: [{gitlab: {group: g}}]}]\n",
			[]string{"cannot read " + filepath.Join(dir, "missing.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(filepath.Join(dir, "k.yaml"), []byte(tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkWorkerWants(t, cfg, tt.want); err != nil && strings.Contains(err.Error(), "TOPSECRET") {
				t.Errorf("key file content in the error: %v", err)
			}
		})
	}
}

// The commented App block of the example must load once uncommented in
// place of the token.
func TestExampleGitHubApp(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "  token: ${GITHUB_TOKEN}"):
			continue
		case strings.HasPrefix(line, "  # app:"), strings.HasPrefix(line, "  #   "):
			line = "  " + strings.TrimPrefix(line, "  # ")
		}
		out = append(out, line)
	}
	cfg, err := Parse("example.yaml", []byte(strings.Join(out, "\n")), exampleEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	app := cfg.GitHub.App
	if app == nil || app.AppID != 123456 || app.InstallationID != 7890123 || app.PrivateKeyFile != "/etc/keyrotor/github-app.pem" || cfg.GitHub.Token != "" {
		t.Errorf("GitHub = %+v, App = %+v", cfg.GitHub, app)
	}
}

// CheckWorker keeps the key it checked, so the worker signs with that key
// without reading the file again; the kept key never prints.
func TestPrivateKeyPEMReadOnce(t *testing.T) {
	dir := t.TempDir()
	file := writePEM(t, dir, "app.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testRSAKey()))
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(filepath.Join(dir, "k.yaml"), []byte(appHead+"github: {app: {appId: 1, installationId: 2, privateKeyFile: app.pem}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg.GitHub.App
	if got, err := app.PrivateKeyPEM(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("before CheckWorker: PrivateKeyPEM = %d bytes, %v; want the file's %d bytes", len(got), err, len(want))
	}
	if err := cfg.CheckWorker(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got, err := app.PrivateKeyPEM(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after CheckWorker, file removed: PrivateKeyPEM = %d bytes, %v; want the checked %d bytes", len(got), err, len(want))
	}
	if s := fmt.Sprintf("%v %+v %#v", app, app, app); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("the key prints: %s", s)
	}
}
