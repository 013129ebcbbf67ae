package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/workflows"
)

// silT is the testing.TB a schedule of TestServerInterleavings gives its
// rig. Schedules run on goroutines of their own, several at a time, where
// the real *testing.T must not fail: silT records failures instead, turns
// FailNow into a panic the schedule recovers (silAbort), and runs the
// rig's cleanups (worker stops, emulators close) when the schedule ends
// rather than when the whole test does. Everything else (Name, TempDir,
// Context...) is the parent test's.
type silT struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failures []string
}

// silAbort is what silT.FailNow panics with.
type silAbort struct{}

func newSilT(parent testing.TB) *silT { return &silT{TB: parent} }

func (s *silT) Helper() {}

func (s *silT) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// runCleanups runs the registered cleanups, last first.
func (s *silT) runCleanups() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (s *silT) record(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, msg)
}

func (s *silT) Errorf(format string, args ...any) { s.record(fmt.Sprintf(format, args...)) }
func (s *silT) Error(args ...any)                 { s.record(fmt.Sprint(args...)) }
func (s *silT) Fail()                             { s.record("failed") }
func (s *silT) FailNow()                          { panic(silAbort{}) }
func (s *silT) Fatalf(format string, args ...any) { s.Errorf(format, args...); s.FailNow() }
func (s *silT) Fatal(args ...any)                 { s.Error(args...); s.FailNow() }
func (s *silT) Log(args ...any)                   {}
func (s *silT) Logf(string, ...any)               {}

func (s *silT) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.failures) > 0
}

func (s *silT) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failures...)
}

