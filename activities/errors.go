package activities

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// The one error vocabulary of keyrotor's activities. Every error an
// activity returns is one of three kinds:
//
//   - nonRetryable: retrying cannot help (bad input, NoSuchEntity, 401, 403,
//     404, 422). The type names what went wrong, the message names the
//     subject (user, account, target).
//   - rateLimited: the provider asked us to wait; the wait is its own
//     (Retry-After, X-RateLimit-Reset, RateLimit-Reset), passed to Temporal
//     as the next retry's delay.
//   - anything else is wrapped with %w, naming the subject, and Temporal
//     retries it under the policy set where the activity is called.
//
// Provider text is redacted before it is cut (see redactor.cleanCut), and
// messages are built from status codes and short provider messages, never
// from a request or a response body, which may echo the secret.

// nonRetryable is an error retrying cannot fix.
func nonRetryable(errType, msg string, cause error) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType,
		temporal.ApplicationErrorOptions{NonRetryable: true, Cause: cause})
}

// retryable is an error with a type the workflow can tell apart, left to
// Temporal's retries.
func retryable(errType, msg string, cause error) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType, temporal.ApplicationErrorOptions{Cause: cause})
}

// rateLimited is retried after the provider's own wait (zero leaves the
// delay to the retry policy).
func rateLimited(msg string, wait time.Duration, cause error) error {
	return temporal.NewApplicationErrorWithOptions(msg, TypeRateLimited,
		temporal.ApplicationErrorOptions{NextRetryDelay: wait, Cause: cause})
}

// providerWait reads how long a provider asks its clients to wait, from the
// answer's headers: Retry-After (seconds or an HTTP date; GitHub, GitLab,
// AWS), else X-RateLimit-Reset once X-RateLimit-Remaining is 0 (GitHub's
// primary quota), else RateLimit-Reset (GitLab). Waits are whole seconds,
// rounded up, at least one (a reset that just passed, or clock skew, must
// not turn into a retry storm). Zero means the headers say nothing.
func providerWait(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return max(time.Duration(secs)*time.Second, time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return waitUntil(t, now)
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if at, ok := unixHeader(h, "X-RateLimit-Reset"); ok {
			return waitUntil(at, now)
		}
	}
	if at, ok := unixHeader(h, "RateLimit-Reset"); ok {
		return waitUntil(at, now)
	}
	return 0
}

func unixHeader(h http.Header, name string) (time.Time, bool) {
	secs, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// waitUntil is the wait until t, rounded up to whole seconds, at least one.
func waitUntil(t, now time.Time) time.Duration {
	d := t.Sub(now)
	if rem := d % time.Second; rem > 0 {
		d += time.Second - rem
	}
	return max(d, time.Second)
}
