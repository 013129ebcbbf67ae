package clients

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/tfeemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

func TestTerraformClient(t *testing.T) {
	emu := tfeemu.New("atlasv1-token")
	emu.AddWorkspace("acme", "api")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)

	tf := NewTerraform(srv.URL, model.Secret("atlasv1-token"))
	require.Zero(t, emu.Faults.Total(), "nothing is sent before the client is needed")
	c, err := tf.Client()
	require.NoError(t, err)
	again, err := tf.Client()
	require.NoError(t, err)
	require.Same(t, c, again)
	require.Equal(t, map[string]int{"GET /api/v2/ping": 1}, emu.Faults.Calls())

	read := "GET /api/v2/organizations/acme/workspaces/api"
	observe := func() (context.Context, *[]int) {
		var statuses []int
		return ObserveTerraform(context.Background(), func(ex TerraformExchange) { statuses = append(statuses, ex.Status) }), &statuses
	}

	// go-tfe retries a 429 after X-RateLimit-Reset; each exchange is seen.
	emu.Faults.Add(faults.Rule{Op: read, Status: http.StatusTooManyRequests, Header: http.Header{"X-Ratelimit-Reset": {"0.05"}}, Times: 2})
	ctx, statuses := observe()
	ws, err := c.Workspaces.Read(ctx, "acme", "api")
	require.NoError(t, err)
	require.Equal(t, "api", ws.Name)
	require.Equal(t, []int{429, 429, 200}, *statuses)

	// It does not retry a 5xx: the activity does (RetryServerErrors off).
	emu.Faults.Add(faults.Rule{Op: read, Status: http.StatusServiceUnavailable, Times: 1})
	ctx, statuses = observe()
	_, err = c.Workspaces.Read(ctx, "acme", "api")
	require.Error(t, err)
	require.Equal(t, []int{503}, *statuses)
	require.Equal(t, 4, emu.Faults.Calls()[read])

	// Without an observer nothing is reported, and nothing breaks.
	_, err = c.Workspaces.Read(context.Background(), "acme", "api")
	require.NoError(t, err)
}

func TestTerraformClientRetriesCreation(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now
	tf := NewTerraform(addr, model.Secret("atlasv1-token"))
	_, err := tf.Client()
	require.ErrorContains(t, err, "HCP Terraform at "+addr+": ")
	require.NotContains(t, err.Error(), "atlasv1-token")
	require.NotContains(t, err.Error(), "/api/v2/ping")
	require.Nil(t, tf.client, "a failed creation is not kept")
}
