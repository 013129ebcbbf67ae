package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// validate --oidc-hints prints, per target, the IAM OIDC provider, the
// role's trust policy and what the pipeline sets, as text and as JSON;
// the text is checked against testdata/oidc-hints.golden.txt (rewrite it
// with go test ./starter -run TestValidateOIDCHints -update).
func TestValidateOIDCHints(t *testing.T) {
	cfg := filepath.Join("..", "internal", "preflight", "testdata", "oidc.yaml")
	var text bytes.Buffer
	require.NoError(t, validateCmd(context.Background(), []string{"--config", cfg, "--oidc-hints"}, &text))
	golden := filepath.Join("testdata", "oidc-hints.golden.txt")
	if *updateGolden {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, text.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), text.String())

	var js bytes.Buffer
	require.NoError(t, validateCmd(context.Background(), []string{"--config", cfg, "--oidc-hints", "--output", "json"}, &js))
	var hints []map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &hints))
	require.NotEmpty(t, hints)
	require.Equal(t, "github acme/api", hints[0]["target"])

	err = validateCmd(context.Background(), []string{"--config", cfg, "--oidc-hints", "--output", "yaml"}, &js)
	require.ErrorContains(t, err, `--output "yaml": want text or json`)
}
