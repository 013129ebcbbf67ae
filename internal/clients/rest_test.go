package clients

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/circleciemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"0", time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Second},
		{"soon", 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("Retry-After %q: %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestHTTPErrorWait(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  HTTPError
		want time.Duration
	}{
		{"nothing", HTTPError{StatusCode: 429}, 0},
		{"Retry-After wins", HTTPError{StatusCode: 429, RetryAfter: 5 * time.Second, RateLimitReset: now.Add(time.Hour)}, 5 * time.Second},
		{"reset, rounded up", HTTPError{StatusCode: 429, RateLimitReset: now.Add(1500 * time.Millisecond)}, 2 * time.Second},
		{"reset passed", HTTPError{StatusCode: 429, RateLimitReset: now.Add(-time.Minute)}, time.Second},
	}
	for _, tt := range tests {
		if got := tt.err.Wait(now); got != tt.want {
			t.Errorf("%s: Wait = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHTTPErrorClasses(t *testing.T) {
	for status, want := range map[int]string{
		400: "permanent", 401: "permanent", 403: "permanent", 404: "permanent", 409: "permanent", 422: "permanent",
		408: "temporary", 429: "temporary", 500: "temporary", 502: "temporary", 503: "temporary",
	} {
		e := &HTTPError{StatusCode: status}
		got := map[bool]string{true: "permanent", false: "temporary"}[e.Permanent()]
		if got != want || e.Permanent() == e.Temporary() {
			t.Errorf("%d: Permanent %v, Temporary %v, want %s", status, e.Permanent(), e.Temporary(), want)
		}
	}
}

func TestRedactAndCut(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	msg := "rejected " + secret + ", also " + secret[10:22] + " and the token tok-0123456789"
	got := redact(msg, secret, "tok-0123456789", "")
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(got, secret[i:i+8]) {
			t.Fatalf("redact left a piece: %q", got)
		}
	}
	if strings.Contains(got, "0123456789") || !strings.Contains(got, redactedMark) {
		t.Fatalf("redact = %q", got)
	}
	if got := redact("no 5 here", "5"); got != "no 5 here" {
		t.Errorf("a too-short secret garbled the message: %q", got)
	}
	if got := cutRunes("ééééé", 3); got != "éé…" {
		t.Errorf("cutRunes = %q", got)
	}
}

func TestRESTHTTPClient(t *testing.T) {
	if c := restHTTPClient(nil); c.Timeout != restRequestTimeout {
		t.Errorf("nil client: timeout %v", c.Timeout)
	}
	mine := &http.Client{}
	if c := restHTTPClient(mine); c.Timeout != restRequestTimeout || mine.Timeout != 0 {
		t.Errorf("client without timeout: got %v, caller's changed to %v", c.Timeout, mine.Timeout)
	}
	short := &http.Client{Timeout: time.Second}
	if c := restHTTPClient(short); c != short {
		t.Error("a client with a timeout is not used as given")
	}
}

func TestAPIRoot(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "https://circleci.com/api/v2"},
		{"https://circleci.example.com/", "https://circleci.example.com/api/v2"},
		{"https://circleci.example.com/api/v2/", "https://circleci.example.com/api/v2"},
	}
	for _, tt := range tests {
		if got := apiRoot(tt.in, DefaultCircleCIURL, "/api/v2"); got != tt.want {
			t.Errorf("apiRoot(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTimeout: a provider that hangs fails the attempt at the client's
// timeout, with a transport error (not an *HTTPError) that names the
// provider and holds no secret.
func TestTimeout(t *testing.T) {
	emu := circleciemu.New("CCIPAT_Qm7TzR2vLx9KpW4nHs6Yb3Jd")
	emu.AddProject("gh/acme/api")
	emu.Faults.Add(faults.Rule{Op: "POST ", Delay: 2 * time.Second})
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	c := NewCircleCIClient(srv.URL, "CCIPAT_Qm7TzR2vLx9KpW4nHs6Yb3Jd", &http.Client{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.SetProjectEnvVar(context.Background(), "gh/acme/api", "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	if err == nil || errors.As(err, new(*HTTPError)) || !strings.HasPrefix(err.Error(), "circleci: ") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "EXAMPLEKEY") || strings.Contains(err.Error(), "Qm7TzR2v") {
		t.Fatalf("error holds a secret: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}
