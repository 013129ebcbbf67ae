package tests

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The worker binary with --metrics-addr: /healthz and /readyz answer, and
// real rotations show on /metrics in keyrotor's counters and gauges and in
// the SDK's own metrics: one plain, one started by a revoke, one that
// holds because the old key is still in use (until proceed), one that
// fails. Every log line is JSON, the activities' lines name the workflow,
// the run, the user and the target, and no line holds a secret. A second
// worker reads the holding state and the last rotation back from
// Temporal's visibility.
func TestMetricsAndHealth(t *testing.T) {
	p := fastPolicy()
	p.GracePeriod = 4 * time.Second // time to use the old key while it runs
	r := newRig(t, rigOptions{policy: p, noStart: true})
	worker, logPath := r.metricsWorker(nil, "--metrics-poll", "500ms")
	base := metricsBase(t, logPath)
	require.Eventually(t, func() bool { return httpStatus(base+"/readyz") == http.StatusOK },
		time.Minute, 100*time.Millisecond, "the worker never became ready")
	require.Equal(t, http.StatusOK, httpStatus(base+"/healthz"))
	firstOld := r.oldKeys["ci-deployer"].Secret.Reveal()

	out, code := r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer", "--wait")
	require.Equal(t, 0, code, out)
	// A revoke with no rotation running starts one (signal-with-start)
	// whose revoke signal arrives encrypted through the codec.
	out, code = r.starter("revoke", "--config", r.cfgPath, "--user", "ci-deployer", "--reason", "metrics test", "--wait")
	require.Equal(t, 0, code, out)

	rot := map[string]string{"account": "demo", "user": "ci-deployer"}
	byAccount := map[string]string{"account": "demo"}
	var text string
	require.Eventually(t, func() bool {
		text = scrape(t, base)
		_, polled := metricValue(text, "keyrotor_rotations_holding", rot)
		since, done := metricValue(text, "keyrotor_seconds_since_last_rotation", rot)
		return polled && done && since < 600
	}, time.Minute, 250*time.Millisecond, "the visibility gauges never showed the rotations")
	requireMetric(t, text, "keyrotor_rotations_started_total", byAccount, 2)
	requireMetric(t, text, "keyrotor_rotations_completed_total", byAccount, 2)
	_, failed := metricValue(text, "keyrotor_rotations_failed_total", byAccount)
	require.False(t, failed, "no rotation failed yet")
	requireMetric(t, text, "keyrotor_rotations_holding", rot, 0)
	requireMetric(t, text, "keyrotor_revocations_total", map[string]string{"mode": "default"}, 1)
	requireMetric(t, text, "keyrotor_rotation_policy_seconds", rot, p.Every.Seconds())
	// Every target confirmed once per rotation, in one attempt (no faults).
	for _, tg := range devstack.DemoTargets() {
		requireMetric(t, text, "keyrotor_pushes_total",
			map[string]string{"provider": tg.Kind.Provider(), "kind": string(tg.Kind), "outcome": "confirmed"}, 2)
	}
	// The oldest active key is the one the second rotation made seconds ago.
	age, ok := metricValue(text, "keyrotor_oldest_key_age_seconds", rot)
	require.True(t, ok, "no key age:\n%s", text)
	require.Less(t, age, 600.0)
	// The SDK's own worker metrics are served beside keyrotor's.
	require.Contains(t, text, "\ntemporal_request_total{")
	require.Contains(t, text, "\ntemporal_activity_execution_latency_seconds_bucket{")

	// A pipeline still uses the old key during the grace period: the idle
	// checks fail and the rotation holds until an operator proceeds.
	oldID, oldSecret := r.emu.TargetValues(devstack.DemoTargets()[0], model.DefaultSecretNames)
	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	workflowID := model.WorkflowID("demo", "ci-deployer")
	awaitPhase(t, r, workflowID, contract.PhaseGrace)
	// IAM reports the last use to the second: use the key in a later
	// second than the push's.
	time.Sleep(1100 * time.Millisecond)
	_, err := r.stsWith(oldID, oldSecret)
	require.NoError(t, err)
	awaitPhase(t, r, workflowID, contract.PhaseHolding)
	require.Eventually(t, func() bool {
		v, _ := metricValue(scrape(t, base), "keyrotor_rotations_holding", rot)
		return v == 1
	}, time.Minute, 250*time.Millisecond, "the holding rotation never showed")
	out, code = r.starter("proceed", "--config", r.cfgPath, "--user", "ci-deployer")
	require.Equal(t, 0, code, out)
	awaitPhase(t, r, workflowID, contract.PhaseDone)

	// A user with two active keys: the rotation fails before touching anything.
	_, err = r.emu.AWS.CreateKey("ci-deployer")
	require.NoError(t, err)
	out, code = r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer", "--wait")
	require.Equal(t, 1, code, out)
	require.Eventually(t, func() bool {
		text = scrape(t, base)
		holding, _ := metricValue(text, "keyrotor_rotations_holding", rot)
		failed, _ := metricValue(text, "keyrotor_rotations_failed_total", byAccount)
		return holding == 0 && failed == 1
	}, time.Minute, 250*time.Millisecond, "the hold never ended, or the failure never showed")
	requireMetric(t, text, "keyrotor_rotations_started_total", byAccount, 4)
	requireMetric(t, text, "keyrotor_rotations_completed_total", byAccount, 3)
	// Every run ended on this worker: its key age stays (two active keys now).
	_, ok = metricValue(text, "keyrotor_oldest_key_age_seconds", rot)
	require.True(t, ok, "the key age was dropped:\n%s", text)

	require.NoError(t, worker.Process.Signal(syscall.SIGTERM))
	require.NoError(t, worker.Wait())
	logBytes, err := os.ReadFile(logPath)
	require.NoError(t, err)
	requireJSONLogs(t, string(logBytes))
	require.NotContains(t, string(logBytes), "could not read the rotations' state")
	_, newSecret := r.emu.TargetValues(devstack.DemoTargets()[0], model.DefaultSecretNames)
	requireNoSecrets(t, "the worker's output", string(logBytes), map[string]string{
		"newest secret access key":  newSecret,
		"first secret access key":   firstOld,
		"held-up secret access key": oldSecret,
		"GitHub token":              r.emu.GitHubToken.Reveal(),
		"GitLab token":              r.emu.GitLabToken.Reveal(),
		"rotator's AWS secret":      r.emu.AdminSecret.Reveal(),
	})

	// A new worker has counted nothing, but reads which rotations hold and
	// when the last one completed from visibility.
	second, secondLog := r.metricsWorker(nil, "--metrics-poll", "500ms")
	base = metricsBase(t, secondLog)
	require.Eventually(t, func() bool {
		text = scrape(t, base)
		_, polled := metricValue(text, "keyrotor_rotations_holding", rot)
		since, done := metricValue(text, "keyrotor_seconds_since_last_rotation", rot)
		return polled && done && since < 600
	}, time.Minute, 250*time.Millisecond, "a new worker never read the last rotation from visibility")
	_, counted := metricValue(text, "keyrotor_rotations_started_total", byAccount)
	require.False(t, counted, "a new worker counted rotations it did not run")
	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.Wait())
}

