package activities

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/keyrotor/keyrotor/internal/ratelimit"
)

// callPolicy is how a push rides out a provider's bad moments inside one
// activity attempt. Replaying a whole attempt for one 502 costs every call
// before it again and spends Temporal's backoff; retrying just the failed
// call, which is idempotent, costs one call.
type callPolicy struct {
	tries     int           // calls of one operation on transient errors (5xx, timeouts, resets)
	initial   time.Duration // first backoff between them, doubled each time,
	max       time.Duration // up to this, each jittered
	maxWait   time.Duration // longest rate-limit wait slept in place; longer ones end the attempt
	heartbeat time.Duration // heartbeat at least this often while waiting
	margin    time.Duration // a wait must end this long before the attempt's deadline
	// record, when set, receives the heartbeats instead of Temporal (tests:
	// the SDK's test environment passes on one heartbeat per 30s).
	record func(context.Context, PushProgress)
}

// defaultCallPolicy suits the workflow's push options (StartToClose 10m,
// HeartbeatTimeout 1m): a handful of quick retries, rate limits of up to two
// minutes slept through, a heartbeat every 10s.
var defaultCallPolicy = callPolicy{
	tries:     6,
	initial:   250 * time.Millisecond,
	max:       5 * time.Second,
	maxWait:   2 * time.Minute,
	heartbeat: 10 * time.Second,
	margin:    15 * time.Second,
}

// failure is a failed call, judged by the provider's classifier.
type failure struct {
	err       error         // the activity error to return when giving up
	transient bool          // worth calling again after a short backoff
	wait      time.Duration // > 0: rate limited, the provider asks to wait this long
}

// caller makes the provider calls of one attempt, retrying each in place
// as its policy allows, counting every call sent and heartbeating the
// attempt's progress while it waits.
type caller struct {
	policy   callPolicy
	calls    int
	progress *PushProgress
	// onWait, when set, hears of every answer that asks to wait (a rate
	// limit), with the wait asked for (0: none given).
	onWait func(time.Duration)
	// limiter, when set, paces the calls on the credential's quota; each
	// call takes its turn first (takeTurn), and onQuotaWait hears of it.
	limiter     *ratelimit.Limiter
	onQuotaWait func(waited time.Duration, handedOff bool)
}

// do calls call until it succeeds, fails for good, or the retries are spent.
func (c *caller) do(ctx context.Context, call func() error, judge func(error) failure) error {
	backoff := c.policy.initial
	tries, waited := 0, time.Duration(0)
	for {
		if err := c.takeTurn(ctx); err != nil {
			return err
		}
		c.calls++
		err := call()
		if err == nil {
			return nil
		}
		f := judge(err)
		if c.onWait != nil && (f.wait > 0 || isRateLimited(f.err)) {
			c.onWait(f.wait)
		}
		if ctx.Err() != nil {
			return f.err
		}
		var pause time.Duration
		switch {
		case f.wait > 0:
			if waited+f.wait > c.policy.maxWait || !c.fitsDeadline(ctx, f.wait) {
				// Temporal waits the rest (NextRetryDelay) without holding a worker slot.
				return f.err
			}
			pause, waited = f.wait, waited+f.wait
		case f.transient:
			tries++
			if tries >= c.policy.tries || !c.fitsDeadline(ctx, backoff) {
				return f.err
			}
			pause, backoff = jitter(backoff), min(2*backoff, c.policy.max)
		default:
			return f.err
		}
		if c.sleep(ctx, pause) != nil {
			return f.err
		}
	}
}

// takeTurn waits for the call's turn on the credential's quota,
// heartbeating meanwhile. A turn further away than the caller can wait in
// place (policy.maxWait, or what the attempt's deadline leaves) ends the
// attempt as rate limited, with the wait as Temporal's next retry delay:
// the push comes back then without holding a worker slot. The heartbeat
// says "waiting for <provider> quota" while it waits.
func (c *caller) takeTurn(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	maxWait := c.policy.maxWait
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = min(maxWait, time.Until(deadline)-c.policy.margin)
	}
	var step string
	if c.progress != nil {
		step = c.progress.Step
		c.progress.Step = "waiting for " + c.limiter.Name() + " quota"
	}
	stop := c.heartbeatWhile(ctx)
	waited, err := c.limiter.Acquire(ctx, max(maxWait, 0))
	stop()
	if c.progress != nil {
		c.progress.Step = step
	}
	var we *ratelimit.WaitError
	switch {
	case errors.As(err, &we):
		if c.onQuotaWait != nil {
			c.onQuotaWait(0, true)
		}
		msg := we.Error()
		if c.progress != nil {
			msg = c.progress.Target + ": " + msg
		}
		return rateLimited(msg, we.Wait, nil)
	case err != nil:
		return err
	}
	if waited > time.Millisecond && c.onQuotaWait != nil {
		c.onQuotaWait(waited, false)
	}
	return nil
}

