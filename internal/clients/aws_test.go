package clients

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAWSLogsThroughSlog: the SDK's own warnings reach slog's default
// logger, in its format, not the SDK's plain lines on stderr. Without
// credentials in the environment the SDK's chain ends at the instance
// metadata service, here one that refuses IMDSv2's token, so the SDK warns
// that it falls back to IMDSv1.
func TestAWSLogsThroughSlog(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}))
	defer imds.Close()
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(name, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)

	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logged, nil)))
	defer slog.SetDefault(prev)

	a, err := NewAWS(context.Background(), []AWSAccount{{Name: "prod", Region: "us-east-1"}})
	require.NoError(t, err)
	cfg, err := a.Config("prod")
	require.NoError(t, err)
	_, err = cfg.Credentials.Retrieve(context.Background())
	require.Error(t, err, "no credentials anywhere")
	require.Contains(t, logged.String(), `"level":"WARN"`)
	require.Contains(t, logged.String(), `IMDSv1`)
	require.Contains(t, logged.String(), `"source":"aws-sdk"`)
}
