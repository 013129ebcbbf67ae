// Package webui checks, in a real headless browser, what an operator sees
// of a rotation in the Temporal Web UI: the workflow list and its search
// attributes, payloads decoded through keyrotor's codec server (and
// encrypted without it), a signal sent from the UI, and the Notify child
// workflows. It needs node and chromium, so it runs only with
// KEYROTOR_WEBUI=1 (`make webui`), never in `make test`.
package webui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/worker/compose"
)

const (
	account = "demo"
	user    = "ci-deployer"
	// webhookSecret signs the notifications of the test's webhook channel.
	webhookSecret = "webhook-signing-secret-for-the-webui-check"
	// description is the rotation's memo.
	description = "CI deploy key of the web UI check"
)

// TestWebUI runs a rotation on the worker binary, with a dev server whose
// UI decodes payloads through `starter codec-server` (token in the
// endpoint's path), and runs check.mjs against the UI while the rotation
// waits out its grace period. The script sends `proceed` from the UI, so
// the rotation completes and starts its Notify child workflow, and checks
// the end too. Everything the browser saw is then searched for secrets.
func TestWebUI(t *testing.T) {
	node, chromium := requireTools(t)
	cli, err := devstack.TemporalCLI()
	require.NoError(t, err)
	t.Logf("temporal CLI %s, node %s, chromium %s", cli, node, chromium)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()

	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "../../worker", "../../starter")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	require.NoError(t, build.Run(), "build the worker and the starter")

	keyFile, keys, err := devstack.NewCodecKey(dir)
	require.NoError(t, err)
	uiPort, codecPort := freePort(t), freePort(t)
	uiURL := "http://127.0.0.1:" + uiPort

	// The codec server as an operator runs it for a UI without sign-in:
	// the token is the first segment of the endpoint's path.
	token := randomHex(t, 32)
	tokenFile := filepath.Join(dir, "codec-server.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	codecLog := filepath.Join(dir, "codec-server.log")
	background(t, bin, "starter", []string{"KEYROTOR_CODEC_KEY_FILE=" + keyFile}, codecLog,
		"codec-server", "--listen", "127.0.0.1:"+codecPort, "--token-file", tokenFile,
		"--allow-origin", uiURL, "--allow-origin", "http://localhost:"+uiPort)
	waitListening(t, "127.0.0.1:"+codecPort, codecLog)

	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		UI: true, UIPort: uiPort, CodecEndpoint: "http://127.0.0.1:" + codecPort + "/" + token,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := devstack.Dial(srv, keys, compose.WorkerInputs()...)
	require.NoError(t, err)
	t.Cleanup(c.Close)

	emu := devstack.StartEmulators()
	t.Cleanup(emu.Close)
	old, err := emu.SeedUser(user, devstack.DemoTargets())
	require.NoError(t, err)
	hook := &receiver{}
	hooks := httptest.NewServer(hook)
	t.Cleanup(hooks.Close)

	// A grace period the check ends from the UI with `proceed`.
	policy := model.DefaultPolicy
	policy.GracePeriod, policy.DeleteAfter = time.Hour, time.Second
	policy.IdleRecheck, policy.IdleChecks = time.Second, 2
	cfgPath, err := emu.WriteConfig(dir, devstack.ConfigSpec{
		Account: account, Users: map[string][]model.Target{user: devstack.DemoTargets()}, Policy: policy,
	})
	require.NoError(t, err)
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	text := strings.Replace(string(cfg), "temporal:\n", "temporal:\n  uiURL: "+uiURL+"\n", 1)
	text = strings.Replace(text, "  - user: "+user+"\n", "  - user: "+user+"\n    description: "+description+"\n", 1) +
		"notify:\n  - webhook: " + hooks.URL + "/hook\n    secret: ${KEYROTOR_WEBUI_WEBHOOK_SECRET}\n"
	require.NoError(t, os.WriteFile(cfgPath, []byte(text), 0o600))

	env := append(append(emu.Env(),
		"TEMPORAL_ADDRESS="+srv.FrontendHostPort(), "TEMPORAL_NAMESPACE=default",
		"KEYROTOR_CODEC_KEY_FILE="+keyFile),
		"KEYROTOR_WEBUI_WEBHOOK_SECRET="+webhookSecret)
	background(t, bin, "worker", env, filepath.Join(dir, "worker.log"), "--config", cfgPath)
	out, err := runBinary(bin, "starter", env, "rotate", "--config", cfgPath, "--user", user)
	require.NoError(t, err, out)

	workflowID := model.WorkflowID(account, user)
	var st contract.Status
	require.Eventually(t, func() bool {
		st, err = operator.Status(ctx, c, workflowID)
		return err == nil && st.Phase == contract.PhaseGrace
	}, 2*time.Minute, 250*time.Millisecond, "the rotation never reached its grace period (last: %s, %v)", st.Phase, err)

	if os.Getenv("KEYROTOR_WEBUI_HOLD") != "" {
		// For a look by hand: everything stays up until the test's timeout.
		t.Logf("holding: UI %s, rotation %s, old key %s, new key %s", uiURL, workflowID, st.OldKeyID, st.NewKeyID)
		<-ctx.Done()
		return
	}

	seen := filepath.Join(dir, "seen.json")
	check := exec.CommandContext(ctx, node, "check.mjs")
	check.Env = append(os.Environ(),
		"WEBUI_URL="+uiURL,
		"WEBUI_CHROMIUM="+chromium,
		"WEBUI_WORKFLOW_ID="+workflowID,
		"WEBUI_ACCOUNT="+account,
		"WEBUI_USER="+user,
		"WEBUI_OLD_KEY_ID="+st.OldKeyID,
		"WEBUI_NEW_KEY_ID="+st.NewKeyID,
		"WEBUI_DESCRIPTION="+description,
		"WEBUI_SEEN="+seen,
		"WEBUI_SCREENSHOTS="+os.Getenv("KEYROTOR_WEBUI_SCREENSHOTS"),
	)
	check.Stdout, check.Stderr = os.Stdout, os.Stderr
	require.NoError(t, check.Run(), "check.mjs failed (set KEYROTOR_WEBUI_SCREENSHOTS=DIR to keep its screenshots)")

	// The UI's proceed ended the grace period; the rotation told its channel.
	final, err := operator.Status(ctx, c, workflowID)
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, final.Phase)
	require.NotEmpty(t, hook.events(), "the webhook heard of the rotation")
	// README ("Revoke a leaked key at once"): the UI sends no identity with
	// a signal, so its history event records none.
	require.Empty(t, signalIdentity(t, c, workflowID, "proceed"), "the proceed signal sent from the UI recorded an identity: update the README")

	// Nothing the browser was shown holds a secret.
	seenText, err := os.ReadFile(seen)
	require.NoError(t, err)
	require.Contains(t, string(seenText), st.NewKeyID, "the check recorded what the UI showed")
	_, newSecret := emu.TargetValues(devstack.DemoTargets()[0], model.DefaultSecretNames)
	require.NotEmpty(t, newSecret)
	requireNoSecrets(t, "what the Web UI showed", string(seenText), map[string]string{
		"new secret access key": newSecret,
		"old secret access key": old.Secret.Reveal(),
		"GitHub token":          emu.GitHubToken.Reveal(),
		"GitLab token":          emu.GitLabToken.Reveal(),
		"rotator's AWS secret":  emu.AdminSecret.Reveal(),
		"webhook secret":        webhookSecret,
	})
}

