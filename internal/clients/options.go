package clients

import (
	"io"
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

// maxIdleConnsPerHost is how many idle connections a provider client keeps
// to one API host, for the next request to reuse. net/http keeps 2; a
// worker runs many pushes to one host at once (api.github.com, a GitLab
// instance), and each request beyond the second then dialled a connection
// (with its TLS handshake) and closed it after one answer: about 125 a
// second in the fleet benchmark. GitHub's secondary limit allows 100
// concurrent requests per credential.
const maxIdleConnsPerHost = 100

// providerTransport carries every provider client's requests that bring
// no transport of their own: net/http's default one with a larger idle
// pool per host, whose connections outlive answers left unread.
var providerTransport http.RoundTripper = drainOnClose{base: newPooledTransport()}

func newPooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// maxDrained is the largest answer body drainOnClose reads to its end.
const maxDrained = 4 << 10

// drainOnClose keeps a connection reusable after an answer whose body the
// client closes unread: net/http closes the connection instead. go-github
// never reads the "{}" GitHub sends with 201 Created for a new secret, so
// every secret created cost a new connection (and TLS handshake).
type drainOnClose struct{ base http.RoundTripper }

func (d drainOnClose) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if err == nil && resp.Body != nil && resp.ContentLength >= 0 && resp.ContentLength <= maxDrained {
		resp.Body = drainingBody{resp.Body}
	}
	return resp, err
}

// drainingBody reads what is left of a small body before closing it.
type drainingBody struct{ io.ReadCloser }

func (b drainingBody) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, maxDrained)) // a failed read only costs the connection
	return b.ReadCloser.Close()
}

// httpClient is c with the provider transport (when c has none) and opts
// applied.
func httpClient(c *http.Client, opts []HTTPOption) *http.Client {
	if c.Transport == nil {
		c.Transport = providerTransport
	}
	for _, o := range opts {
		o(c)
	}
	return c
}
