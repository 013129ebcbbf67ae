package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/model"
)

// iwStartTime is where the workflow clock starts: a day boundary at least a
// day ahead of the wall clock. Everything the harness does is relative to
// it, so a seed replays the same; and it must not lie in the past, because
// the test environment gives activity contexts deadlines on the workflow
// clock that Go's context package compares with the wall clock.
func iwStartTime() time.Time {
	return time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
}

// iwIdleTimeout is how long (wall clock) the test environment waits while
// the workflow waits for nothing it can fire itself. The driver's operator
// rounds are timers, so only a workflow that ignores them all gets there.
const iwIdleTimeout = 5 * time.Second

// Operator rounds after the last scripted action: each finds the rotation
// ended, holding visibly (and answers proceed, retry or, late, cancel) or
// stuck.
const (
	iwRounds     = 6
	iwRoundEvery = 12 * time.Hour
)

// iwInput builds the workflow input of a rotation. The workflow input names
// the account and user (the worker resolves the rest from its config) and
// still carries the legacy resolved rotation; the fields that exist are set.
func iwInput(r model.Rotation) RotateInput {
	in := RotateInput{Rotation: r}
	v := reflect.ValueOf(&in).Elem()
	for name, value := range map[string]string{"Account": r.Account, "User": r.User, "Digest": r.Digest()} {
		if f := v.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
			f.SetString(value)
		}
	}
	return in
}

// iwRun drives one schedule: a fresh test environment, world and operator.
type iwRun struct {
	s     iwSchedule
	env   *testsuite.TestWorkflowEnvironment
	w     *iwWorld
	start time.Time

	updateSeq      int
	updates        int // actions sent as updates
	updatesUnknown int // updates refused because the workflow has no such handler (then sent as signals)
	signals        int
	cancelled      bool // the operator cancelled the rotation
	held           int  // operator rounds that found the rotation holding
	stuckSeen      bool
	receiver       *iwReceiver
}

// iwResult is what became of one schedule.
type iwResult struct {
	Seed       int64
	Outcome    string // done, failed, rolled-back, cancelled, or panic, timeout, error, incomplete
	Phase      Phase
	Violations []iwViolation
	KeysLeft   int
	Held       int
	Updates    int
	Unknown    int
	Signals    int
	Elapsed    time.Duration

	// For a verbose reproduction.
	Start  time.Time
	Status Status
	Detail string
	Trace  []string
}

func runIWSchedule(s iwSchedule) iwResult {
	began := time.Now()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(iwQuietLogger{})
	env := suite.NewTestWorkflowEnvironment()
	start := iwStartTime()
	env.SetStartTime(start)
	env.SetTestTimeout(iwIdleTimeout)
	env.RegisterWorkflow(RotateAccessKey)
	env.RegisterWorkflowWithOptions(PushBatch, workflow.RegisterOptions{Name: PushBatchWorkflowName})
	if iwInBatches(s.Seed) {
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&iwBatches{size: iwBatchSize}}})
	}

	s.Rotation = iwWithNotify(s.Seed, s.Rotation)
	w := newIWWorld(s.Seed, s.Faults, start, env.Now)
	w.setUp(s.Keys, s.Rotation.Targets, s.Stubborn)
	w.register(env, s.Rotation)
	rc := newIWReceiver(s.Seed)
	rc.register(env)
	r := &iwRun{s: s, env: env, w: w, start: start, receiver: rc}
	w.onRunaway = env.CancelWorkflow

	var last time.Duration
	for _, a := range s.Actions {
		env.RegisterDelayedCallback(func() { r.act(a) }, a.At)
		last = max(last, a.At)
	}
	for round := 1; round <= iwRounds; round++ {
		env.RegisterDelayedCallback(func() { r.operatorRound(round) }, last+time.Duration(round)*iwRoundEvery)
	}

	res := r.execute()
	res.Elapsed = time.Since(began)
	return res
}

