package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestAcquireSpreadsTheBudgetOverTheWindow(t *testing.T) {
	l := New("github", 0.5, Quota{Limit: 120, Window: time.Second}) // 60 calls a second
	start := time.Now()
	var mu sync.Mutex
	var granted []time.Duration
	var wg sync.WaitGroup
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Acquire(context.Background(), 5*time.Second); err != nil {
				t.Error(err)
			}
			mu.Lock()
			granted = append(granted, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(granted, func(i, j int) bool { return granted[i] < granted[j] })
	// Tokens build up at the window's rate (a burst of up to a quarter of
	// the budget after a quiet spell), and the 60 calls spread over the
	// window, not later than its end.
	if granted[0] > 10*time.Millisecond {
		t.Errorf("the first call started after %v", granted[0])
	}
	// Loose bounds: a loaded machine delays timers, never advances them.
	if last := granted[59]; last < 500*time.Millisecond || last > 1500*time.Millisecond {
		t.Errorf("the 60th call started after %v, want about 1s", last)
	}
	// The window's share is taken: a caller that cannot wait is told when.
	// (The 60th call may come right at the window's end: a call granted
	// from then on is in the next window, and allowed.)
	_, err := l.Acquire(context.Background(), 10*time.Millisecond)
	if err == nil {
		if time.Since(start) < time.Second {
			t.Fatal("a call was granted in a window whose share was spent")
		}
		return
	}
	var we *WaitError
	if !errors.As(err, &we) || we.Wait <= 0 || we.Provider != "github" {
		t.Fatalf("want a WaitError, got %v", err)
	}
	if got := err.Error(); got[:len("waiting for github quota")] != "waiting for github quota" {
		t.Errorf("message %q", got)
	}
}

func TestAcquireEndsWithItsContext(t *testing.T) {
	l := New("gitlab", 1, Quota{Limit: 1, Window: time.Hour})
	if _, err := l.Acquire(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, 2*time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error, got %v", err)
	}
	if len(l.queue) != 0 {
		t.Errorf("%d callers left queued", len(l.queue))
	}
}

func TestObserveFollowsTheProvider(t *testing.T) {
	l := New("github", 0.8, Quota{Limit: 5000, Window: time.Hour})
	reset := time.Now().Add(3 * time.Second).Truncate(time.Second)
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "100")
	h.Set("X-RateLimit-Remaining", "20") // others spent the rest: only the reserve is left
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	l.Observe(h)
	_, err := l.Acquire(context.Background(), 100*time.Millisecond)
	var we *WaitError
	if !errors.As(err, &we) || we.Wait < time.Until(reset)-time.Second {
		t.Fatalf("with only the reserve left, want a wait until the reset, got %v", err)
	}
	// GitLab's header names work the same.
	g := New("gitlab", 1, Quota{})
	h = http.Header{}
	h.Set("RateLimit-Limit", "10")
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	g.Observe(h)
	if _, err := g.Acquire(context.Background(), 100*time.Millisecond); !errors.As(err, &we) {
		t.Fatalf("gitlab: want a wait, got %v", err)
	}
}

// The quota assumed until the first answer is GitHub's 5,000 an hour; the
// provider answers with a far larger one whose window ends within a second
// of the assumed window's end. Its count wins: before, the limiter kept the
// assumed count (4,999) against the real limit (1,000,000), took the
// window's share as spent, and made every push wait an hour.
func TestObserveTakesTheProvidersCountOverTheAssumedOne(t *testing.T) {
	l := New("github", 0.8, Quota{Limit: 5000, Window: time.Hour})
	if _, err := l.Acquire(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	reset := l.reset.Add(-300 * time.Millisecond)
	l.mu.Unlock()
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "1000000")
	h.Set("X-RateLimit-Remaining", "999999")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	l.Observe(h)
	for i := range 100 {
		if _, err := l.Acquire(context.Background(), time.Second); err != nil {
			t.Fatalf("call %d: %v", i+2, err)
		}
	}
}

// Callers that come before the first answer wait for it, not for a turn
// reckoned from the assumed quota (the fleet starts at once).
func TestCallersBeforeTheFirstAnswerWaitForIt(t *testing.T) {
	l := New("github", 0.8, Quota{Limit: 5000, Window: time.Hour})
	if _, err := l.Acquire(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := l.Acquire(context.Background(), 5*time.Second)
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // all queued behind the probe
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	l.Observe(h)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Without an answer, a caller is turned away after its maxWait.
	m := New("github", 0.8, Quota{Limit: 5000, Window: time.Hour})
	_, _ = m.Acquire(context.Background(), time.Second)
	var we *WaitError
	if _, err := m.Acquire(context.Background(), 20*time.Millisecond); !errors.As(err, &we) {
		t.Fatalf("want a WaitError, got %v", err)
	}
}

// provider counts every call against one quota per whole second and
// answers with GitHub's headers, as GitHub does per hour.
type provider struct {
	mu        sync.Mutex
	limit     int
	window    int64 // the current second
	used      int
	perWindow map[int64]int
	over      int
}

func (p *provider) call() http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if s := now.Unix(); s != p.window {
		p.window, p.used = s, 0
	}
	p.used++
	p.perWindow[p.window]++
	if p.used > p.limit {
		p.over++
	}
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(p.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(p.limit-p.used, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(p.window+1, 10))
	return h
}

// TestWorkersShareAQuota runs several workers, each with its own limiter
// and 10 callers with endless demand, against one quota of 60 calls a
// second: no call is ever over the quota, and the workers use at least 90%
// of the budget (80%) in every full window.
func TestWorkersShareAQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	for _, workers := range []int{1, 4} {
		t.Run(strconv.Itoa(workers)+" workers", func(t *testing.T) {
			const limit, share = 60, 0.8
			p := &provider{limit: limit, perWindow: map[int64]int{}}
			// Start on a whole second, as the provider's windows do.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			first := time.Now().Unix()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second+100*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			for range workers {
				l := New("github", share, Quota{Limit: limit, Window: time.Second})
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							if _, err := l.Acquire(ctx, time.Minute); err != nil {
								return
							}
							l.Observe(p.call())
						}
					}()
				}
			}
			wg.Wait()
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.over > 0 {
				t.Fatalf("%d calls over the quota: %v", p.over, p.perWindow)
			}
			budget := int(limit * share)
			for s := first; s < first+3; s++ {
				got := p.perWindow[s]
				if got < budget*9/10 {
					t.Errorf("second %d: %d calls, want at least 90%% of the %d budget", s-first, got, budget)
				}
				if workers == 1 && got > budget {
					t.Errorf("second %d: %d calls, over the %d budget", s-first, got, budget)
				}
			}
			t.Logf("calls per second: %v", p.perWindow)
		})
	}
}
