package metrics

import (
	"context"
	"log/slog"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/keyrotor/keyrotor/internal/contract"
)

// Defaults of WatchOptions.
const (
	defaultHealthEvery = 10 * time.Second
	// DefaultPollEvery is how often the worker reads the rotations' state
	// from visibility by default.
	DefaultPollEvery = 30 * time.Second
	// DefaultAuditEvery is how often the worker audits every account's
	// keys for AccountOldestKeyAge by default.
	DefaultAuditEvery = time.Hour
	// callTimeout bounds one health check or one visibility page.
	callTimeout = 10 * time.Second
	// maxPages bounds one visibility read (pages of pageSize executions).
	maxPages = 50
	pageSize = 200
)

// WatchOptions say what the worker watches.
type WatchOptions struct {
	Namespace string // the worker's namespace
	TaskQueue string // the worker's task queue: only its rotations count
	// PollEvery is how often visibility is read (DefaultPollEvery when 0).
	PollEvery time.Duration
	// HealthEvery is how often Temporal's health is checked (10s when 0).
	HealthEvery time.Duration
	Logger      *slog.Logger
	// Audit, when set, is run every AuditEvery (DefaultAuditEvery when 0)
	// for AccountOldestKeyAge.
	Audit      AccountAudit
	AuditEvery time.Duration
}

// AccountAudit lists every account's keys. It returns, per account it
// read in full, the creation time of the oldest active key of any user
// (the zero time when there is none), and an error naming what it could
// not read (the accounts concerned are left out).
type AccountAudit func(ctx context.Context) (map[string]time.Time, error)