// heartbeatWhile heartbeats every policy.heartbeat until stop is called.
func (c *caller) heartbeatWhile(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(c.policy.heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				c.heartbeat(ctx)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// fitsDeadline reports whether a wait of d still leaves the attempt time to
// make the call before its StartToClose deadline.
func (c *caller) fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d+c.policy.margin
}

// sleep waits d, heartbeating the progress so far at least every
// policy.heartbeat, and returns early when the attempt is cancelled (a
// missed heartbeat, the workflow gone, the worker stopping).
func (c *caller) sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(c.policy.heartbeat)
	defer tick.Stop()
	c.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case <-tick.C:
			c.heartbeat(ctx)
		}
	}
}

// heartbeat records the attempt's progress, so Temporal knows the attempt
// is alive and the next attempt can resume after the last completed step.
// Outside an activity (direct calls in tests) there is nobody to tell.
// Under a heartbeat gate (PushToTarget's), a quick attempt keeps it until
// it ends (heartbeatGate).
func (c *caller) heartbeat(ctx context.Context) {
	switch {
	case c.progress == nil:
	case c.policy.record != nil:
		c.policy.record(ctx, *c.progress)
	case activity.IsActivity(ctx):
		if g, ok := ctx.Value(heartbeatGateKey{}).(*heartbeatGate); ok && g.hold(c.progress) {
			return
		}
		activity.RecordHeartbeat(ctx, *c.progress)
	}
}

// heartbeatQuiet is how long a push attempt keeps its progress to itself.
// Most pushes finish well within it: their progress is never needed, and
// each heartbeat sent is a write of the rotation's state on the server (a
// fleet of rotations paid one per target). A push that fails sends its
// progress as it ends (flush), so the next attempt resumes after the last
// step; one whose worker dies within the quiet time starts over, and
// writes the same values again. Far inside the push's heartbeat timeout.
const heartbeatQuiet = 5 * time.Second

type heartbeatGateKey struct{}

// heartbeatGate holds back one attempt's heartbeats for its first
// heartbeatQuiet.
type heartbeatGate struct {
	mu      sync.Mutex
	until   time.Time
	pending *PushProgress // held back, not sent yet
}

// withHeartbeatGate gives the attempt behind ctx a heartbeat gate.
func withHeartbeatGate(ctx context.Context, now time.Time) (context.Context, *heartbeatGate) {
	g := &heartbeatGate{until: now.Add(heartbeatQuiet)}
	return context.WithValue(ctx, heartbeatGateKey{}, g), g
}

// hold keeps progress back while the attempt is young, and reports whether
// it did; once the quiet time is over, every heartbeat goes out.
func (g *heartbeatGate) hold(progress *PushProgress) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Now().Before(g.until) {
		g.pending = progress
		return true
	}
	g.pending = nil
	return false
}

// flush sends the progress held back, if any: for an attempt that failed,
// so that the next one resumes after its last step, or restarts the
// writes when a read-back did not confirm them.
func (g *heartbeatGate) flush(ctx context.Context) {
	g.mu.Lock()
	p := g.pending
	g.pending = nil
	g.mu.Unlock()
	if p != nil && activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, *p)
	}
}

// jitter spreads a backoff over [d/2, d) so that many pushes failing
// together do not come back together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// pairFinishTimeout bounds how long a push keeps writing after a cancel, to
// finish the key pair it started.
const pairFinishTimeout = 2 * time.Minute

// pairWrites gives the context for each write of a key pair. Until the
// first value is written, a cancel stops the push at once. Once one is, a
// cancel must not stop it before the other: the target would hold the new
// key ID with the old secret (or the reverse), a pair that signs nothing.
// So from then on the writes go on, within pairFinishTimeout, and the
// cancel is honoured after them (the read-back sees it).
type pairWrites struct {
	ctx      context.Context
	stop     context.CancelFunc
	detached bool
}

// newPairWrites starts detached when an earlier attempt already wrote half
// the pair.
func newPairWrites(ctx context.Context, halfWritten bool) *pairWrites {
	w := &pairWrites{ctx: ctx, stop: func() {}}
	if halfWritten {
		w.wrote()
	}
	return w
}

// wrote records that a value of the pair is written.
func (w *pairWrites) wrote() {
	if !w.detached {
		w.ctx, w.stop = context.WithTimeout(context.WithoutCancel(w.ctx), pairFinishTimeout)
		w.detached = true
	}
}
