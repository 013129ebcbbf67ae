package githubemu

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// GitHub's documentation URLs for rate limits. go-github recognises a
// secondary limit by the suffix of documentation_url.
const (
	docsPrimaryLimit   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits"
	docsSecondaryLimit = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

	// SecondaryLimitMessage is the message GitHub sends with a secondary rate limit.
	SecondaryLimitMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID."
	// PrimaryLimitMessage is the message GitHub sends when the hourly quota is spent.
	PrimaryLimitMessage = "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID."

	hourlyLimit = 5000 // a GitHub App installation's or PAT's core quota
)

var primaryLimitBody = apiError{Message: PrimaryLimitMessage, DocumentationURL: docsPrimaryLimit}

// rateWindow is the core quota the emulator reports in x-ratelimit-*
// headers, per emulator rather than per token (tests use one token).
// Its size and window default to GitHub's 5,000 an hour; SetQuota scales
// them so tests can see several windows in seconds.
type rateWindow struct {
	limit   int
	window  time.Duration
	reset   time.Time
	used    int
	refused int         // requests refused for the quota
	history []QuotaUsed // the windows that ended, oldest first
}

// QuotaUsed is how much of one quota window was used.
type QuotaUsed struct {
	Reset   time.Time
	Used    int // requests the quota allowed
	Refused int // requests refused because it was spent
}

// take spends one request from the quota, writes GitHub's x-ratelimit-*
// headers and reports whether the quota allowed the request.
func (q *rateWindow) take(h http.Header, now time.Time) bool {
	if q.limit == 0 {
		q.limit, q.window = hourlyLimit, time.Hour
	}
	if !now.Before(q.reset) {
		if !q.reset.IsZero() {
			q.history = append(q.history, QuotaUsed{Reset: q.reset, Used: q.used, Refused: q.refused})
		}
		// Windows start on whole seconds, as x-ratelimit-reset has them.
		q.reset = now.Truncate(time.Second).Add(q.window)
		q.used, q.refused = 0, 0
	}
	ok := q.used < q.limit
	if ok {
		q.used++
	} else {
		q.refused++
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.limit-q.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(q.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return ok
}

// SetQuota sets the core quota: limit requests per window (GitHub's is
// 5,000 an hour), starting a fresh window.
func (e *Emulator) SetQuota(limit int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rate = rateWindow{limit: limit, window: window}
}

// QuotaHistory returns the quota windows so far, the current one last.
func (e *Emulator) QuotaHistory() []QuotaUsed {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]QuotaUsed(nil), e.rate.history...)
	if !e.rate.reset.IsZero() {
		out = append(out, QuotaUsed{Reset: e.rate.reset, Used: e.rate.used, Refused: e.rate.refused})
	}
	return out
}

// PrimaryRateLimit is a fault rule answering like GitHub once the hourly
// quota is spent: 403 with x-ratelimit-remaining 0 and x-ratelimit-reset,
// which go-github turns into *github.RateLimitError. op is a substring of
// "METHOD /path" ("" matches all); times 0 means every matching request.
func PrimaryRateLimit(op string, reset time.Time, times int) faults.Rule {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(hourlyLimit))
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Used", strconv.Itoa(hourlyLimit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return faults.Rule{Op: op, Status: http.StatusForbidden, Header: h, Body: jsonString(primaryLimitBody), Times: times}
}

// SecondaryRateLimit is a fault rule answering like GitHub's secondary
// (abuse) rate limit: status 403 or 429, Retry-After when retryAfter > 0
// and the secondary-rate-limit message. With 403, go-github returns
// *github.AbuseRateLimitError (RetryAfter set from the header); go-github
// v60 does not special-case 429, which arrives as *github.ErrorResponse
// whose Response still carries Retry-After.
func SecondaryRateLimit(op string, status int, retryAfter time.Duration, times int) faults.Rule {
	body := apiError{Message: SecondaryLimitMessage, DocumentationURL: docsSecondaryLimit}
	return faults.Rule{Op: op, Status: status, RetryAfter: retryAfter, Body: jsonString(body), Times: times}
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// secondaryWindow enforces GitHub's secondary rate limits once
// SetSecondaryLimits sets them: points a window (a read 1 point, a write
// 5, as GitHub charges REST requests) and requests at once. GitHub answers
// an excess with 403, Retry-After and the secondary-limit message.
type secondaryWindow struct {
	points     int
	window     time.Duration
	concurrent int

	reset    time.Time
	used     int
	inFlight int

	refused     int
	maxUsed     int // the most points a window took
	maxInFlight int
}

// SecondaryUsed is what the secondary limits saw.
type SecondaryUsed struct {
	Refused     int // requests refused for the points or the concurrency
	MaxPoints   int // the most points one window took
	MaxInFlight int // the most requests at once
}

// SetSecondaryLimits enforces GitHub's secondary limits, scaled: points a
// window and concurrent requests (GitHub's are 900 a minute and 100).
func (e *Emulator) SetSecondaryLimits(points int, window time.Duration, concurrent int) {
	e.secMu.Lock()
	defer e.secMu.Unlock()
	e.secondary = secondaryWindow{points: points, window: window, concurrent: concurrent}
}

// SecondaryUsage reports what the secondary limits saw.
func (e *Emulator) SecondaryUsage() SecondaryUsed {
	e.secMu.Lock()
	defer e.secMu.Unlock()
	s := e.secondary
	return SecondaryUsed{Refused: s.refused, MaxPoints: max(s.maxUsed, s.used), MaxInFlight: s.maxInFlight}
}

// withinSecondaryLimits serves a request only within the secondary limits.
// It sits outside the handlers' lock, where requests run at once.
func (e *Emulator) withinSecondaryLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.secMu.Lock()
		s := &e.secondary
		if s.points == 0 {
			e.secMu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		if !now.Before(s.reset) {
			s.maxUsed = max(s.maxUsed, s.used)
			s.reset, s.used = now.Add(s.window), 0
		}
		cost := ratelimitPoints(r.Method)
		if s.used+cost > s.points || (s.concurrent > 0 && s.inFlight >= s.concurrent) {
			s.refused++
			retry := int(time.Until(s.reset).Seconds()) + 1
			e.secMu.Unlock()
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			writeJSON(w, http.StatusForbidden, apiError{Message: SecondaryLimitMessage, DocumentationURL: docsSecondaryLimit})
			return
		}
		s.used += cost
		s.inFlight++
		s.maxInFlight = max(s.maxInFlight, s.inFlight)
		e.secMu.Unlock()
		defer func() {
			e.secMu.Lock()
			e.secondary.inFlight--
			e.secMu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// ratelimitPoints is what GitHub charges a REST request: 1 point for a
// read, 5 for a change.
func ratelimitPoints(method string) int {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return 1
	}
	return 5
}
