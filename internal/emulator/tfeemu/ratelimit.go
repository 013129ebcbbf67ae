package tfeemu

import (
	"net/http"
	"strconv"
	"time"
)

// window counts one client's requests in the current second.
type window struct {
	start time.Time
	n     int
}

// admit counts a request from client against the rate limit, sets the
// X-RateLimit headers, and reports whether the request may proceed. The
// limit is a fixed one-second window that opens with the client's first
// request; X-RateLimit-Reset is the seconds left in it, fractional, which
// is what go-tfe parses (strconv.ParseFloat) and waits for before retrying.
// https://developer.hashicorp.com/terraform/cloud-docs/api-docs#rate-limits
func (e *Emulator) admit(w http.ResponseWriter, client string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rateLimit <= 0 {
		return true
	}
	now := e.now()
	win := e.windows[client]
	if win == nil || now.Sub(win.start) >= time.Second {
		win = &window{start: now}
		e.windows[client] = win
	}
	reset := win.start.Add(time.Second).Sub(now)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(e.rateLimit))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(max(reset.Seconds(), 0.001), 'f', 3, 64))
	if win.n >= e.rateLimit {
		h.Set("X-RateLimit-Remaining", "0")
		return false
	}
	win.n++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(e.rateLimit-win.n))
	return true
}
