package awsemu

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// iamRate throttles IAM's API per account once SetIAMRate sets a limit:
// AWS throttles each account's IAM requests and answers the excess with
// 400 Throttling "Rate exceeded" (the SDK retries it; adaptive retry mode
// slows the client down).
type iamRate struct {
	mu        sync.Mutex
	limit     int
	window    time.Duration
	windows   map[string]*rateCount // by account ID
	throttled int
}

type rateCount struct {
	reset time.Time
	used  int
}

// SetIAMRate lets each account make limit IAM requests a window; the rest
// are throttled.
func (e *Emulator) SetIAMRate(limit int, window time.Duration) {
	e.iamRate.mu.Lock()
	defer e.iamRate.mu.Unlock()
	e.iamRate.limit, e.iamRate.window, e.iamRate.windows = limit, window, map[string]*rateCount{}
}

// IAMThrottled counts the IAM requests throttled so far.
func (e *Emulator) IAMThrottled() int {
	e.iamRate.mu.Lock()
	defer e.iamRate.mu.Unlock()
	return e.iamRate.throttled
}

// throttle reports whether an IAM request of the principal's account is
// over the rate.
func (q *iamRate) throttle(arn string, now time.Time) *apiError {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit == 0 {
		return nil
	}
	account := accountOfARN(arn)
	c := q.windows[account]
	if c == nil || !now.Before(c.reset) {
		c = &rateCount{reset: now.Add(q.window)}
		q.windows[account] = c
	}
	if c.used >= q.limit {
		q.throttled++
		return errorf(http.StatusBadRequest, "Throttling", "Rate exceeded")
	}
	c.used++
	return nil
}

// accountOfARN is the account ID field of an ARN (arn:aws:iam::ID:...).
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}
