package clients

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-github/v60/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Creating secrets from many goroutines at once reuses connections: each
// 201 Created carries a "{}" go-github never reads, and more requests run
// at once than net/http keeps idle by default. Before the provider
// transport, 8 goroutines creating 10 secrets each opened about 80
// connections.
func TestGitHubClientReusesConnections(t *testing.T) {
	const token, workers, each = "ghp_test", 8, 10
	emu := githubemu.New(token)
	emu.AddRepo("acme/api")
	var dialled atomic.Int64
	srv := httptest.NewUnstartedServer(emu.Handler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := NewGitHubClient(srv.URL+"/", model.Secret(token))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pk, _, err := c.Actions.GetRepoPublicKey(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(pk.GetKey())
	if err != nil || len(raw) != 32 {
		t.Fatalf("public key %q: %v", pk.GetKey(), err)
	}
	var recipient [32]byte
	copy(recipient[:], raw)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				sealed, err := box.SealAnonymous(nil, []byte("value"), &recipient, rand.Reader)
				if err != nil {
					errs <- err
					return
				}
				resp, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "acme", "api", &github.EncryptedSecret{
					Name: fmt.Sprintf("S_%d_%d", w, i), KeyID: pk.GetKeyID(), EncryptedValue: base64.StdEncoding.EncodeToString(sealed),
				})
				if err == nil && resp.StatusCode != http.StatusCreated {
					err = fmt.Errorf("status %d, want 201", resp.StatusCode)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One connection per goroutine, and a few more: net/http dials for a
	// request that finds no idle connection even when another request's
	// connection is about to return to the pool, then keeps both. Without
	// reuse each secret opens its own (80).
	if n, most := dialled.Load(), int64(2*workers); n > most {
		t.Errorf("%d connections for %d secrets created by %d goroutines; want at most %d", n, workers*each, workers, most)
	}
}
