package ratelimit

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// SecondaryLimits are GitHub's secondary rate limits on one credential,
// besides its hourly quota: how many requests may run at once, and how
// many points a window's requests may cost (a read 1 point, a write 5).
type SecondaryLimits struct {
	Concurrent int
	Points     int
	Window     time.Duration
}

// GitHubSecondary is what GitHub's REST API documents: no more than 100
// concurrent requests, and no more than 900 points a minute.
var GitHubSecondary = SecondaryLimits{Concurrent: 100, Points: 900, Window: time.Minute}

// Points is what GitHub charges a request: 1 for GET, HEAD and OPTIONS, 5
// for a request that changes something.
func Points(method string) int {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return 1
	}
	return 5
}

// Secondary keeps a worker's requests on one credential within share of
// the secondary limits: a semaphore for concurrency, and a bucket of points
// refilled at share × Points a Window. The bucket holds a fifth of a
// window's share, so no window, wherever it starts, sees more than
// 1.2 × share of the points (96% at the default 80%).
type Secondary struct {
	sem chan struct{}

	mu       sync.Mutex
	points   float64 // in the bucket
	capacity float64
	rate     float64 // points a second
	refilled time.Time
}

// NewSecondary returns the limiter of share (in (0, 1]) of l.
func NewSecondary(l SecondaryLimits, share float64) *Secondary {
	if share <= 0 || share > 1 {
		share = 1
	}
	budget := float64(l.Points) * share
	capacity := max(budget/5, 5)
	return &Secondary{
		sem:      make(chan struct{}, max(int(float64(l.Concurrent)*share), 1)),
		points:   capacity,
		capacity: capacity,
		rate:     budget / l.Window.Seconds(),
		refilled: time.Now(),
	}
}

// Acquire waits until a request of method may start: a free slot and its
// points. release frees the slot once the request is answered.
func (s *Secondary) Acquire(ctx context.Context, method string) (release func(), err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release = func() { <-s.sem }
	cost := float64(Points(method))
	for {
		wait := s.take(cost, time.Now())
		if wait == 0 {
			return release, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
	}
}

// take spends cost points if the bucket has them, else says how long until
// it will.
func (s *Secondary) take(cost float64, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := now.Sub(s.refilled).Seconds(); d > 0 {
		s.points = min(s.points+d*s.rate, s.capacity)
		s.refilled = now
	}
	if s.points >= cost {
		s.points -= cost
		return 0
	}
	return max(time.Duration((cost-s.points)/s.rate*float64(time.Second)), time.Millisecond)
}
