package operator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultMaxConcurrent is how many rotations `starter rotate --all` lets run
// at once unless told otherwise.
const DefaultMaxConcurrent = 20

// Fleet outcomes: what became of one user's rotation in a fleet run.
const (
	OutcomeDone       = "done"        // ended done
	OutcomeFailed     = "failed"      // ended otherwise, or could not be started
	OutcomeRunning    = "running"     // started (or found running) and not awaited to its end
	OutcomeSkipped    = "skipped"     // rotated recently (--skip-rotated-within)
	OutcomeNotStarted = "not started" // the run was interrupted before its turn
)

// FleetOptions tune a fleet run.
type FleetOptions struct {
	// MaxConcurrent is the most rotations running at once, counting those
	// found already running; a started rotation counts until it ends.
	MaxConcurrent int
	// Wait waits for every rotation to end. Without it, the run returns once
	// the last rotation has started (it still waits for ends while
	// MaxConcurrent rotations run).
	Wait bool
	// SkipRotatedWithin skips users whose rotation ended done this recently.
	SkipRotatedWithin time.Duration
	// Poll is how often the phases are read for Progress (default 2 s).
	Poll time.Duration
	// Progress, when set, is called after every poll and at the end.
	Progress func(FleetProgress)
	Now      func() time.Time
}

// FleetResult is one user's line of the fleet summary. It holds key IDs,
// never a secret.
type FleetResult struct {
	Account    string         `json:"account"`
	User       string         `json:"user"`
	WorkflowID string         `json:"workflowId"`
	RunID      string         `json:"runId,omitempty"`
	Outcome    string         `json:"outcome"`
	Phase      contract.Phase `json:"phase,omitempty"` // the last phase seen
	// AlreadyRunning says the rotation was running before this run (it was
	// not started again).
	AlreadyRunning bool          `json:"alreadyRunning,omitempty"`
	NewKeyID       string        `json:"newKeyId,omitempty"`
	Duration       time.Duration `json:"-"`
	Seconds        float64       `json:"durationSeconds,omitempty"` // Duration, for JSON
	Error          string        `json:"error,omitempty"`
	// LastRotated is when the user's last rotation ended done, for a
	// skipped user.
	LastRotated *time.Time `json:"lastRotated,omitempty"`
}

// Failed reports whether the line counts as a failure (exit status 1).
func (res FleetResult) Failed() bool { return res.Outcome == OutcomeFailed }