// Before the worker has reached Temporal, /healthz answers and /readyz
// says it is not ready; it stops cleanly on SIGTERM meanwhile.
func TestReadyzBeforeTemporalAnswers(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	// A "server" that accepts connections and never answers: the worker
	// waits in its dial.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	worker, logPath := r.metricsWorker([]string{"TEMPORAL_ADDRESS=" + silent.Addr().String()})
	base := metricsBase(t, logPath)
	require.Equal(t, http.StatusOK, httpStatus(base+"/healthz"))
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.Contains(t, string(body), "not started polling")
	require.NoError(t, worker.Process.Signal(syscall.SIGTERM))
	_ = worker.Wait() // the dial fails, cancelled: exit status 1 says so
	logBytes, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := requireAllJSON(t, string(logBytes))
	require.Equal(t, "worker failed", lines[len(lines)-1]["msg"], "the error the worker stops with is a JSON line too")
}

// metricsWorker starts the worker binary with --metrics-addr on a free
// loopback port and JSON logs, with extra environment variables.
func (r *rig) metricsWorker(env []string, args ...string) (*exec.Cmd, string) {
	r.t.Helper()
	return r.workerBinary(env, append([]string{"--metrics-addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
}

// metricsBase waits for the worker's "serving metrics" line and returns
// the base URL of its metrics listener.
func metricsBase(t *testing.T, logPath string) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(logPath)
		if err != nil {
			return false
		}
		for line := range strings.Lines(string(data)) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
				addr = rec.Addr
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the worker never said where it serves metrics")
	return "http://" + addr
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// metricValue finds the sample of name whose labels include labels, in
// Prometheus text format.
func metricValue(text, name string, labels map[string]string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || strings.HasPrefix(line, "#") || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		matches := true
		for k, v := range labels {
			if !strings.Contains(rest, k+"="+strconv.Quote(v)) {
				matches = false
				break
			}
		}
		if !matches {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

func requireMetric(t *testing.T, text, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(text, name, labels)
	require.True(t, ok, "%s%v missing:\n%s", name, labels, text)
	require.Equal(t, want, got, "%s%v", name, labels)
}

// requireJSONLogs checks that every line is a JSON object, and that every
// line an activity wrote (it names a target) also names the workflow, the
// run and the user.
func requireJSONLogs(t *testing.T, logText string) {
	t.Helper()
	activityLines := 0
	for _, rec := range requireAllJSON(t, logText) {
		line, _ := json.Marshal(rec)
		if _, ok := rec["target"]; !ok {
			continue
		}
		activityLines++
		for _, k := range []string{"WorkflowID", "RunID", "user", "account", "ActivityType"} {
			require.NotEmpty(t, rec[k], "activity line without %s: %s", k, line)
		}
	}
	require.Positive(t, activityLines, "no activity logged a line:\n%s", logText)
	require.Contains(t, logText, `"msg":"pushed the new access key"`)
}

// requireAllJSON checks that every line is a JSON object with a message,
// and returns them.
func requireAllJSON(t *testing.T, logText string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logText) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON line: %q", line)
		require.Contains(t, rec, "msg")
		out = append(out, rec)
	}
	require.NotEmpty(t, out, "no log line")
	return out
}
