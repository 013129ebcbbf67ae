package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// assertNoPieceOfSecret fails when text holds any 12-character piece of
// secret: redacting the whole secret is not enough if a cut leaves a part.
func assertNoPieceOfSecret(t *testing.T, text, secret string) {
	t.Helper()
	for i := 0; i+12 <= len(secret); i++ {
		if piece := secret[i : i+12]; strings.Contains(text, piece) {
			t.Fatalf("error holds %q, a piece of the secret: %s", piece, text)
		}
	}
}

// echoOffsets put the secret at the start of a message, in the middle, and
// across the point where messages are cut.
var echoOffsets = []int{0, 1, 100, maxQuoted - 40, maxQuoted - 30, maxQuoted - 12, maxQuoted - 1, maxQuoted, maxQuoted + 5}

// echoRequest answers a write that carries secret with 400 and a JSON
// message quoting the request body, padded so that the secret starts at
// offset in the message, like a careless proxy or server.
func echoRequest(offset int, secret string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		at := strings.Index(string(body), secret)
		if at < 0 {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			next.ServeHTTP(w, r)
			return
		}
		pad := strings.Repeat("x", max(offset-at, 0))
		msg, _ := json.Marshal(map[string]string{"message": pad + string(body)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(msg)
	})
}

// TestGitLabErrorsNeverQuoteThePushedSecret: a server that echoes the
// request (which carries the secret) at any offset, even across the
// truncation point, leaves no piece of the secret in the error.
func TestGitLabErrorsNeverQuoteThePushedSecret(t *testing.T) {
	target := model.Target{Kind: model.GitLabProject, Project: "acme/api"}
	for _, offset := range echoOffsets {
		t.Run(fmt.Sprint("offset ", offset), func(t *testing.T) {
			env := newGitLabTestEnv(t)
			srv := httptest.NewServer(echoRequest(offset, gitlabTestSecret, env.emu.Handler()))
			t.Cleanup(srv.Close)
			act := newGitLabActivity(t, srv.URL, gitlabTestToken, pushConfig(model.SecretNames{}, target))
			_, err := act.PushGitLabVariable(context.Background(), gitlabInput(target))
			if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
				t.Fatalf("want the write of the secret refused, got %v", err)
			}
			assertNoPieceOfSecret(t, err.Error(), gitlabTestSecret)
			assertNoPieceOfSecret(t, fmt.Sprintf("%+v", err), gitlabTestSecret)
		})
	}
}

// TestGitHubErrorsNeverQuoteThePushedSecret: GitHub's message echoing the
// secret at any offset leaves no piece of it in the error.
func TestGitHubErrorsNeverQuoteThePushedSecret(t *testing.T) {
	for _, pad := range echoOffsets {
		for _, op := range []string{"PUT ", "GET "} {
			t.Run(fmt.Sprint(op, "offset ", pad), func(t *testing.T) {
				env := newGHEnv(t, nil)
				msg, _ := json.Marshal(map[string]string{"message": strings.Repeat("y", pad) + ghKeySecret + " " + ghKeySecret[:20]})
				env.emu.Faults.Add(faults.Rule{Op: op, Status: http.StatusUnprocessableEntity, Body: string(msg), Times: 1})
				_, err := env.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, repoTarget)).PushGitHubSecret(context.Background(), pushInput(repoTarget))
				if err == nil {
					t.Fatal("push succeeded")
				}
				assertNoPieceOfSecret(t, err.Error(), ghKeySecret[:20]+ghKeySecret)
			})
		}
	}
}

// TestPushStateRedactedWhenPrinted: the structs a push keeps the secret in
// print it redacted with every verb, should one ever reach a log line.
func TestPushStateRedactedWhenPrinted(t *testing.T) {
	key := model.NewAccessKey{ID: ghKeyID, Secret: model.Secret(ghKeySecret)}
	in := pushRequest{Target: repoTarget, SecretNames: model.DefaultSecretNames, Key: key}
	attempt := newPushAttempt(context.Background(), in, testCallPolicy)
	pusher := newGitLabPusher(context.Background(), nil, "gitlab acme/api", key, testCallPolicy, nil)
	values := []any{
		in,
		attempt,
		*attempt,
		attempt.values(),
		pusher,
		*pusher,
		gitlabVariable{key: "K", Value: key.Secret},
		gitlabReadVariable{key: "K", Value: key.Secret},
		attempt.Redactor,
	}
	for i, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, ghKeySecret) {
				t.Errorf("value %d (%T) printed with %s shows the secret: %s", i, v, verb, out)
			}
		}
	}
}