// FleetProgress counts the fleet's rotations by where they stand.
type FleetProgress struct {
	Total   int `json:"total"`
	Queued  int `json:"queued"`  // not started yet
	Running int `json:"running"` // started or found running, not ended
	// Of the running ones: up to and including the push, and in a wait
	// (grace, idle check, delete delay, or holding).
	Pushing int `json:"pushing"`
	Waiting int `json:"waiting"`
	Holding int `json:"holding"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// FleetRunner is what a fleet run needs from Temporal; FleetClient is the
// real one.
type FleetRunner interface {
	Start(ctx context.Context, r model.Rotation) (Started, error)
	// Wait blocks until the rotation ends and returns its final status.
	Wait(ctx context.Context, s Started) (contract.Status, error)
	// Phases returns the current phase of those of the rotations that run.
	Phases(ctx context.Context, workflowIDs []string) (map[string]contract.Phase, error)
	// LastDone returns, by workflow ID, when each of the rotations last
	// ended done, if that was after since.
	LastDone(ctx context.Context, rotations []model.Rotation, since time.Time) (map[string]time.Time, error)
}

// FleetClient runs a fleet against Temporal.
type FleetClient struct {
	Client    client.Client
	TaskQueue string
	Namespace string
}

// Start implements FleetRunner.
func (f FleetClient) Start(ctx context.Context, r model.Rotation) (Started, error) {
	return StartRotation(ctx, f.Client, f.TaskQueue, r)
}

// Wait implements FleetRunner.
func (f FleetClient) Wait(ctx context.Context, s Started) (contract.Status, error) {
	return Wait(ctx, f.Client, s)
}

// Phases implements FleetRunner, from visibility (the KeyrotorPhase search
// attribute): one call per poll, however many rotations run.
func (f FleetClient) Phases(ctx context.Context, ids []string) (map[string]contract.Phase, error) {
	out := map[string]contract.Phase{}
	if len(ids) == 0 {
		return out, nil
	}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = quote(id)
	}
	q := fmt.Sprintf("ExecutionStatus = 'Running' AND WorkflowId IN (%s)", strings.Join(quoted, ", "))
	err := listExecutions(ctx, f.Client, f.Namespace, q, func(e execution) {
		out[e.workflowID] = e.phase
	})
	return out, err
}

// LastDone implements FleetRunner, from visibility: the closed rotations on
// the task queue that ended in phase done after since.
func (f FleetClient) LastDone(ctx context.Context, rotations []model.Rotation, since time.Time) (map[string]time.Time, error) {
	wanted := map[string]bool{}
	for _, r := range rotations {
		wanted[r.WorkflowID()] = true
	}
	q := fmt.Sprintf("WorkflowType = %s AND TaskQueue = %s AND KeyrotorPhase = %s AND CloseTime > %s",
		quote(contract.WorkflowName), quote(f.TaskQueue), quote(string(contract.PhaseDone)), quote(since.UTC().Format(time.RFC3339)))
	out := map[string]time.Time{}
	err := listExecutions(ctx, f.Client, f.Namespace, q, func(e execution) {
		if wanted[e.workflowID] && e.closed != nil && e.closed.After(out[e.workflowID]) {
			out[e.workflowID] = *e.closed
		}
	})
	return out, err
}

// RunFleet rotates every rotation given, at most opts.MaxConcurrent at
// once, and returns one result per rotation, in the order given. A user
// whose rotation already runs is not started again: its run counts against
// the limit, and with Wait its end is reported like the others'. When ctx
// is cancelled (Ctrl-C), nothing more is started and RunFleet returns at
// once: the rotations go on in Temporal, and their lines say "running".
func RunFleet(ctx context.Context, f FleetRunner, rotations []model.Rotation, opts FleetOptions) []FleetResult {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	fl := &fleet{results: make([]FleetResult, len(rotations)), state: make([]string, len(rotations))}
	for i, r := range rotations {
		fl.results[i] = FleetResult{Account: r.Account, User: r.User, WorkflowID: r.WorkflowID(), Outcome: OutcomeNotStarted}
	}
	if opts.SkipRotatedWithin > 0 {
		last, err := f.LastDone(ctx, rotations, opts.Now().Add(-opts.SkipRotatedWithin))
		if err != nil {
			// Without the history nothing is skipped: rotating again is
			// safe, only slower.
			last = nil
		}
		for i := range rotations {
			if t, ok := last[fl.results[i].WorkflowID]; ok {
				fl.results[i].Outcome, fl.results[i].LastRotated = OutcomeSkipped, &t
			}
		}
	}

	// Waits outlive an interrupted run only as long as RunFleet does.
	waitCtx, stopWaits := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWaits()
	pollDone := make(chan struct{})
	pollStopped := make(chan struct{})
	go fl.poll(ctx, f, opts, pollDone, pollStopped)

	slots := make(chan struct{}, opts.MaxConcurrent)
	var wg sync.WaitGroup
	interrupted := false
	for i, r := range rotations {
		if fl.outcome(i) == OutcomeSkipped {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		// A start in flight finishes even on Ctrl-C, so its line is right.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		s, err := f.Start(sctx, r)
		cancel()
		if err != nil {
			fl.update(i, func(res *FleetResult) { res.Outcome, res.Error = OutcomeFailed, err.Error() })
			<-slots
			continue
		}
		started := opts.Now()
		fl.update(i, func(res *FleetResult) {
			res.Outcome, res.RunID, res.AlreadyRunning = OutcomeRunning, s.RunID, s.AlreadyRunning
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := f.Wait(waitCtx, s)
			if waitCtx.Err() != nil {
				return // not awaited: the line stays "running"
			}
			fl.update(i, func(res *FleetResult) { res.ended(st, err, started, opts.Now()) })
			<-slots
		}()
	}
	if opts.Wait && !interrupted {
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
		}
	}
	stopWaits()
	close(pollDone)
	<-pollStopped
	if ctx.Err() == nil {
		fl.readPhases(ctx, f) // the lines of rotations left running say where they stand
	}
	if opts.Progress != nil {
		opts.Progress(fl.progress())
	}
	return fl.snapshot()
}

// ended fills in a rotation's end.
func (res *FleetResult) ended(st contract.Status, err error, started, now time.Time) {
	if st.Phase != "" {
		res.Phase = st.Phase
	}
	res.NewKeyID = st.NewKeyID
	from := started
	if !st.StartedAt.IsZero() {
		from = st.StartedAt
	}
	res.Duration = now.Sub(from).Round(time.Second)
	res.Seconds = res.Duration.Seconds()
	switch {
	case err != nil:
		res.Outcome, res.Error = OutcomeFailed, err.Error()
		if st.Error != "" {
			res.Error = st.Error
		}
		for _, t := range st.FailedTargets() {
			e := t.Error
			if !strings.HasPrefix(e, t.Target) {
				e = t.Target + ": " + e
			}
			res.Error += "; " + e
		}
	case st.Phase == contract.PhaseDone:
		res.Outcome = OutcomeDone
	default:
		res.Outcome = OutcomeFailed
		res.Error = "ended " + string(st.Phase)
	}
}

type fleet struct {
	mu      sync.Mutex
	results []FleetResult
	state   []string
}

func (fl *fleet) update(i int, f func(*FleetResult)) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	f(&fl.results[i])
}

func (fl *fleet) outcome(i int) string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.results[i].Outcome
}

func (fl *fleet) snapshot() []FleetResult {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]FleetResult(nil), fl.results...)
}

// poll reads the running rotations' phases every opts.Poll and reports the
// counts, until done closes.
func (fl *fleet) poll(ctx context.Context, f FleetRunner, opts FleetOptions, done <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	if opts.Progress == nil {
		return
	}
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		fl.readPhases(ctx, f)
		opts.Progress(fl.progress())
	}
}

// readPhases updates the running rotations' phases.
func (fl *fleet) readPhases(ctx context.Context, f FleetRunner) {
	var running []string
	for _, r := range fl.snapshot() {
		if r.Outcome == OutcomeRunning {
			running = append(running, r.WorkflowID)
		}
	}
	if len(running) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	phases, err := f.Phases(qctx, running)
	cancel()
	if err != nil {
		return
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for i := range fl.results {
		if p, ok := phases[fl.results[i].WorkflowID]; ok && fl.results[i].Outcome == OutcomeRunning {
			fl.results[i].Phase = p
		}
	}
}

func (fl *fleet) progress() FleetProgress {
	return CountFleet(fl.snapshot())
}

// CountFleet counts results by where they stand.
func CountFleet(results []FleetResult) FleetProgress {
	p := FleetProgress{Total: len(results)}
	for _, r := range results {
		switch r.Outcome {
		case OutcomeNotStarted:
			p.Queued++
		case OutcomeSkipped:
			p.Skipped++
		case OutcomeDone:
			p.Done++
		case OutcomeFailed:
			p.Failed++
		case OutcomeRunning:
			p.Running++
			switch PhaseGroup(r.Phase) {
			case GroupPushing:
				p.Pushing++
			case GroupWaiting:
				p.Waiting++
				if r.Phase == contract.PhaseHolding {
					p.Holding++
				}
			}
		}
	}
	return p
}

// Phase groups, for the progress line.
const (
	GroupPushing = "pushing" // inspecting, creating, verifying, pushing
	GroupWaiting = "waiting" // grace, checking-idle, holding, waiting-to-delete
	GroupOther   = "other"
)

// PhaseGroup says which group of the progress line a phase belongs to.
func PhaseGroup(p contract.Phase) string {
	switch p {
	case contract.PhaseInspecting, contract.PhaseCreating, contract.PhaseVerifying, contract.PhasePushing:
		return GroupPushing
	case contract.PhaseGrace, contract.PhaseCheckingIdle, contract.PhaseHolding, contract.PhaseWaitingToDelete:
		return GroupWaiting
	}
	return GroupOther
}

// execution is what the fleet reads of one workflow execution in
// visibility.
type execution struct {
	workflowID, runID string
	running           bool
	phase             contract.Phase
	account           string
	started           time.Time
	closed            *time.Time
}

// listExecutions pages through a visibility query.
func listExecutions(ctx context.Context, c client.Client, namespace, query string, each func(execution)) error {
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list rotations (%s): %w", query, err)
		}
		for _, info := range resp.GetExecutions() {
			e := execution{
				workflowID: info.GetExecution().GetWorkflowId(),
				runID:      info.GetExecution().GetRunId(),
				running:    info.GetStatus().String() == "Running",
				started:    info.GetStartTime().AsTime(),
			}
			if ct := info.GetCloseTime(); ct != nil && !ct.AsTime().IsZero() {
				t := ct.AsTime()
				e.closed = &t
			}
			sa := info.GetSearchAttributes().GetIndexedFields()
			e.phase = contract.Phase(keyword(sa[contract.SearchPhase.GetName()]))
			e.account = keyword(sa[contract.SearchAccount.GetName()])
			each(e)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

// keyword decodes a Keyword search attribute (search attributes are never
// encrypted).
func keyword(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

// quote makes a string literal for a visibility query.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}
