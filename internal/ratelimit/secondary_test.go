package ratelimit

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writes cost 5 points and reads 1: 40 writes on 100 points a second (80
// keyrotor's) spread over about 2.3 s, and no second-long window, wherever
// it starts, carries more than the 100 points.
func TestSecondaryKeepsWithinThePointsOfAWindow(t *testing.T) {
	s := NewSecondary(SecondaryLimits{Concurrent: 100, Points: 100, Window: time.Second}, 0.8)
	start := time.Now()
	var mu sync.Mutex
	var at []time.Duration
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			release, err := s.Acquire(context.Background(), http.MethodPut)
			if err != nil {
				t.Error(err)
				return
			}
			release()
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// 16 points at once (a fifth of the 80), then 80 a second: 184 points
	// more take 2.3 s.
	if elapsed < 2*time.Second || elapsed > 4*time.Second {
		t.Errorf("40 writes took %v, want about 2.3s", elapsed)
	}
	for _, from := range at {
		points := 0
		for _, x := range at {
			if x >= from && x < from+time.Second {
				points += Points(http.MethodPut)
			}
		}
		if points > 100 {
			t.Fatalf("%d points in the second from %v", points, from)
		}
	}
	if Points(http.MethodGet) != 1 || Points(http.MethodDelete) != 5 {
		t.Error("GitHub charges 1 point for a read, 5 for a change")
	}
}

// At most share × Concurrent requests run at once; a caller whose context
// ends while it waits gives its place up.
func TestSecondaryBoundsConcurrency(t *testing.T) {
	s := NewSecondary(SecondaryLimits{Concurrent: 5, Points: 1_000_000, Window: time.Second}, 0.8)
	var now, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			release, err := s.Acquire(context.Background(), http.MethodGet)
			if err != nil {
				t.Error(err)
				return
			}
			n := now.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(10 * time.Millisecond)
			now.Add(-1)
			release()
		})
	}
	wg.Wait()
	if most.Load() != 4 {
		t.Errorf("at most %d requests ran at once, want 4", most.Load())
	}
	var held []func()
	for range 4 {
		r, err := s.Acquire(context.Background(), http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(ctx, http.MethodGet); err == nil {
		t.Fatal("a fifth request ran while four held their slots")
	}
	for _, r := range held {
		r()
	}
}
