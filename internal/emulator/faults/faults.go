// Package faults lets the emulators misbehave on purpose: fail with a status
// code (5xx, 429, 403 with Retry-After), hang past a client's timeout, fail
// a seeded random fraction of calls (a storm that replays the same way on
// every run), and count the calls they receive, so tests can drive every
// retry path through the real SDK clients.
package faults

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rule is one injected fault. It matches a request whose operation (as the
// emulator names it: the AWS Action, or "METHOD /path" for REST APIs)
// contains Op as a substring; an empty Op matches everything.
type Rule struct {
	Op         string
	Status     int           // HTTP status to answer with; 0 with Delay only: hang, then serve normally
	RetryAfter time.Duration // sets the Retry-After header (whole seconds, rounded up)
	Header     http.Header   // extra response headers (e.g. x-ratelimit-remaining)
	Body       string        // response body; a short default is used when empty
	Delay      time.Duration // wait before answering (to trip client timeouts)
	Times      int           // how many requests it affects; 0 means every matching request
	// LoseResult serves the request for real, then throws its response away
	// and answers with Status (or hangs for Delay): the change is made but the
	// client never learns of it, like a crash or timeout after the call.
	LoseResult bool
	// Rate, when above 0, makes the rule affect each matching request only
	// with this probability (1.0/3: a third of them), drawn from a generator
	// seeded with Seed, so a given sequence of requests meets the same
	// faults on every run. A request the draw spares falls through to the
	// next rule. Times, if set, still caps the requests affected.
	Rate float64
	Seed uint64
}

// Random is a rule failing a seeded random fraction rate of all requests
// with status, e.g. Random(1.0/3, 7, 502) for a flaky proxy.
func Random(rate float64, seed uint64, status int) Rule {
	return Rule{Status: status, Rate: rate, Seed: seed}
}

// RandomRetryAfter is a rule answering a seeded random fraction rate of all
// requests with 429 Too Many Requests and Retry-After: a rate-limit storm.
func RandomRetryAfter(rate float64, seed uint64, retryAfter time.Duration) Rule {
	return Rule{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Rate: rate, Seed: seed}
}

// Injector holds the active rules and counts calls per operation.
type Injector struct {
	mu    sync.Mutex
	rules []*rule
	calls map[string]int
}

type rule struct {
	Rule
	used int
	rng  *rand.Rand // draws for Rate; nil when Rate is 0
}

// New returns an injector with no rules.
func New() *Injector { return &Injector{calls: map[string]int{}} }

// Add installs a rule. Rules are tried in the order they were added.
func (i *Injector) Add(r Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	added := &rule{Rule: r}
	if r.Rate > 0 {
		added.rng = rand.New(rand.NewPCG(r.Seed, 0x6b6579726f746f72))
	}
	i.rules = append(i.rules, added)
}

// Clear removes every rule.
func (i *Injector) Clear() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = nil
}

// Calls returns how many requests each operation received so far.
func (i *Injector) Calls() map[string]int {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]int, len(i.calls))
	for k, v := range i.calls {
		out[k] = v
	}
	return out
}

// Total returns the number of requests received so far.
func (i *Injector) Total() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := 0
	for _, v := range i.calls {
		n += v
	}
	return n
}

// ResetCalls zeroes the call counters.
func (i *Injector) ResetCalls() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.calls = map[string]int{}
}

// Ops lists the operations seen so far, sorted.
func (i *Injector) Ops() []string {
	calls := i.Calls()
	out := make([]string, 0, len(calls))
	for k := range calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// match counts the call and returns the rule that applies to it, if any.
func (i *Injector) match(op string) *Rule {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.calls[op]++
	for _, r := range i.rules {
		if r.Times > 0 && r.used >= r.Times {
			continue
		}
		if r.Op != "" && !contains(op, r.Op) {
			continue
		}
		if r.rng != nil && r.rng.Float64() >= r.Rate {
			continue
		}
		r.used++
		cp := r.Rule
		return &cp
	}
	return nil
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// Middleware wraps an emulator's handler. opOf names the operation of a
// request (it may read the body, but must leave it readable for next).
func (i *Injector) Middleware(next http.Handler, opOf func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := i.match(opOf(r))
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.LoseResult {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status == 0 && !f.LoseResult {
			next.ServeHTTP(w, r)
			return
		}
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if f.RetryAfter > 0 {
			secs := int((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		body := f.Body
		if body == "" {
			body = `{"message":"injected fault: ` + http.StatusText(status) + `"}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}