// execute runs the workflow to its end and checks the outcome.
func (r *iwRun) execute() (res iwResult) {
	res = iwResult{Seed: r.s.Seed, Start: r.start}
	func() {
		defer func() {
			// The test environment panics when the workflow sat idle past
			// the idle timeout.
			if p := recover(); p != nil {
				msg := fmt.Sprint(p)
				res.Outcome, res.Detail = "timeout", iwFirstLine(msg)
				if !strings.HasPrefix(msg, "test timeout") {
					res.Outcome = "test-env-panic"
					res.Trace = append(res.Trace, msg, string(debug.Stack()))
				}
			}
		}()
		r.env.ExecuteWorkflow(RotateAccessKey, iwInput(r.s.Rotation))
	}()
	if res.Outcome == "" {
		res.Status, res.Outcome, res.Detail = r.finalStatus()
	}
	res.Phase = res.Status.Phase
	snap := r.w.snapshot()
	res.Violations = append(snap.Violations, iwCheck(r, res, snap)...)
	res.Violations = append(res.Violations, iwCheckNotify(r, r.receiver, res)...)
	res.KeysLeft = len(snap.Keys)
	res.Held, res.Updates, res.Unknown, res.Signals = r.held, r.updates, r.updatesUnknown, r.signals
	res.Trace = append(snap.Trace, res.Trace...)
	return res
}

// finalStatus reads the report of the finished rotation from its result or
// from the details of its error.
func (r *iwRun) finalStatus() (Status, string, string) {
	if !r.env.IsWorkflowCompleted() {
		return Status{}, "incomplete", ""
	}
	err := r.env.GetWorkflowError()
	if err == nil {
		var res RotateResult
		if err := r.env.GetWorkflowResult(&res); err != nil {
			return Status{}, "error", "result does not decode: " + err.Error()
		}
		return res.Status, string(res.Status.Phase), ""
	}
	var (
		panicErr *temporal.PanicError
		canceled *temporal.CanceledError
		app      *temporal.ApplicationError
		timeout  *temporal.TimeoutError
		s        Status
	)
	switch {
	case errors.As(err, &panicErr):
		return r.queriedStatus(), "panic", iwFirstLine(panicErr.Error())
	case errors.As(err, &canceled):
		if canceled.HasDetails() && canceled.Details(&s) == nil {
			return s, "cancelled", ""
		}
		return r.queriedStatus(), "cancelled", "the cancellation carries no status"
	case errors.As(err, &app) && app.Type() == TypeRotationFailed:
		if derr := app.Details(&s); derr != nil {
			return r.queriedStatus(), "failed", "failure details do not decode: " + derr.Error()
		}
		return s, "failed", iwFirstLine(app.Error())
	case errors.As(err, &timeout):
		return r.queriedStatus(), "timeout", iwFirstLine(err.Error())
	}
	return r.queriedStatus(), "error", iwFirstLine(err.Error())
}

func (r *iwRun) queriedStatus() Status {
	s, _ := r.status()
	return s
}

// status queries the rotation. Before its first workflow task the test
// environment has no workflow to ask (and panics): that is an error here.
func (r *iwRun) status() (s Status, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("query before the workflow started: %v", p)
		}
	}()
	v, err := r.env.QueryWorkflow(StatusQuery)
	if err != nil {
		return s, err
	}
	return s, v.Get(&s)
}

// --- the operator -------------------------------------------------------------

// act carries out one scripted operator action.
func (r *iwRun) act(a iwAction) {
	if r.env.IsWorkflowCompleted() {
		return
	}
	switch a.Kind {
	case iwCancel:
		r.cancel()
	case iwRevoke:
		st, _ := r.status()
		in := RevokeInput{Reason: "seen in a build log", Mode: a.Mode, RequestedBy: "interleave"}
		switch a.Revoke {
		case iwRevokeOldID:
			in.AccessKeyID = st.OldKeyID
		case iwRevokeNewID:
			in.AccessKeyID = iwOr(st.NewKeyID, iwKeyID(9999999))
		case iwRevokeUnknownID:
			in.AccessKeyID = iwKeyID(9999999)
		case iwRevokeMalformed:
			in.AccessKeyID = "not-an-access-key-id"
		}
		r.w.noteRevoke(in, st.OldKeyID)
		r.send(RevokeSignal, a.ViaUpdate, in)
	case iwProceed:
		r.w.noteProceed()
		r.send(ProceedSignal, a.ViaUpdate, ProceedInput{Reason: "interleave", RequestedBy: "interleave"})
	case iwRetry:
		if a.Repair {
			r.w.repair()
		}
		r.send(RetrySignal, a.ViaUpdate, ProceedInput{RequestedBy: "interleave"})
	case iwRollback:
		r.send(RollbackSignal, a.ViaUpdate, ProceedInput{RequestedBy: "interleave"})
	case iwGarbage:
		if a.Name == ProceedSignal {
			// Garbage that still decodes (unknown fields, say) is a
			// proceed the workflow rightly accepts.
			r.w.noteProceed()
		}
		r.send(a.Name, a.ViaUpdate, a.Payload)
	}
}