// Watch is called once the worker polls its task queue (its Start
// returned). Until ctx ends it checks Temporal's health (client
// CheckHealth), for /readyz, and reads from Temporal's visibility store
// which rotations hold and when each last completed. It returns at once;
// the work goes on in the background.
func (m *Metrics) Watch(ctx context.Context, c client.Client, o WatchOptions) {
	if o.PollEvery <= 0 {
		o.PollEvery = DefaultPollEvery
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = defaultHealthEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m.ready.set(func(r *readiness) {
		r.started = true
		r.maxAge = 3 * o.HealthEvery
	})
	go every(ctx, o.HealthEvery, func() { m.checkHealth(ctx, c) })
	if o.Audit != nil {
		if o.AuditEvery <= 0 {
			o.AuditEvery = DefaultAuditEvery
		}
		go every(ctx, o.AuditEvery, func() { m.audit(ctx, o) })
	}
	go every(ctx, o.PollEvery, func() {
		if err := m.poll(ctx, c, o); err != nil && ctx.Err() == nil {
			o.Logger.Warn("could not read the rotations' state from Temporal's visibility for the metrics", "error", err)
		}
	})
}

// every runs f now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// audit runs one audit and records its accounts' oldest keys. An account
// the audit could not read in full loses its value rather than keep a
// stale one; the warning says why.
func (m *Metrics) audit(ctx context.Context, o WatchOptions) {
	oldest, err := o.Audit(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		o.Logger.Warn("the audit of every account's keys is incomplete, for "+AccountOldestKeyAge, "error", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accountOldest = oldest
}

func (m *Metrics) checkHealth(ctx context.Context, c client.Client) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.CheckHealth(cctx, &client.CheckHealthRequest{})
	if ctx.Err() != nil {
		return
	}
	now := m.now()
	m.ready.set(func(r *readiness) {
		r.err = err
		if err == nil {
			r.checked = now
		}
	})
}

// poll reads the rotations that hold now and the last closed rotation of
// each user, by the search attributes the rotations keep up to date
// (KeyrotorPhase, KeyrotorAccount, KeyrotorUser). Only the worker's task
// queue counts, so deployments that share a namespace stay apart.
func (m *Metrics) poll(ctx context.Context, c client.Client, o WatchOptions) error {
	base := "WorkflowType = " + quote(contract.WorkflowName) + " AND TaskQueue = " + quote(o.TaskQueue)
	var res pollResult
	err := m.list(ctx, c, o.Namespace, base+" AND ExecutionStatus = 'Running' AND KeyrotorPhase = "+quote(string(contract.PhaseHolding)),
		func(ex execution) { res.holding = append(res.holding, ex) })
	if err != nil {
		return err
	}
	err = m.list(ctx, c, o.Namespace, base+" AND ExecutionStatus != 'Running'",
		func(ex execution) { res.closed = append(res.closed, ex) })
	if err != nil {
		return err
	}
	m.apply(res)
	return nil
}

// execution is one rotation run as visibility lists it.
type execution struct {
	account, user, runID string
	phase                contract.Phase // KeyrotorPhase
	closed               time.Time      // zero while it runs
}

// pollResult is what one poll read.
type pollResult struct {
	holding []execution // running, in phase holding
	closed  []execution // ended (done, failed, rolled back, cancelled, terminated…)
}

// apply records a poll: which rotations hold, when each user's rotation
// last completed, and which key ages are stale. A worker's key age is a
// snapshot of what its own IAM steps last saw; when another worker has
// since ended a run of that user's rotation (it deleted or deactivated
// keys this worker never heard of), the snapshot is dropped rather than
// kept growing: the worker that ended the run reports the fresh age.
func (m *Metrics) apply(res pollResult) {
	holding := map[rotationKey]bool{}
	for _, ex := range res.holding {
		holding[keyOf(ex.account, ex.user)] = true
	}
	lastClosed := map[rotationKey]execution{}
	for _, ex := range res.closed {
		k := keyOf(ex.account, ex.user)
		if ex.closed.After(lastClosed[k].closed) {
			lastClosed[k] = ex
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holding, m.polled = holding, true
	for _, ex := range res.closed {
		if ex.phase == contract.PhaseDone {
			m.noteDone(ex.account, ex.user, ex.closed)
		}
	}
	for k, ex := range lastClosed {
		if seen, ok := m.keysSeen[k]; ok && seen.Before(ex.closed) && m.endedHere[k] != ex.runID {
			delete(m.oldestKey, k)
			delete(m.keysSeen, k)
		}
	}
}

// list calls f with every rotation run the query finds (at most maxPages
// pages of them).
func (m *Metrics) list(ctx context.Context, c client.Client, namespace, query string, f func(execution)) error {
	req := &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, PageSize: pageSize}
	for range maxPages {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.ListWorkflow(cctx, req)
		cancel()
		if err != nil {
			return err
		}
		for _, info := range resp.GetExecutions() {
			attrs := info.GetSearchAttributes().GetIndexedFields()
			ex := execution{runID: info.GetExecution().GetRunId(), phase: contract.Phase(keyword(attrs[contract.SearchPhase.GetName()]))}
			ex.account, ex.user = rotationOf(attrs, info.GetExecution().GetWorkflowId())
			if info.GetCloseTime() != nil {
				ex.closed = info.GetCloseTime().AsTime()
			}
			if ex.account != "" && ex.user != "" {
				f(ex)
			}
		}
		if len(resp.GetNextPageToken()) == 0 {
			return nil
		}
		req.NextPageToken = resp.GetNextPageToken()
	}
	return nil
}

// rotationOf reads a rotation's account and user from its search
// attributes, else from its workflow ID (rotate/<account>/<user>).
func rotationOf(attrs map[string]*commonpb.Payload, workflowID string) (account, user string) {
	account = keyword(attrs[contract.SearchAccount.GetName()])
	user = keyword(attrs[contract.SearchUser.GetName()])
	if account != "" && user != "" {
		return account, user
	}
	rest, ok := strings.CutPrefix(workflowID, "rotate/") // model.WorkflowID
	if !ok {
		return "", ""
	}
	account, user, _ = strings.Cut(rest, "/")
	return account, user
}

// keyword decodes a Keyword search attribute (search attributes are never
// encrypted: they hold no secret).
func keyword(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

// quote writes s as a string literal of Temporal's list filter.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