// requireTools returns node and chromium, or skips the test saying what is
// missing.
func requireTools(t *testing.T) (node, chromium string) {
	t.Helper()
	if os.Getenv("KEYROTOR_WEBUI") == "" {
		t.Skip("the Web UI check needs node and chromium: run it with `make webui` (KEYROTOR_WEBUI=1)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping the Web UI check: node not found (install Node.js 20 or later)")
	}
	chromium = os.Getenv("KEYROTOR_CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		t.Skip("skipping the Web UI check: chromium not found (apt-get install chromium, or set KEYROTOR_CHROMIUM to a Chrome or Chromium binary)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		t.Skip("skipping the Web UI check: playwright-core is not installed (run `npm ci` in tests/webui, or `make webui`)")
	}
	return node, chromium
}

// signalIdentity returns the identity recorded with the first signal named
// name.
func signalIdentity(t *testing.T, c client.Client, workflowID, name string) string {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			return a.GetIdentity()
		}
	}
	t.Fatalf("no %s signal in the history of %s", name, workflowID)
	return ""
}

// receiver is the webhook channel's endpoint; it accepts every delivery.
type receiver struct {
	mu  sync.Mutex
	got []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.got = append(r.got, req.Header.Get("X-Keyrotor-Event"))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// background starts one of the built binaries until the test ends, its
// output going to logPath.
func background(t *testing.T, bin, name string, env []string, logPath string, args ...string) {
	t.Helper()
	out, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		_ = out.Close()
	})
}

func runBinary(bin, name string, env []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr, logPath string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("nothing listens on %s; its log: %s", addr, log)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	require.NoError(t, err)
	return port
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// requireNoSecrets fails when text holds a secret as is, in base64, or a
// 12-character piece of one; it says which secret and where, never the
// secret.
func requireNoSecrets(t *testing.T, where, text string, secrets map[string]string) {
	t.Helper()
	const window = 12
	for name, secret := range secrets {
		for _, form := range []string{
			secret,
			base64.StdEncoding.EncodeToString([]byte(secret)),
			base64.URLEncoding.EncodeToString([]byte(secret)),
			base64.RawStdEncoding.EncodeToString([]byte(secret)),
		} {
			if strings.Contains(text, form) {
				t.Fatalf("%s holds the %s", where, name)
			}
		}
		for i := 0; i+window <= len(secret); i++ {
			if strings.Contains(text, secret[i:i+window]) {
				t.Fatalf("%s holds %d characters of the %s (from offset %d)", where, window, name, i)
			}
		}
	}
}
