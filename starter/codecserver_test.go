package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The codec server refuses at start a token the Web UI could not send in
// the endpoint's path, and says which setting holds it.
func TestCodecServerToken(t *testing.T) {
	const (
		good = "6f1c0a9e4b7d2c3e8f5a1b0c9d8e7f6a"
		bad  = "q3/Zx9k2LmN0pQrStUvWxYz012345+7=" // base64, as the README used to suggest
	)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		env     string
		want    string // the token, or a fragment of the error
		wantErr bool
	}{
		{"file", write("good.token", good+"\n"), "", good, false},
		{"environment", "", good, good, false},
		{"file wins", write("good2.token", good), bad, good, false},
		{"base64 file", write("bad.token", bad+"\n"), "", "--token-file " + filepath.Join(dir, "bad.token") + ": the token (32 characters) holds characters that are not safe in a URL path", true},
		{"base64 environment", "", bad, envCodecServerToken + ": the token (32 characters) holds characters that are not safe in a URL path", true},
		{"empty file", write("empty.token", "\n"), "", "is empty", true},
		{"none", "", "", "no access token: set " + envCodecServerToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := codecServerToken(tt.file, func(string) string { return tt.env })
			if !tt.wantErr {
				if err != nil || tok.Reveal() != tt.want {
					t.Fatalf("token %v, %v", tok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "Zx9k2") {
				t.Errorf("the error shows the token: %v", err)
			}
			if !strings.Contains(err.Error(), "openssl rand -hex 32") {
				t.Errorf("the error does not say how to make a token: %v", err)
			}
		})
	}
}
