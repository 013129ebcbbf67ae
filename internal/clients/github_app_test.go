package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
)

func TestNewGitHubAppClientErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "TOPSECRET"
	tests := []struct {
		name    string
		baseURL string
		appID   int64
		key     []byte
		want    string
	}{
		{"base URL", "api.github.com", 1, nil, `github baseURL "api.github.com"`},
		{"app ID", "https://api.github.com/", 0, nil, "appId (0) and installationId (2) must be positive"},
		{"not PEM", "https://api.github.com/", 1, []byte(secret), "github app 1 private key: not PEM-encoded"},
		{"not DER", "https://api.github.com/", 1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte(secret)}),
			`PEM block "RSA PRIVATE KEY" is not an RSA private key in PKCS#1 or PKCS#8 form`},
		{"not RSA", "https://api.github.com/", 1, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
			"PEM block holds a *ecdsa.PrivateKey, not an RSA private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGitHubAppClient(tt.baseURL, tt.appID, 2, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

// A refused exchange arrives as GitHub's *ErrorResponse; a network failure
// stays a transport error (retried by the activities).
func TestGitHubAppClientExchangeErrors(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	emu := githubemu.New("")
	emu.AddRepo("acme/api")
	emu.AddApp(1, &key.PublicKey, 99) // not installation 2
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()

	c, err := NewGitHubAppClient(srv.URL, 1, 2, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Repositories.Get(context.Background(), "acme", "api")
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized || !strings.Contains(er.Message, "GitHub App 1 installation 2") {
		t.Errorf("refused exchange: %T %v, want a 401 *github.ErrorResponse", err, err)
	}

	c, err = NewGitHubAppClient(srv.URL, 1, 99, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Repositories.Get(context.Background(), "acme", "api"); err != nil {
		t.Errorf("installed App: %v", err)
	}

	srv.Close()
	c, err = NewGitHubAppClient(srv.URL, 1, 99, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Repositories.Get(context.Background(), "acme", "api")
	if err == nil || errors.As(err, &er) {
		t.Errorf("server down: %T %v, want a transport error", err, err)
	}
}
