package clients

import (
	"net/http"

	"github.com/keyrotor/keyrotor/internal/ratelimit"
)

// HTTPOption adjusts the HTTP client a provider client is built with.
type HTTPOption func(*http.Client)

// ObservedBy feeds every answer's rate-limit headers (GitHub's
// x-ratelimit-*, GitLab's RateLimit-*) to l, the limiter that paces the
// credential's calls.
func ObservedBy(l *ratelimit.Limiter) HTTPOption {
	return func(c *http.Client) {
		if l != nil {
			c.Transport = ratelimit.Transport{Base: c.Transport, Limiter: l}
		}
	}
}

// WithinSecondaryLimits holds every request until s allows it: GitHub's
// secondary limits on concurrent requests and points a minute.
func WithinSecondaryLimits(s *ratelimit.Secondary) HTTPOption {
	return func(c *http.Client) {
		if s != nil {
			c.Transport = ratelimit.Transport{Base: c.Transport, Secondary: s}
		}
	}
}

func httpClient(c *http.Client, opts []HTTPOption) *http.Client {
	for _, o := range opts {
		o(c)
	}
	return c
}
