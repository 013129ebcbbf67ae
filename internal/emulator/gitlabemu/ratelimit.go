package gitlabemu

import (
	"net/http"
	"strconv"
	"time"
)

// GitLab.com limits authenticated API requests per user: 2,000 a minute.
// Every answer carries RateLimit-Limit, -Observed, -Remaining, -Reset (a
// Unix time) and -ResetTime; a request over the limit gets 429 with
// Retry-After. https://docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom
// and https://docs.gitlab.com/administration/settings/rate_limit_on_users_api/
const (
	defaultQuota       = 2000
	defaultQuotaWindow = time.Minute
)

// quota counts the requests of the current window (for the emulator, not
// per token: tests use one).
type quota struct {
	limit   int
	window  time.Duration
	reset   time.Time
	used    int
	refused int
	history []QuotaUsed
}

// QuotaUsed is how much of one quota window was used.
type QuotaUsed struct {
	Reset   time.Time
	Used    int // requests allowed
	Refused int // requests refused with 429
}

// take counts one request, writes the RateLimit-* headers and reports
// whether the quota allowed it. Callers hold mu.
func (q *quota) take(h http.Header, now time.Time) bool {
	if q.limit == 0 {
		q.limit, q.window = defaultQuota, defaultQuotaWindow
	}
	if !now.Before(q.reset) {
		if !q.reset.IsZero() {
			q.history = append(q.history, QuotaUsed{Reset: q.reset, Used: q.used, Refused: q.refused})
		}
		q.reset = now.Truncate(time.Second).Add(q.window)
		q.used, q.refused = 0, 0
	}
	ok := q.used < q.limit
	if ok {
		q.used++
	} else {
		q.refused++
	}
	h.Set("RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("RateLimit-Observed", strconv.Itoa(q.used+q.refused))
	h.Set("RateLimit-Remaining", strconv.Itoa(q.limit-q.used))
	h.Set("RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", q.reset.UTC().Format(http.TimeFormat))
	if !ok {
		h.Set("Retry-After", strconv.Itoa(int(max(q.reset.Sub(now).Round(time.Second), time.Second)/time.Second)))
	}
	return ok
}

// SetQuota sets the requests allowed per window (GitLab.com's: 2,000 a
// minute), starting a fresh window.
func (e *Emulator) SetQuota(limit int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quota = quota{limit: limit, window: window}
}

// QuotaHistory returns the quota windows so far, the current one last.
func (e *Emulator) QuotaHistory() []QuotaUsed {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]QuotaUsed(nil), e.quota.history...)
	if !e.quota.reset.IsZero() {
		out = append(out, QuotaUsed{Reset: e.quota.reset, Used: e.quota.used, Refused: e.quota.refused})
	}
	return out
}
