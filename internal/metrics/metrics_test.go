package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

func newMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	m.Configure([]model.Rotation{
		{Account: "prod", User: "CI-Deployer", Policy: model.RotationPolicy{Every: 720 * time.Hour}},
		{Account: "prod", User: "weekly", Policy: model.RotationPolicy{Cron: "0 9 * * MON"}},
	})
	return m
}

// fakeRotation stands in for RotateAccessKey: it ends as its input's user
// says, after taking the revoke signals sent before its end.
func fakeRotation(ctx workflow.Context, in contract.RotateInput) (contract.RotateResult, error) {
	_ = workflow.Sleep(ctx, time.Minute)
	switch in.User {
	case "rolled-back":
		return contract.RotateResult{Status: contract.Status{Phase: contract.PhaseRolledBack}}, nil
	case "failed":
		return contract.RotateResult{}, temporal.NewApplicationError("targets failed", contract.TypeRotationFailed)
	case "cancelled":
		return contract.RotateResult{}, temporal.NewCanceledError()
	}
	return contract.RotateResult{Status: contract.Status{Phase: contract.PhaseDone}}, nil
}

// value reads one counter.
func value(c prometheus.Counter) float64 {
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		return -1
	}
	return out.GetCounter().GetValue()
}

func runRotation(t *testing.T, m *Metrics, in contract.RotateInput, signals ...any) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{m.Interceptor(nil)}})
	env.RegisterWorkflowWithOptions(fakeRotation, workflow.RegisterOptions{Name: contract.WorkflowName})
	for i, s := range signals {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.RevokeSignal, s) }, time.Duration(i+1)*time.Second)
	}
	env.ExecuteWorkflow(contract.WorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not complete")
	}
}

// Each ending counts once under its account; a revoke signal counts by
// its mode, decoded as the workflow decodes it; an account the
// configuration does not list is labelled unknown.
func TestInterceptorCountsRotationsAndRevocations(t *testing.T) {
	m := newMetrics(t)
	runRotation(t, m, contract.RotateInput{Account: "prod", User: "ci-deployer"},
		nil, map[string]string{"mode": "now"}, map[string]string{"reason": "leaked"}, map[string]string{"mode": "later"}, map[string]string{"mood": "now"})
	runRotation(t, m, contract.RotateInput{Account: "prod", User: "rolled-back"})
	runRotation(t, m, contract.RotateInput{Account: "prod", User: "failed"})
	runRotation(t, m, contract.RotateInput{Account: "prod", User: "cancelled"})
	runRotation(t, m, contract.RotateInput{Account: "elsewhere", User: "failed"})

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"started prod", value(m.started.WithLabelValues("prod")), 4},
		{"started unknown", value(m.started.WithLabelValues(unknownAccount)), 1},
		{"completed", value(m.completed.WithLabelValues("prod")), 1},
		{"rolled back", value(m.rolledBack.WithLabelValues("prod")), 1},
		{"failed prod", value(m.failed.WithLabelValues("prod")), 1},
		{"failed unknown", value(m.failed.WithLabelValues(unknownAccount)), 1},
		{"cancelled", value(m.cancelled.WithLabelValues("prod")), 1},
		{"revoke default", value(m.revocations.WithLabelValues(ModeDefault)), 2},
		{"revoke now", value(m.revocations.WithLabelValues(ModeNow)), 1},
		{"revoke invalid", value(m.revocations.WithLabelValues(ModeInvalid)), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	// The completed rotation's time is known at once (visibility confirms it later).
	if _, ok := m.lastDone[keyOf("prod", "ci-deployer")]; !ok {
		t.Error("no last rotation recorded for the completed rotation")
	}
}

