package clients

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The first calls of a fresh client run at once, as a rotation's preflight
// and a fleet's pushes make them. client-go's own limiter configured itself
// from the first answer while the other calls read it (the race detector
// caught it); the worker paces GitLab itself, so that limiter is off.
func TestGitLabClientFirstCallsAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Limit", "2000")
		w.Header().Set("RateLimit-Remaining", "1999")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
	}))
	defer srv.Close()
	c, err := NewGitLabClient(srv.URL, model.Secret("glpat-test"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := c.ProjectVariables.ListVariables("acme/api", &gitlab.ListProjectVariablesOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
