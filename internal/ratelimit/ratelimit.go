// Package ratelimit paces a worker's calls on one provider credential (a
// GitHub token or App installation, a GitLab token) so that a fleet of
// rotations spreads itself over the provider's quota window instead of
// spending the whole quota in seconds and then waiting, starving whatever
// else uses the token.
//
// A Limiter learns the quota from the provider's own headers (GitHub's
// x-ratelimit-limit/-remaining/-reset, GitLab's RateLimit-*), and spaces
// calls so that what remains above the reserve (the share of the quota
// keyrotor leaves to others) lasts until the window resets: calls may start
// at (remaining - reserve) / (reset - now) a second, with a burst of up to
// a quarter of the window's budget after a quiet spell (a small fleet goes
// unpaced). Callers queue
// in order; each call is granted against the freshest count, so calls in
// flight are the only ones that can run ahead of it.
//
// Several worker processes sharing one credential need no coordination:
// each reads the same remaining count, which falls as fast as all of them
// together spend it, so each slows down as the others speed up, and the
// remaining count reaches the reserve no sooner than the reset. (With n
// workers, remaining(t) ≈ R₀·((T−t)/T)ⁿ: front-loaded, never below the
// reserve.) A Temporal task-queue rate limit (worker --max-task-queue-
// activities-per-second) caps the whole task queue on the server besides.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Quota is what a provider allows one credential.
type Quota struct {
	Limit  int           // requests per window
	Window time.Duration // how long a window lasts
}

// Limiter paces calls on one credential's quota. It is safe for
// concurrent use.
type Limiter struct {
	name  string  // the provider, for messages: "github"
	share float64 // of the quota keyrotor may use, in (0, 1]

	mu        sync.Mutex
	limit     int       // the window's quota (0: not known yet: no pacing)
	remaining int       // what the window has left, as last seen and counted down since
	reset     time.Time // when the window ends
	window    time.Duration
	tokens    float64         // calls that may start at once (at most burst)
	observed  bool            // the provider's headers were seen
	refilled  time.Time       // when tokens was last topped up
	queue     []chan struct{} // callers waiting for their turn, in order
	timer     *time.Timer     // wakes the queue's head at its time
}

// New returns a limiter that uses share of the quota (0.8 leaves 20% to
// whatever else uses the credential). def is the quota assumed until the
// provider's headers tell the real one (zero: no pacing until they do).
func New(name string, share float64, def Quota) *Limiter {
	if share <= 0 || share > 1 {
		share = 1
	}
	return &Limiter{name: name, share: share, limit: def.Limit, remaining: def.Limit, window: def.Window}
}

// Name is the provider the limiter paces.
func (l *Limiter) Name() string { return l.name }

// WaitError is a call that would have to wait longer than its caller can:
// it should come back after Wait (a push hands that wait to Temporal).
type WaitError struct {
	Provider string
	Wait     time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waiting for %s quota: the next call may start in %s", e.Provider, e.Wait.Round(time.Second))
}

// Acquire waits for the caller's turn to make one call. When the turn
// would come later than maxWait from now, it returns a *WaitError at once
// instead; it returns ctx's error when ctx ends first. waited is how long
// it waited.
func (l *Limiter) Acquire(ctx context.Context, maxWait time.Duration) (waited time.Duration, err error) {
	start := time.Now()
	l.mu.Lock()
	l.rollWindow(start)
	if l.limit <= 0 || l.window <= 0 {
		l.mu.Unlock()
		return 0, nil
	}
	// Until the provider's headers tell the real quota, a turn's time is
	// a guess from the assumed one: wait for it (the first answer usually
	// comes at once) rather than turn the caller away on the guess.
	var giveUp <-chan time.Time
	if !l.observed {
		t := time.NewTimer(maxWait)
		defer t.Stop()
		giveUp = t.C
	} else if eta := l.eta(start, len(l.queue)); eta > maxWait {
		l.mu.Unlock()
		return 0, &WaitError{Provider: l.name, Wait: eta}
	}
	ch := make(chan struct{})
	l.queue = append(l.queue, ch)
	l.dispatchLocked(start)
	l.mu.Unlock()
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		return time.Since(start), l.leave(ch, ctx.Err())
	case <-giveUp:
		l.mu.Lock()
		wait := l.eta(time.Now(), len(l.queue))
		l.mu.Unlock()
		if err := l.leave(ch, &WaitError{Provider: l.name, Wait: max(wait, time.Second)}); err != nil {
			return time.Since(start), err
		}
		return time.Since(start), nil
	}
}

// leave takes a caller that stops waiting (for why) out of the queue. A
// caller granted its turn meanwhile either makes its call (why is a
// WaitError: the turn came in time after all; leave returns nil) or gives
// the turn back.
func (l *Limiter) leave(ch chan struct{}, why error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.queue {
		if c == ch {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			return why
		}
	}
	var we *WaitError
	if errors.As(why, &we) {
		return nil
	}
	// Granted as ctx ended: the call is not made, give it back.
	l.remaining++
	return why
}

// budget is how many calls of a window keyrotor may make.
func (l *Limiter) budget() int { return max(int(float64(l.limit)*l.share), 1) }

// burst is how many calls may start at once after a quiet spell: a
// quarter of the window's budget. A fleet smaller than that is not held
// back at all; a larger one is paced once it has used the burst, so the
// rest of the window's budget lasts until the reset.
func (l *Limiter) burst() float64 { return float64(max(l.budget()/4, 1)) }

// rate is how many calls a second what is left of the window allows.
func (l *Limiter) rate(now time.Time) float64 {
	left := l.reset.Sub(now).Seconds()
	if left <= 0 {
		return 0
	}
	return float64(max(l.usable(), 0)) / left
}

