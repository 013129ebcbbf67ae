package faults

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// failures sends n requests through an injector holding r and returns the
// statuses answered.
func failures(t *testing.T, r Rule, n int) []int {
	t.Helper()
	inj := New()
	inj.Add(r)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	h := inj.Middleware(ok, func(r *http.Request) string { return r.Method + " " + r.URL.Path })
	out := make([]int, n)
	for i := range out {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		out[i] = rec.Code
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") != "1" {
			t.Errorf("429 without Retry-After 1: %v", rec.Header())
		}
	}
	return out
}

func TestRandomRulesAreSeeded(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want int // failing status
	}{
		{"502", Random(1.0/3, 42, http.StatusBadGateway), http.StatusBadGateway},
		{"429 with Retry-After", RandomRetryAfter(1.0/3, 42, time.Second), http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 600
			first, again := failures(t, tt.rule, n), failures(t, tt.rule, n)
			if !slices.Equal(first, again) {
				t.Fatal("the same seed gave different faults")
			}
			failed := 0
			for _, code := range first {
				switch code {
				case tt.want:
					failed++
				case http.StatusOK:
				default:
					t.Fatalf("status %d", code)
				}
			}
			if failed < n/4 || failed > n*5/12 {
				t.Errorf("%d of %d failed, want about a third", failed, n)
			}
			other := tt.rule
			other.Seed++
			if slices.Equal(first, failures(t, other, n)) {
				t.Error("another seed gave the same faults")
			}
		})
	}
}

// A rule capped by Times stops failing after that many failures, random or not.
func TestRandomRuleHonoursTimes(t *testing.T) {
	r := Random(0.5, 1, http.StatusServiceUnavailable)
	r.Times = 3
	failed := 0
	for _, code := range failures(t, r, 100) {
		if code != http.StatusOK {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d failures, want 3", failed)
	}
}
