package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The plumbing shared by the clients written here over net/http, for the
// providers that have no maintained Go SDK (CircleCI, Bitbucket, Travis CI).

// restRequestTimeout bounds one HTTP exchange, so a hung provider fails the
// attempt well before the activity's StartToClose timeout and Temporal
// retries it.
const restRequestTimeout = 30 * time.Second

const (
	maxResponseBody = 4 << 20  // a JSON answer we decode
	maxErrorBody    = 64 << 10 // an error answer we quote
	maxMessageRunes = 300      // the provider's message in an HTTPError
	redactedMark    = "[REDACTED]"
	minRedact       = 6
	userAgent       = "keyrotor"
)

// restClient sends JSON requests to one provider's API and turns its
// error answers into *HTTPError.
type restClient struct {
	provider string
	base     string // API root without a trailing slash: "https://circleci.com/api/v2"
	hc       *http.Client
	token    model.Secret
	// authorize sets the request's authentication headers.
	authorize func(h http.Header, token string)
	// header holds fixed headers sent with every request (Travis-API-Version).
	header http.Header
	// errorText reads the provider's message and error code from an error
	// answer's JSON; an empty message falls back to the body as text.
	errorText func(body []byte) (message, code string)
}

// restHTTPClient returns hc with the default request timeout when it has
// none (a copy: the caller's client is not changed), or a new client.
func restHTTPClient(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Timeout: restRequestTimeout, Transport: providerTransport}
	}
	if hc.Timeout == 0 {
		c := *hc
		c.Timeout = restRequestTimeout
		return &c
	}
	return hc
}

// apiRoot is baseURL (or def when empty) without trailing slashes, with
// suffix appended unless baseURL already ends with it, so both the
// instance's root and its API root work.
func apiRoot(baseURL, def, suffix string) string {
	if strings.TrimSpace(baseURL) == "" {
		baseURL = def
	}
	root := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	if suffix != "" && !strings.HasSuffix(root, suffix) {
		root += suffix
	}
	return root
}

// call is one request.
type call struct {
	method string
	path   string     // escaped path under the API root, starting with "/"
	query  url.Values // optional
	next   string     // an absolute URL the provider gave for the next page; replaces path and query
	body   any        // sent as JSON when non-nil
	// secret is the value the body carries, redacted (with every
	// 8-character piece of it) from any error.
	secret model.Secret
	out    any // a 2xx answer's JSON is decoded into it when non-nil
}

// do sends the request and decodes a 2xx answer into r.out. Any other
// answer is an *HTTPError; a transport failure is wrapped as it comes
// (net/http names the method and URL, which hold no secret).
func (c *restClient) do(ctx context.Context, r call) error {
	target, err := c.url(r)
	if err != nil {
		return err
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			// json's errors name types, never values.
			return fmt.Errorf("%s: %s %s: encoding the request: %w", c.provider, r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", c.provider, r.method, r.path, err)
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req.Header, c.token.Reveal())

	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", c.provider, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.httpError(req, resp, r.secret, time.Now())
	}
	if r.out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(r.out); err != nil {
		// Not quoted: a decoding error can carry a piece of the answer.
		return fmt.Errorf("%s: %s %s: %d answer is not the JSON expected (%T)",
			c.provider, r.method, req.URL.EscapedPath(), resp.StatusCode, err)
	}
	return nil
}

// url builds the request's URL. A next-page link must stay on the API
// root's scheme, host and path: the token goes with it.
func (c *restClient) url(r call) (string, error) {
	root, err := url.Parse(c.base)
	if err != nil || root.Scheme == "" || root.Host == "" {
		return "", fmt.Errorf("%s: base URL %q is not an absolute URL", c.provider, c.base)
	}
	if r.next != "" {
		next, err := url.Parse(r.next)
		if err != nil || next.Scheme != root.Scheme || next.Host != root.Host ||
			!strings.HasPrefix(next.EscapedPath(), root.EscapedPath()+"/") {
			return "", fmt.Errorf("%s: next page link is not under %s; not following it", c.provider, c.base)
		}
		return next.String(), nil
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u, nil
}

// httpError reads an error answer into an *HTTPError.
func (c *restClient) httpError(req *http.Request, resp *http.Response, secret model.Secret, now time.Time) *HTTPError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg, code := "", ""
	if c.errorText != nil {
		msg, code = c.errorText(raw)
	}
	if msg == "" && !json.Valid(raw) {
		msg = strings.Join(strings.Fields(string(raw)), " ")
	}
	return &HTTPError{
		Provider:       c.provider,
		Method:         req.Method,
		Path:           req.URL.EscapedPath(),
		StatusCode:     resp.StatusCode,
		Message:        cutRunes(redact(msg, secret.Reveal(), c.token.Reveal()), maxMessageRunes),
		Code:           cutRunes(redact(code, secret.Reveal(), c.token.Reveal()), 64),
		RetryAfter:     retryAfter(resp.Header, now),
		RateLimitReset: unixReset(resp.Header),
	}
}

// retryAfter reads Retry-After: seconds or an HTTP date. A header that is
// present asks for at least a second (a date just passed, or clock skew,
// must not turn into a retry storm); zero means no usable header.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return max(time.Duration(secs)*time.Second, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if rem := d % time.Second; rem > 0 {
			d += time.Second - rem
		}
		return max(d, time.Second)
	}
	return 0
}

// unixReset reads X-RateLimit-Reset as Unix seconds.
func unixReset(h http.Header) time.Time {
	secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// redact replaces every secret, and every 8-byte piece of one, in s. A
// "secret" shorter than minRedact is no credential, and replacing it would
// garble the message.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) < minRedact {
			continue
		}
		s = strings.ReplaceAll(s, sec, redactedMark)
		for i := 0; i+8 <= len(sec); i++ {
			s = strings.ReplaceAll(s, sec[i:i+8], redactedMark)
		}
	}
	return s
}

// cutRunes cuts s to n runes, marking the cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// escapeSegments path-escapes each "/"-separated segment of s, for a path
// parameter that is itself a path (a CircleCI project slug).
func escapeSegments(s string) string {
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// requireArgs rejects an empty path parameter before any request: an
// empty segment would address a different endpoint.
func requireArgs(provider string, args ...string) error {
	for i := 0; i+1 < len(args); i += 2 {
		if strings.TrimSpace(args[i+1]) == "" {
			return fmt.Errorf("%s: %s is empty", provider, args[i])
		}
	}
	return nil
}

// errNoPages stops a pagination loop that does not end.
var errNoPages = errors.New("too many pages")

// maxPages bounds every pagination loop (a provider that keeps answering
// with a next page must not keep an activity busy for ever).
const maxPages = 1000