func (r *iwRun) cancel() {
	r.w.mu.Lock()
	r.w.log("operator: cancel")
	r.w.mu.Unlock()
	r.cancelled = true
	r.env.CancelWorkflow()
}

// send delivers an operator request as an update or as a signal. An update
// the workflow has no handler for is sent again as a signal; a validator's
// rejection is a fine answer.
func (r *iwRun) send(name string, viaUpdate bool, payload any) {
	r.w.mu.Lock()
	r.w.log("operator: %s %#v (update %v)", name, payload, viaUpdate)
	r.w.mu.Unlock()
	if !viaUpdate {
		r.signals++
		r.env.SignalWorkflow(name, payload)
		return
	}
	r.updateSeq++
	r.updates++
	id := fmt.Sprintf("%s-%d", name, r.updateSeq)
	logf := func(format string, args ...any) {
		r.w.mu.Lock()
		defer r.w.mu.Unlock()
		r.w.log(format, args...)
	}
	r.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() { logf("update %s accepted", id) },
		OnReject: func(err error) {
			if strings.Contains(err.Error(), "unknown update") {
				r.updatesUnknown++
				r.signals++
				logf("update %s: no such update handler, sent as a signal", id)
				r.env.SignalWorkflow(name, payload)
				return
			}
			logf("update %s rejected: %s", id, iwFirstLine(err.Error()))
		},
		OnComplete: func(_ any, err error) {
			if err != nil {
				logf("update %s failed: %s", id, iwFirstLine(err.Error()))
				return
			}
			logf("update %s completed", id)
		},
	}, payload)
}

// operatorRound looks at a rotation that outlived every scripted action by
// hours. A rotation may only be waiting for an operator visibly (holding);
// then the operator answers it: proceed, retry after fixing the target, and
// from the fourth round on, cancel. Anything else is stuck.
func (r *iwRun) operatorRound(round int) {
	if r.env.IsWorkflowCompleted() {
		return
	}
	st, err := r.status()
	holding := err == nil && (st.Phase == PhaseHolding || st.HeldReason != "")
	switch {
	case !holding && r.cancelled:
		r.stuck("cancel-ignored", "round %d: still running %s after a cancel (phase %s, waiting %q)", round, time.Duration(round)*iwRoundEvery, st.Phase, st.Waiting)
	case !holding:
		r.stuck("stuck", "round %d: not holding and not done (phase %s, waiting %q, query error %v)", round, st.Phase, st.Waiting, err)
		r.cancel()
	case round >= 4:
		r.held++
		r.cancel()
	case strings.Contains(st.HeldReason, "retry") && (r.s.Seed+int64(round))%2 == 0:
		r.held++
		r.w.repair()
		r.send(RetrySignal, r.s.Seed%3 == 0, ProceedInput{RequestedBy: "interleave operator"})
	default:
		r.held++
		r.w.noteProceed()
		r.send(ProceedSignal, r.s.Seed%3 == 0, ProceedInput{RequestedBy: "interleave operator"})
	}
}

func (r *iwRun) stuck(invariant, format string, args ...any) {
	if r.stuckSeen {
		return
	}
	r.stuckSeen = true
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.violate(invariant, format, args...)
}

// --- the end-state checks -------------------------------------------------------

var iwCleanEnds = []string{string(PhaseDone), string(PhaseFailed), string(PhaseRolledBack), "cancelled"}

