package clients

import (
	"context"
	"fmt"
	"net/http"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keyrotor/keyrotor/internal/model"
)

// gitlabRequestTimeout bounds one HTTP exchange, so a hung GitLab fails the
// attempt well before the activity's StartToClose timeout and Temporal
// retries it.
const gitlabRequestTimeout = 30 * time.Second

// NewGitLabClient builds the GitLab client the activities use. baseURL is the
// instance's root ("https://gitlab.example.com") or its API root (".../api/v4");
// client-go accepts both. token is a personal, group or project access token
// with the Maintainer role, sent as PRIVATE-TOKEN.
//
// client-go retries 429 and 5xx itself (up to five times, ignoring
// Retry-After). Retries are disabled here so that Temporal's retry policy,
// with the delay GitLab asked for, is the only one: call counts stay
// predictable and a rate limit is not hammered.
func NewGitLabClient(baseURL string, token model.Secret, opts ...HTTPOption) (*gitlab.Client, error) {
	c, err := gitlab.NewClient(token.Reveal(),
		gitlab.WithBaseURL(baseURL),
		gitlab.WithoutRetries(),
		// The worker paces GitLab calls itself (internal/ratelimit, fed
		// by the same RateLimit-* headers). client-go's own limiter would
		// pace them twice, and it configures itself on the first answer
		// while other requests already read it: a data race when the
		// first calls run at once.
		gitlab.WithCustomLimiter(unlimited{}),
		gitlab.WithHTTPClient(httpClient(&http.Client{Timeout: gitlabRequestTimeout}, opts)),
	)
	if err != nil {
		// client-go's error names only the URL; the token is not in it.
		return nil, fmt.Errorf("gitlab client for %s: %w", baseURL, err)
	}
	return c, nil
}

// unlimited is a client-go rate limiter that never waits.
type unlimited struct{}

func (unlimited) Wait(context.Context) error { return nil }