// refill tops the tokens up for the time since the last refill, at the
// rate what is left of the window allows.
func (l *Limiter) refill(now time.Time) {
	if l.refilled.IsZero() {
		// One call to learn the provider's count before anything else:
		// several workers starting together must not each burst on a
		// quota that others may have spent.
		l.tokens, l.refilled = 1, now
		return
	}
	if d := now.Sub(l.refilled).Seconds(); d > 0 {
		l.tokens = min(l.tokens+d*l.rate(now), l.burst())
		l.refilled = now
	}
}

// usable is how many more calls this window allows keyrotor.
func (l *Limiter) usable() int { return l.remaining - (l.limit - l.budget()) }

// eta estimates when a caller with ahead callers before it gets its turn.
func (l *Limiter) eta(now time.Time, ahead int) time.Duration {
	l.refill(now)
	if usable := l.usable(); ahead >= usable {
		// This window's share is taken: the next window's, evenly.
		over := ahead - max(usable, 0)
		return l.reset.Sub(now) + time.Duration(over)*l.window/time.Duration(l.budget())
	}
	need := float64(ahead+1) - l.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need / l.rate(now) * float64(time.Second))
}

// dispatchLocked grants the queue's head its call when a token is there
// (and the window's share is not spent), and sets the timer for the next
// grant.
func (l *Limiter) dispatchLocked(now time.Time) {
	for len(l.queue) > 0 {
		l.rollWindow(now)
		l.refill(now)
		if l.usable() <= 0 {
			l.wakeAt(l.reset, now)
			return
		}
		if l.tokens < 1 {
			wait := time.Duration((1 - l.tokens) / l.rate(now) * float64(time.Second))
			l.wakeAt(now.Add(wait), now)
			return
		}
		close(l.queue[0])
		l.queue = l.queue[1:]
		l.tokens--
		l.remaining--
	}
}

func (l *Limiter) wakeAt(at, now time.Time) {
	d := max(at.Sub(now), time.Millisecond)
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(d, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.dispatchLocked(time.Now())
	})
}

// rollWindow starts a new window once the current one has reset.
func (l *Limiter) rollWindow(now time.Time) {
	if l.window <= 0 || (!l.reset.IsZero() && now.Before(l.reset)) {
		return
	}
	if l.reset.IsZero() {
		l.reset = now.Add(l.window)
	}
	for !now.Before(l.reset) {
		l.reset = l.reset.Add(l.window)
	}
	l.remaining = l.limit
	// Tokens build up at a window's own rate: none for the time spent
	// waiting for this one, or every worker would burst at its start.
	if !l.refilled.IsZero() {
		l.refilled = now
	}
}

// Observe updates the quota from a provider's answer: GitHub's
// x-ratelimit-* or GitLab's RateLimit-* headers. The provider's count
// wins over the local one: it includes every other user of the
// credential.
func (l *Limiter) Observe(h http.Header) {
	limit, ok1 := intHeader(h, "X-Ratelimit-Limit", "Ratelimit-Limit")
	remaining, ok2 := intHeader(h, "X-Ratelimit-Remaining", "Ratelimit-Remaining")
	resetUnix, ok3 := intHeader(h, "X-Ratelimit-Reset", "Ratelimit-Reset")
	if !ok1 || !ok2 || !ok3 || limit <= 0 {
		return
	}
	reset := time.Unix(int64(resetUnix), 0)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !reset.After(now) {
		return // an answer from a window that is over
	}
	switch d := reset.Sub(l.reset); {
	case d > -time.Second && d < time.Second:
		// The window being counted: the provider's count includes every
		// other user of the credential, ours the calls since. Counted
		// down from an assumed quota (no header seen yet, or another
		// limit), ours means nothing: the provider's wins.
		if l.observed && limit == l.limit {
			l.remaining = min(l.remaining, remaining)
		} else {
			l.remaining = remaining
		}
	default:
		// Another window than ours: the provider's clock wins. The step
		// from one window's reset to the next is the window's length;
		// without one yet, the time left is the best guess.
		if d > 0 && !l.reset.IsZero() && (l.window == 0 || d < 2*l.window) {
			l.window = d
		} else if l.window == 0 {
			l.window = max(reset.Sub(now).Round(time.Second), time.Second)
		}
		l.reset, l.remaining = reset, remaining
		if !l.refilled.IsZero() {
			l.refilled = now
		}
	}
	l.limit = limit
	if !l.observed {
		// The count is known now: a tenth of what is left may go at once
		// (ten workers learning it together stay within it).
		l.observed = true
		l.tokens = max(l.tokens, min(l.burst(), float64(max(l.usable(), 0))/10))
		l.refilled = now
	}
	l.dispatchLocked(now)
}

func intHeader(h http.Header, names ...string) (int, bool) {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			i, err := strconv.Atoi(v)
			return i, err == nil
		}
	}
	return 0, false
}

// Transport feeds every answer's rate-limit headers to the limiter; the
// calls take their turn with Acquire where the activity can wait
// (heartbeating) or hand the wait to Temporal.
type Transport struct {
	Base    http.RoundTripper
	Limiter *Limiter
	// Secondary, when set, holds every request until GitHub's secondary
	// limits allow it (a slot and its points).
	Secondary *Secondary
}

// RoundTrip sends the request and feeds the answer's headers to the limiter.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Secondary != nil {
		release, err := t.Secondary.Acquire(req.Context(), req.Method)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	resp, err := base.RoundTrip(req)
	if err == nil && t.Limiter != nil {
		t.Limiter.Observe(resp.Header)
	}
	return resp, err
}
