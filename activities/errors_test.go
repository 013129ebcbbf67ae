package activities

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Every provider's way of saying "wait" is read by one parser.
func TestProviderWait(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"Retry-After zero waits a second", http.Header{"Retry-After": {"0"}}, time.Second},
		{"Retry-After HTTP date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"Retry-After date in the past waits a second", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, time.Second},
		{"GitHub quota spent", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {unix(2 * time.Minute)}}, 2 * time.Minute},
		{"GitHub quota left: reset says nothing", http.Header{"X-Ratelimit-Remaining": {"12"}, "X-Ratelimit-Reset": {unix(2 * time.Minute)}}, 0},
		{"GitLab RateLimit-Reset", http.Header{"Ratelimit-Reset": {unix(time.Minute)}}, time.Minute},
		{"Retry-After wins", http.Header{"Retry-After": {"5"}, "Ratelimit-Reset": {unix(time.Minute)}}, 5 * time.Second},
		{"garbage", http.Header{"Retry-After": {"garbage"}}, 0},
		{"nothing", http.Header{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := providerWait(tt.header, now); got != tt.want {
				t.Errorf("providerWait(%v) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
}