// iwCheck checks the rules that must hold once the rotation ended.
func iwCheck(r *iwRun, res iwResult, snap iwSnapshot) []iwViolation {
	var out []iwViolation
	at := r.env.Now().Sub(r.start)
	bad := func(invariant, format string, args ...any) {
		out = append(out, iwViolation{Invariant: invariant, Detail: fmt.Sprintf(format, args...), At: at})
	}
	st := res.Status
	if !slices.Contains(iwCleanEnds, res.Outcome) {
		bad("no-clean-end", "ended %s: %s", res.Outcome, res.Detail)
	}
	if r.cancelled && res.Outcome == string(PhaseFailed) && strings.Contains(strings.ToLower(res.Detail), "cancel") {
		bad("cancel-ends-failed", "a cancelled rotation ended as failed, not cancelled: %s", res.Detail)
	}
	for _, rv := range st.Revocations {
		if rv.State == RevocationPending || rv.State == RevocationAccepted {
			bad("revocation-left-open", "revocation of %q (%s, mode %q) ended %s", rv.AccessKeyID, rv.Which, rv.Mode, rv.State)
		}
		if rv.State == RevocationRejected || rv.AccessKeyID == "" {
			continue
		}
		if rv.State == RevocationFailed && strings.HasPrefix(rv.Error, "left active:") && snap.stillNeeded(rv.AccessKeyID) {
			continue // the rotation said why the key must stay, and it must
		}
		if k := snap.key(rv.AccessKeyID); k != nil && k.Status == model.KeyActive && !snap.PermFired {
			bad("revoked-key-active", "%s was revoked (%s, mode %q, state %s) and is still active", rv.AccessKeyID, rv.Which, rv.Mode, rv.State)
		}
	}
	allowed := append(slices.Clone(snap.InitialKeys), st.NewKeyID, st.OldKeyID)
	for _, k := range snap.Keys {
		if !slices.Contains(allowed, k.ID) {
			bad("stray-key", "%s (%s) is neither a key the user had nor the status's old (%q) or new (%q) key; keys %s",
				k.ID, k.Status, st.OldKeyID, st.NewKeyID, snap.describeKeys())
		}
	}
	if k := snap.key(st.NewKeyID); k != nil && k.Status == model.KeyActive {
		for _, ts := range st.Targets {
			if ts.State == TargetConfirmed && snap.Holds[ts.Target] != st.NewKeyID {
				bad("confirmed-target-stale", "status says %s confirmed but it holds %q, not the new key %s", ts.Target, snap.Holds[ts.Target], st.NewKeyID)
			}
		}
	}
	if len(snap.Keys) == 2 && st.Error == "" && st.Phase != PhaseFailed && st.Phase != PhaseRolledBack && res.Outcome != "cancelled" {
		bad("two-keys-unreported", "the user ends with two keys %s but the status (phase %s) does not say so", snap.describeKeys(), st.Phase)
	}
	if res.Outcome == string(PhaseDone) {
		if len(snap.Keys) != 1 || snap.Keys[0].ID != st.NewKeyID || snap.Keys[0].Status != model.KeyActive {
			bad("done-not-clean", "done, but the user holds %s (new key %q)", snap.describeKeys(), st.NewKeyID)
		}
	}
	return out
}

// --- small helpers ------------------------------------------------------------------

func iwFirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// iwQuietLogger drops the test environment's logs: thousands of runs.
type iwQuietLogger struct{}

func (iwQuietLogger) Debug(string, ...any) {}
func (iwQuietLogger) Info(string, ...any)  {}
func (iwQuietLogger) Warn(string, ...any)  {}
func (iwQuietLogger) Error(string, ...any) {}

var _ log.Logger = iwQuietLogger{}

// A quarter of the schedules (seed%4 == 2, which no regression seed is)
// push their targets in batches of iwBatchSize (PushBatch children), so
// every operator action and fault also meets a batch under way.
const iwBatchSize = 2

func iwInBatches(seed int64) bool { return seed%4 == 2 }

// iwBatches sets the rotation's batch size through its context.
type iwBatches struct {
	interceptor.WorkerInterceptorBase
	size int
}

func (b *iwBatches) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &iwBatchesInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, size: b.size}
}

type iwBatchesInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	size int
}

func (i *iwBatchesInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	return i.Next.ExecuteWorkflow(workflow.WithValue(ctx, batchSizeKey{}, i.size), in)
}