// The gauges: the oldest active key's age, the time since the last
// rotation, holding (once visibility was read), the policy (every, or the
// longest gap of a cron); users are matched without case, and users the
// configuration does not list get no series.
func TestGauges(t *testing.T) {
	m := newMetrics(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	m.Keys("prod", "ci-deployer", []model.AccessKey{
		{ID: "AKIAOLD", Status: model.KeyInactive, CreatedAt: now.Add(-90 * time.Hour)},
		{ID: "AKIAMID", Status: model.KeyActive, CreatedAt: now.Add(-30 * time.Hour)},
		{ID: "AKIANEW", Status: model.KeyActive, CreatedAt: now.Add(-time.Hour)},
	})
	m.Keys("prod", "stranger", []model.AccessKey{{ID: "AKIAX", Status: model.KeyActive, CreatedAt: now}})
	m.Keys("prod", "weekly", []model.AccessKey{{ID: "AKIAW", Status: model.KeyActive, CreatedAt: now.Add(-time.Hour)}})
	m.Keys("prod", "weekly", []model.AccessKey{{ID: "AKIAW", Status: model.KeyInactive, CreatedAt: now.Add(-time.Hour)}})
	m.rotationEnded(m.completed, "prod", "ci-deployer", "run-1", now.Add(-2*time.Hour))

	text := gather(t, m)
	for _, want := range []string{
		`keyrotor_oldest_key_age_seconds{account="prod",user="CI-Deployer"} 108000`,
		`keyrotor_seconds_since_last_rotation{account="prod",user="CI-Deployer"} 7200`,
		`keyrotor_rotation_policy_seconds{account="prod",user="CI-Deployer"} 2.592e+06`,
		`keyrotor_rotation_policy_seconds{account="prod",user="weekly"} 604800`,
		`keyrotor_rotations_completed_total{account="prod"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
	for _, absent := range []string{`user="stranger"`, `keyrotor_oldest_key_age_seconds{account="prod",user="weekly"}`, "keyrotor_rotations_holding"} {
		if strings.Contains(text, absent) {
			t.Errorf("unexpected %s in\n%s", absent, text)
		}
	}

	m.mu.Lock()
	m.holding, m.polled = map[rotationKey]bool{keyOf("prod", "ci-deployer"): true}, true
	m.mu.Unlock()
	text = gather(t, m)
	for _, want := range []string{
		`keyrotor_rotations_holding{account="prod",user="CI-Deployer"} 1`,
		`keyrotor_rotations_holding{account="prod",user="weekly"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
}

// A poll of visibility sets holding and the last completion, and drops a
// key age this worker saw before another worker ended a later run of the
// user's rotation: that worker has the fresh one.
func TestApplyPoll(t *testing.T) {
	m := newMetrics(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	active := []model.AccessKey{{ID: "AKIAK", Status: model.KeyActive, CreatedAt: now.Add(-time.Hour)}}
	m.Keys("prod", "ci-deployer", active)
	m.Keys("prod", "weekly", active)
	m.rotationEnded(m.completed, "prod", "weekly", "run-here", now.Add(time.Minute))

	m.apply(pollResult{
		holding: []execution{{account: "prod", user: "ci-deployer", runID: "run-3", phase: contract.PhaseHolding}},
		closed: []execution{
			{account: "prod", user: "ci-deployer", runID: "run-1", phase: contract.PhaseDone, closed: now.Add(-time.Hour)},
			{account: "prod", user: "ci-deployer", runID: "run-2", phase: contract.PhaseFailed, closed: now.Add(time.Hour)},
			{account: "prod", user: "weekly", runID: "run-here", phase: contract.PhaseDone, closed: now.Add(time.Minute)},
		},
	})
	text := gather(t, m)
	for _, want := range []string{
		`keyrotor_rotations_holding{account="prod",user="CI-Deployer"} 1`,
		`keyrotor_rotations_holding{account="prod",user="weekly"} 0`,
		`keyrotor_seconds_since_last_rotation{account="prod",user="CI-Deployer"} 3600`,
		`keyrotor_oldest_key_age_seconds{account="prod",user="weekly"} 3600`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
	// run-2 ended elsewhere after this worker last saw ci-deployer's keys.
	if strings.Contains(text, `keyrotor_oldest_key_age_seconds{account="prod",user="CI-Deployer"}`) {
		t.Errorf("a stale key age is still reported:\n%s", text)
	}
}

func gather(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// /healthz always answers; /readyz only between the worker's start and its
// stop, while Temporal's health checks pass and are recent.
func TestHealthEndpoints(t *testing.T) {
	m := newMetrics(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	expect := func(step string, wantCode int, wantBody string) {
		t.Helper()
		code, body := get("/readyz")
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Errorf("%s: /readyz %d %q, want %d %q", step, code, body, wantCode, wantBody)
		}
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}
	expect("before the start", http.StatusServiceUnavailable, "not started polling")
	m.ready.set(func(r *readiness) { r.started = true })
	expect("no check yet", http.StatusServiceUnavailable, "no health check")
	m.ready.set(func(r *readiness) { r.checked = now })
	expect("checked", http.StatusOK, "ready")
	m.ready.set(func(r *readiness) { r.err = errors.New("unavailable") })
	expect("check failed", http.StatusServiceUnavailable, "unavailable")
	m.ready.set(func(r *readiness) { r.err, r.checked = nil, now.Add(-time.Hour) })
	expect("stale check", http.StatusServiceUnavailable, "old")
	m.ready.set(func(r *readiness) { r.checked = now })
	m.Stopping()
	expect("stopping", http.StatusServiceUnavailable, "stopping")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while stopping: %d", code)
	}
}

func TestRotationOfAndQuote(t *testing.T) {
	if a, u := rotationOf(nil, "rotate/prod/ci-deployer"); a != "prod" || u != "ci-deployer" {
		t.Errorf("from the workflow ID: %q %q", a, u)
	}
	if a, u := rotationOf(nil, "something-else"); a != "" || u != "" {
		t.Errorf("another workflow: %q %q", a, u)
	}
	if got := quote(`it's \ here`); got != `'it\'s \\ here'` {
		t.Errorf("quote: %s", got)
	}
}

// The periodic audit sets each account's oldest active key; an account it
// could not read in full has no value, and 0 means no active key.
func TestAccountOldestKeyAge(t *testing.T) {
	m := newMetrics(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	var logs strings.Builder
	o := WatchOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Audit: func(context.Context) (map[string]time.Time, error) {
		return map[string]time.Time{"prod": now.Add(-400 * 24 * time.Hour), "empty": {}}, nil
	}}
	m.audit(context.Background(), o)
	text := gather(t, m)
	for _, want := range []string{
		`keyrotor_account_oldest_key_age_seconds{account="prod"} 3.456e+07`,
		`keyrotor_account_oldest_key_age_seconds{account="empty"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
	o.Audit = func(context.Context) (map[string]time.Time, error) {
		return map[string]time.Time{"empty": {}}, errors.New("account prod: iam:ListUsers: AccessDenied: no")
	}
	m.audit(context.Background(), o)
	if text = gather(t, m); strings.Contains(text, `keyrotor_account_oldest_key_age_seconds{account="prod"}`) {
		t.Errorf("an account the audit could not read keeps its value:\n%s", text)
	}
	if !strings.Contains(logs.String(), "account prod: iam:ListUsers: AccessDenied") {
		t.Errorf("the warning does not say what failed: %s", logs.String())
	}
}
