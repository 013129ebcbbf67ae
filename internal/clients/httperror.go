package clients

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// HTTPError is a provider's answer other than success, from one of the
// clients written here over net/http (CircleCI, Bitbucket, Travis CI). It
// carries what the activities need to classify the failure and nothing they
// must not see: the status, the provider's own message and error code, and
// how long the provider asked us to wait. It never holds the request body,
// the token or the value written; Message has every form of that value
// redacted and is cut to a short length.
type HTTPError struct {
	Provider   string // "circleci", "bitbucket", "travis"
	Method     string // HTTP method of the request
	Path       string // escaped request path, without the query
	StatusCode int
	Message    string // the provider's message (redacted, cut); may be empty
	Code       string // the provider's error code when it has one (Travis's error_type), else ""

	// RetryAfter is the provider's Retry-After header (seconds or an HTTP
	// date, relative to when the answer arrived), zero when absent.
	RetryAfter time.Duration
	// RateLimitReset is when the provider's X-RateLimit-Reset header (Unix
	// seconds) says the quota refills, zero when absent.
	RateLimitReset time.Time
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: %d %s", e.Provider, e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// RateLimited reports a 429: retry after Wait.
func (e *HTTPError) RateLimited() bool { return e.StatusCode == http.StatusTooManyRequests }

// Temporary reports an answer a later attempt may not get: 5xx, 408 and
// 429 (the latter after Wait).
func (e *HTTPError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout || e.RateLimited()
}

// Permanent reports an answer the same request will get again: any other
// 4xx (400 bad name, 401 bad token, 403 no permission, 404 unknown
// project or variable, 409 duplicate, 422 invalid).
func (e *HTTPError) Permanent() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && !e.Temporary()
}

// Wait is how long the provider asked its clients to wait, as of now:
// RetryAfter when set, else the time until RateLimitReset (at least a
// second once it is set, rounded up to whole seconds), else zero (the headers say nothing).
func (e *HTTPError) Wait(now time.Time) time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	if !e.RateLimitReset.IsZero() {
		d := e.RateLimitReset.Sub(now)
		if rem := d % time.Second; rem > 0 {
			d += time.Second - rem
		}
		return max(d, time.Second)
	}
	return 0
}