// silGuard runs f and turns a failed require (silAbort) or a panic into an
// error: nothing a schedule's goroutines do may take the test binary down.
func silGuard(f func()) (err error) {
	defer func() {
		switch p := recover(); p.(type) {
		case nil:
		case silAbort:
			err = errors.New("a harness step failed")
		default:
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	f()
	return nil
}

// silRun is a schedule under way: its rig, its run, what the operator did.
type silRun struct {
	s       silSchedule
	r       *rig
	c       client.Client
	started operator.Started
	begin   time.Time
	initial []string       // the user's keys before the rotation
	targets []model.Target // as the worker's configuration has them

	mu          sync.Mutex
	trace       []string
	stopWorker  func()
	restartMu   sync.Mutex // one restart at a time
	restarts    int
	lastStop    time.Time // when a worker was last stopped
	actions     int
	ended       chan struct{}  // closed when the run closed: actions still to come are left out
	modeNowSent bool           // a revoke with mode now was sent: no active key is fine
	newRevoked  bool           // a revoke named the new key: targets may hold a deleted key
	oldRevoked  bool           // a revoke named the old key
	proceeds    bool           // proceed was sent (with oldRevoked: the old key may go without every target)
	cancelled   bool           // the operator cancelled
	harness     []string       // harness steps that failed
	inflight    sync.WaitGroup // operator requests under way
}

func (x *silRun) log(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.trace = append(x.trace, fmt.Sprintf("+%s %s", time.Since(x.begin).Round(time.Millisecond), fmt.Sprintf(format, args...)))
}

// goGuarded runs f on its own goroutine; a failure in it is a harness error.
func (x *silRun) goGuarded(what string, f func()) {
	x.inflight.Add(1)
	go func() {
		defer x.inflight.Done()
		if err := silGuard(f); err != nil {
			x.mu.Lock()
			x.harness = append(x.harness, what+": "+err.Error())
			x.mu.Unlock()
		}
	}()
}

func silRunSchedule(parent *testing.T, s silSchedule) (res silResult) {
	began := time.Now()
	res = silResult{Seed: s.Seed, Schedule: s}
	st := newSilT(parent)
	var x *silRun
	err := silGuard(func() { x = silStart(st, s) })
	if err == nil {
		err = silGuard(func() { silFinish(x, &res) })
	}
	if x != nil {
		x.inflight.Wait()
		x.mu.Lock()
		res.Trace = append(res.Trace, x.trace...)
		for _, h := range x.harness {
			res.Violations = append(res.Violations, silViolation{"harness", h})
		}
		x.mu.Unlock()
	}
	if err != nil {
		if res.Outcome == "" {
			res.Outcome = "harness"
		}
		res.Violations = append(res.Violations, silViolation{"harness", err.Error() + "; " + strings.Join(st.Failures(), "; ")})
	}
	st.runCleanups()
	res.Elapsed = time.Since(began)
	return res
}

// silStart brings up the schedule's world and starts the rotation.
func silStart(st *silT, s silSchedule) *silRun {
	o := rigOptions{users: map[string][]model.Target{s.User: s.Targets}, policy: s.Policy, noStart: true}
	if s.Missing >= 0 {
		o.noSeed = []model.Target{s.Targets[s.Missing]}
	}
	r := newRig(st, o)
	x := &silRun{s: s, r: r, c: r.client, initial: []string{r.oldKeys[s.User].ID}, ended: make(chan struct{})}
	x.stopWorker = r.startWorker()
	if s.CrashOn != "" {
		// First, so that the random faults below cannot take the call.
		r.emu.AWS.Faults.Add(faults.Rule{Op: s.CrashOn, LoseResult: true, Delay: 5 * time.Second, Times: 1})
	}
	if s.FaultRate > 0 {
		seed := uint64(s.Seed)
		r.emu.AWS.Faults.Add(faults.Random(s.FaultRate, seed, 503))
		for i, inj := range []*faults.Injector{r.emu.GitHub.Faults, r.emu.GitLab.Faults} {
			if s.RateLimit {
				inj.Add(faults.RandomRetryAfter(s.FaultRate, seed+uint64(i)+1, time.Second))
			} else {
				inj.Add(faults.Random(s.FaultRate, seed+uint64(i)+1, 502))
			}
		}
	}
	rot, err := r.cfg.Rotation("", s.User)
	if err != nil {
		st.Fatalf("rotation of %s: %v", s.User, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x.begin = time.Now()
	x.targets = rot.Targets
	x.started, err = operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	if err != nil {
		st.Fatalf("start: %v", err)
	}
	x.log("started %s (run %s)", x.started.WorkflowID, x.started.RunID)
	if s.Stubborn > 0 {
		old := r.oldKeys[s.User].ID
		x.goGuarded("stubborn pipeline", func() {
			for until := time.Now().Add(s.Stubborn); time.Now().Before(until) && x.sleep(300*time.Millisecond); {
				r.emu.AWS.MarkUsed(old, time.Now())
			}
		})
	}
	if s.CrashOn != "" {
		x.goGuarded("crash", func() {
			for r.emu.AWS.Faults.Calls()[s.CrashOn] == 0 {
				if !x.sleep(2 * time.Millisecond) {
					return
				}
			}
			x.log("%s reached IAM: restarting the worker while the answer hangs", s.CrashOn)
			x.restart(100 * time.Millisecond)
		})
	}
	x.goGuarded("operator", func() {
		for i, a := range s.Actions {
			if !x.sleep(time.Until(x.begin.Add(a.At))) {
				x.log("the rotation ended: %d actions left out", len(s.Actions)-i)
				return
			}
			x.act(a)
		}
	})
	return x
}

// sleep waits for d, or until the run closes (then it returns false).
func (x *silRun) sleep(d time.Duration) bool {
	select {
	case <-x.ended:
		return false
	case <-time.After(d):
		return true
	}
}

// act carries out one operator action. Requests go out on goroutines of
// their own (an update waits for a worker, and there may be none for a
// while), so the next action is not held up.
func (x *silRun) act(a silAction) {
	x.mu.Lock()
	x.actions++
	x.mu.Unlock()
	switch a.Kind {
	case silRestart:
		x.goGuarded("restart", func() { x.restart(a.Down) })
	case silCancel:
		x.mu.Lock()
		x.cancelled = true
		x.mu.Unlock()
		x.goGuarded("cancel", func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := x.c.CancelWorkflow(ctx, x.started.WorkflowID, x.started.RunID)
			x.log("cancel: %s", silErr(err))
		})
	case silRevoke:
		in := contract.RevokeInput{Reason: "seen in a build log", Mode: a.Mode, RequestedBy: "server-interleave"}
		x.mu.Lock()
		if a.Mode == contract.RevokeModeNow {
			x.modeNowSent = true
		}
		x.mu.Unlock()
		x.goGuarded("revoke", func() {
			switch a.Revoke {
			case silRevokeOldID:
				in.AccessKeyID = x.initial[0]
			case silRevokeNewID:
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				st, err := operator.Status(ctx, x.c, x.started.WorkflowID)
				cancel()
				if err != nil || st.NewKeyID == "" {
					// No new key yet (or no worker to ask): a well-formed
					// ID of no key of this user, which must be rejected.
					in.AccessKeyID = "AKIAZZZZZZZZZEXAMPLE"
				} else {
					in.AccessKeyID = st.NewKeyID
				}
			}
			x.mu.Lock()
			switch in.AccessKeyID {
			case "", x.initial[0]:
				x.oldRevoked = true
			default:
				x.newRevoked = true
			}
			x.mu.Unlock()
			x.sendRevoke(in, a.ViaUpdate)
		})
	case silProceed, silRetry, silRollback:
		name := map[string]string{silProceed: contract.ProceedSignal, silRetry: contract.RetrySignal, silRollback: contract.RollbackSignal}[a.Kind]
		if a.Kind == silRetry && a.Repair {
			x.repair()
		}
		if a.Kind == silProceed {
			x.mu.Lock()
			x.proceeds = true
			x.mu.Unlock()
		}
		x.goGuarded(a.Kind, func() { x.request(name, a.ViaUpdate, "") })
	}
}

// restart stops the worker and, after down, starts another one: the new
// worker has none of the old one's state and rebuilds the rotation from
// its history.
func (x *silRun) restart(down time.Duration) {
	x.restartMu.Lock()
	defer x.restartMu.Unlock()
	x.mu.Lock()
	stop := x.stopWorker
	x.restarts++
	x.mu.Unlock()
	t0 := time.Now()
	stop()
	x.mu.Lock()
	x.lastStop = time.Now()
	x.mu.Unlock()
	x.log("worker stopped (took %s); down for %s", time.Since(t0).Round(time.Millisecond), down)
	time.Sleep(down)
	next := x.r.startWorker()
	x.mu.Lock()
	x.stopWorker = next
	x.mu.Unlock()
	x.log("worker started")
}

// repair creates the missing target, as an operator fixing it would.
func (x *silRun) repair() {
	if x.s.Missing < 0 {
		return
	}
	tg := x.s.Targets[x.s.Missing]
	x.r.emu.SeedTarget(tg)
	x.log("repaired %s", tg)
}

func (x *silRun) sendRevoke(in contract.RevokeInput, viaUpdate bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	named := in.AccessKeyID
	if named == "" {
		named = "(the old key)"
	}
	what := fmt.Sprintf("revoke %s mode=%q", named, in.Mode)
	if !viaUpdate {
		err := x.c.SignalWorkflow(ctx, x.started.WorkflowID, x.started.RunID, contract.RevokeSignal, in)
		x.log("%s (signal): %s", what, silErr(err))
		return
	}
	// To this run only: operator.Revoke would start a new rotation once
	// this one has ended.
	h, err := x.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: x.started.WorkflowID, RunID: x.started.RunID,
		UpdateName: contract.RevokeSignal, Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res contract.RevokeResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		x.log("%s (update): %s", what, silErr(err))
		return
	}
	x.log("%s (update): recorded %s (%s) %s", what, res.Revocation.State, res.Revocation.Which, res.Revocation.Error)
}

// request sends proceed, retry or rollback.
func (x *silRun) request(name string, viaUpdate bool, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in := contract.ProceedInput{Reason: why, RequestedBy: "server-interleave"}
	if !viaUpdate {
		err := x.c.SignalWorkflow(ctx, x.started.WorkflowID, x.started.RunID, name, in)
		x.log("%s (signal) %s: %s", name, why, silErr(err))
		return
	}
	res, err := operator.Request(ctx, x.c, x.started.WorkflowID, name, in)
	if err != nil {
		x.log("%s (update) %s: %s", name, why, silErr(err))
		return
	}
	x.log("%s (update) %s: accepted in %s", name, why, res.Phase)
}

func silErr(err error) string {
	if err == nil {
		return "ok"
	}
	return silFirstLine(err.Error())
}

// lostActivity says whether the rotation waits for an activity that a
// stopped worker had started (the server times it out after its heartbeat
// timeout, whether or not it was asked to cancel), and until when that may
// take.
func (x *silRun) lostActivity() (until time.Time, ok bool) {
	x.mu.Lock()
	lastStop := x.lastStop
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := x.c.DescribeWorkflowExecution(ctx, x.started.WorkflowID, x.started.RunID)
	if err != nil {
		return until, false
	}
	for _, pa := range d.GetPendingActivities() {
		started := pa.GetLastStartedTime().AsTime()
		// A task handed out as the worker stopped may start a moment after.
		state := pa.GetState()
		running := state == enumspb.PENDING_ACTIVITY_STATE_STARTED || state == enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
		if running && pa.GetLastStartedTime() != nil && !lastStop.IsZero() && started.Before(lastStop.Add(5*time.Second)) {
			// The heartbeat timeout of a push is a minute; then it is
			// retried, and the rotation needs a little longer.
			if t := started.Add(time.Minute + 20*time.Second); t.After(until) {
				until, ok = t, true
			}
		}
	}
	return until, ok
}

// silFinish waits for the rotation to end, answering holds, then checks
// the emulators' state and replays the history.
func silFinish(x *silRun, res *silResult) {
	type final struct {
		st              contract.Status
		outcome, detail string
	}
	ended := make(chan final, 1)
	waitCtx, cancelWait := context.WithTimeout(context.Background(), silEndWithin+silLostGrace+30*time.Second)
	defer cancelWait()
	go func() {
		st, outcome, detail := silFinal(waitCtx, x.c, x.started)
		ended <- final{st, outcome, detail}
	}()
	holdRNG := rand.New(rand.NewPCG(uint64(x.s.Seed), 0x686f6c64))
	deadline := x.begin.Add(silEndWithin)
	var f final
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	stuck := false
wait:
	for {
		select {
		case f = <-ended:
			break wait
		case <-tick.C:
		}
		if stuck {
			if time.Now().After(deadline) {
				cancelWait() // give up: silFinal returns "running"
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := operator.Status(ctx, x.c, x.started.WorkflowID)
		cancel()
		if time.Now().After(deadline) {
			// A push handed to a worker as it stopped is lost with it: the
			// server retries it once its heartbeat timeout (a minute) has
			// passed. That is slow, not stuck.
			if until, ok := x.lostActivity(); ok && until.Before(x.begin.Add(silEndWithin+silLostGrace)) {
				if until.After(deadline) {
					x.log("harness: an activity was lost with a stopped worker; waiting until +%s", until.Sub(x.begin).Round(time.Second))
					deadline = until
					continue
				}
			}
			stuck = true
			res.Violations = append(res.Violations, silViolation{"stuck", fmt.Sprintf("not ended %s after the start: phase %s, waiting %q, held %q (query error %v)",
				time.Since(x.begin).Round(time.Second), st.Phase, st.Waiting, st.HeldReason, err)})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			x.log("harness: cancel (stuck): %s", silErr(x.c.CancelWorkflow(ctx, x.started.WorkflowID, x.started.RunID)))
			cancel()
			deadline = time.Now().Add(20 * time.Second) // for the cancel to take
			continue
		}
		if err != nil || (st.Phase != contract.PhaseHolding && st.HeldReason == "") {
			continue
		}
		// Holding for an operator: answer it.
		if strings.Contains(st.HeldReason, "retry") && holdRNG.IntN(2) == 0 {
			x.repair()
			x.request(contract.RetrySignal, true, "held: "+silFirstLine(st.HeldReason))
			continue
		}
		x.mu.Lock()
		x.proceeds = true
		x.mu.Unlock()
		x.request(contract.ProceedSignal, holdRNG.IntN(2) == 0, "held: "+silFirstLine(st.HeldReason))
	}
	if f.outcome == "running" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		x.log("harness: terminate: %s", silErr(x.c.TerminateWorkflow(ctx, x.started.WorkflowID, x.started.RunID, "server interleaving test: stuck")))
		cancel()
	}
	close(x.ended)
	x.log("ended: %s %s", f.outcome, f.detail)
	res.Status, res.Outcome, res.Detail = f.st, f.outcome, f.detail

	// Let the operator's late requests and restarts finish: the world must
	// be still when it is checked.
	x.inflight.Wait()
	x.log("IAM and STS calls: %s", silCounts(x.r.emu.AWS.Faults.Calls()))
	x.r.emu.AWS.Faults.Clear()
	x.r.emu.GitHub.Faults.Clear()
	x.r.emu.GitLab.Faults.Clear()
	x.mu.Lock()
	res.Restarts, res.Actions = x.restarts, x.actions
	x.mu.Unlock()

	res.Violations = append(res.Violations, silCheck(x, res)...)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := silHistory(ctx, x.c, x.started)
	if err != nil {
		res.Violations = append(res.Violations, silViolation{"harness", "fetch the history: " + err.Error()})
		return
	}
	res.Facts = silScanHistory(h)
	if res.Facts.nondeterministic > 0 {
		res.Violations = append(res.Violations, silViolation{"nondeterminism", fmt.Sprintf("%d workflow tasks failed as non-deterministic on a live worker", res.Facts.nondeterministic)})
	}
	if err := silReplay(h, x.started); err != nil {
		res.Violations = append(res.Violations, silViolation{"replay", "the history of " + strconv.Itoa(len(h.Events)) + " events does not replay: " + silFirstLine(err.Error())})
	}
}

// silFinal waits for the run to close and reads its final report: from the
// result (done, rolled back), from the failure's details (failed) or from
// the cancellation's details (cancelled). outcome is the ending, or
// "running" when ctx ran out first.
func silFinal(ctx context.Context, c client.Client, s operator.Started) (st contract.Status, outcome, detail string) {
	var res contract.RotateResult
	err := c.GetWorkflow(ctx, s.WorkflowID, s.RunID).Get(ctx, &res)
	if err == nil {
		return res.Status, string(res.Status.Phase), ""
	}
	var (
		canceled   *temporal.CanceledError
		app        *temporal.ApplicationError
		terminated *temporal.TerminatedError
	)
	switch {
	case ctx.Err() != nil:
		return st, "running", ""
	case errors.As(err, &canceled):
		if !canceled.HasDetails() {
			return st, "cancelled", "the cancellation carries no status"
		}
		if derr := canceled.Details(&st); derr != nil {
			return st, "cancelled", "the cancellation's status does not decode: " + derr.Error()
		}
		return st, "cancelled", ""
	case errors.As(err, &app) && app.HasDetails():
		// A failed rotation's error carries its final status.
		if derr := app.Details(&st); derr != nil || st.Phase != contract.PhaseFailed {
			return st, "error", fmt.Sprintf("%s (%s; details: %v)", silFirstLine(app.Message()), app.Type(), derr)
		}
		return st, "failed", silFirstLine(app.Message())
	case errors.As(err, &terminated):
		return st, "terminated", ""
	}
	return st, "error", silFirstLine(err.Error())
}

// silHistory fetches the run's whole history.
func silHistory(ctx context.Context, c client.Client, s operator.Started) (*historypb.History, error) {
	h := &historypb.History{}
	iter := c.GetWorkflowHistory(ctx, s.WorkflowID, s.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// silReplay replays the history against the current workflow code with the
// worker's data and failure converters (the payloads are encrypted with the
// codec keys). A non-determinism error comes back as an error.
func silReplay(h *historypb.History, s operator.Started) error {
	dc := codec.NewDataConverter(codecKeys)
	fc := codec.NewFailureConverter(dc)
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: fc})
	if err != nil {
		return err
	}
	replayer.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: contract.WorkflowName})
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return replayer.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: s.WorkflowID, RunID: s.RunID},
	})
}

// silHistoryFacts are what the history says about the workers: workflow
// tasks that timed out (a stopped worker's) and that failed, by cause.
type silHistoryFacts struct {
	events           int
	taskTimeouts     int
	taskFailures     map[string]int
	nondeterministic int
}

func silScanHistory(h *historypb.History) silHistoryFacts {
	f := silHistoryFacts{events: len(h.Events), taskFailures: map[string]int{}}
	for _, ev := range h.Events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			f.taskTimeouts++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			cause := ev.GetWorkflowTaskFailedEventAttributes().GetCause()
			f.taskFailures[strings.TrimPrefix(cause.String(), "WORKFLOW_TASK_FAILED_CAUSE_")]++
			if cause == enumspb.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR {
				f.nondeterministic++
			}
		}
	}
	return f
}

func silFirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}
