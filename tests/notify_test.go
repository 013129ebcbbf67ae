package tests

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// webhookReceiver is a team's webhook endpoint: it checks every delivery's
// signature, as the README tells receivers to, and refuses the first call
// of each delivery with 503, as a receiver being redeployed would.
type webhookReceiver struct {
	t      *testing.T
	key    string
	mu     sync.Mutex
	tries  map[string]int                     // delivery → calls
	got    map[string][]contract.Notification // path → accepted deliveries
	forged int                                // calls with a bad signature
}

func (wr *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	require.NoError(wr.t, err)
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if r.URL.Path == "/hook" && !hmac.Equal([]byte(r.Header.Get(activities.HeaderSignature)), []byte(activities.Sign(model.Secret(wr.key), body))) {
		wr.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.URL.Path + " " + r.Header.Get(activities.HeaderDelivery)
	wr.tries[id]++
	if wr.tries[id] == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var n contract.Notification
	if r.URL.Path == "/hook" {
		require.NoError(wr.t, json.Unmarshal(body, &n))
	} else {
		n.Event = model.NotifyEvent(r.Header.Get(activities.HeaderEvent))
		n.Delivery = r.Header.Get(activities.HeaderDelivery)
		n.Summary = string(body)
	}
	wr.got[r.URL.Path] = append(wr.got[r.URL.Path], n)
	w.WriteHeader(http.StatusNoContent)
}

func (wr *webhookReceiver) events(path string) map[string][]model.NotifyEvent {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	out := map[string][]model.NotifyEvent{}
	for _, n := range wr.got[path] {
		out[n.User] = append(out[n.User], n.Event)
	}
	return out
}

// TestNotifications runs two rotations on the worker binary with a signed
// webhook and a Slack channel: one completes, one fails on a target. The
// worker is SIGKILLed while the first waits out its grace period. Every
// event reaches each channel exactly once, signed, with the key IDs, the
// targets and a link to the Web UI, and never a secret.
func TestNotifications(t *testing.T) {
	const secret = "webhook-signing-secret-for-the-test"
	wr := &webhookReceiver{t: t, key: secret, tries: map[string]int{}, got: map[string][]contract.Notification{}}
	srv := httptest.NewServer(wr)
	defer srv.Close()

	missing := model.Target{Kind: model.GitHubRepository, Repository: "acme/gone"}
	p := fastPolicy()
	p.GracePeriod = 6 * time.Second
	r := newRig(t, rigOptions{
		users:   map[string][]model.Target{"ci-deployer": devstack.DemoTargets(), "ci-broken": {missing}},
		policy:  p,
		noStart: true,
	})
	// The repository can be read (the preflight passes) but refuses every
	// write: the push fails for good.
	r.failGitHubWrites("acme/gone", faults.Rule{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`})
	cfg, err := os.ReadFile(r.cfgPath)
	require.NoError(t, err)
	text := strings.Replace(string(cfg), "temporal:\n", "temporal:\n  uiURL: http://localhost:8233\n", 1) +
		"notify:\n" +
		"  - webhook: " + srv.URL + "/hook\n    secret: ${KEYROTOR_TEST_WEBHOOK_SECRET}\n" +
		"  - slack: " + srv.URL + "/slack\n    events: [completed, failed]\n"
	require.NoError(t, os.WriteFile(r.cfgPath, []byte(text), 0o600))
	env := []string{"KEYROTOR_TEST_WEBHOOK_SECRET=" + secret}

	first, _ := r.workerBinary(env)
	out, code := r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "ci-broken")
	require.Equal(t, 0, code, out)
	awaitPhase(t, r, model.WorkflowID("demo", "ci-deployer"), contract.PhaseGrace)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()
	r.workerBinary(env)

	want := map[string][]model.NotifyEvent{
		"ci-deployer": {model.EventCompleted},
		"ci-broken":   {model.EventTargetFailed, model.EventFailed},
	}
	require.Eventually(t, func() bool {
		got := wr.events("/hook")
		return len(got["ci-deployer"]) == 1 && len(got["ci-broken"]) == 2
	}, 2*time.Minute, 200*time.Millisecond, "the webhook never got every event: %v", wr.events("/hook"))
	time.Sleep(6 * time.Second) // a repeat would come within one retry interval
	got := wr.events("/hook")
	for user, events := range want {
		require.ElementsMatch(t, events, got[user], user)
	}
	require.ElementsMatch(t, []model.NotifyEvent{model.EventCompleted, model.EventFailed}, wr.events("/slack")[""], "Slack gets the two endings only")
	require.Zero(t, wr.forged, "every delivery was signed with the channel's secret")

	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, n := range wr.got["/hook"] {
		require.Equal(t, "demo", n.Account)
		require.Equal(t, model.WorkflowID("demo", n.User), n.WorkflowID)
		require.Equal(t, "http://localhost:8233/namespaces/default/workflows/"+strings.ReplaceAll(n.WorkflowID, "/", "%2F")+"/"+n.RunID+"/history", n.Link)
		require.NotEmpty(t, n.OldKeyID)
		require.NotEmpty(t, n.Targets)
		switch n.Event {
		case model.EventCompleted:
			require.NotEmpty(t, n.NewKeyID)
			require.Len(t, n.Targets, len(devstack.DemoTargets()))
		case model.EventTargetFailed:
			require.Equal(t, missing.String(), n.Target)
			require.Contains(t, n.Reason, "404")
		case model.EventFailed:
			require.Contains(t, n.Left, "active")
		}
	}
	// No form of either user's secrets reached a receiver.
	var all strings.Builder
	for _, ns := range wr.got {
		b, _ := json.Marshal(ns)
		all.Write(b)
	}
	_, newSecret := r.emu.TargetValues(devstack.DemoTargets()[0], model.DefaultSecretNames)
	requireNoSecrets(t, "the notifications", all.String(), map[string]string{
		"new secret":           newSecret,
		"old secret":           r.oldKeys["ci-deployer"].Secret.Reveal(),
		"broken user's secret": r.oldKeys["ci-broken"].Secret.Reveal(),
		"signing secret":       secret,
	})
}
