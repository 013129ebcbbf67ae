package preflight

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestOIDCHintsGolden checks the hints for one target of every kind the
// test configuration has against testdata/oidc.golden.json (rewrite it
// with go test -run TestOIDCHintsGolden -update).
func TestOIDCHintsGolden(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "oidc.yaml"))
	require.NoError(t, err)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(OIDCHints(cfg)))
	got := buf.Bytes()
	golden := filepath.Join("testdata", "oidc.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	for _, h := range OIDCHints(cfg) {
		if h.Applicable {
			require.Contains(t, string(h.TrustPolicy), "arn:aws:iam::123456789012:oidc-provider/", "the account ID comes from the account's roleArn")
		}
	}
}
