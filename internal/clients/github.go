package clients

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/keyrotor/keyrotor/internal/model"
)

// githubRequestTimeout bounds one HTTP exchange, so a hung GitHub fails the
// attempt before the activity's StartToClose timeout and Temporal retries it.
const githubRequestTimeout = 30 * time.Second

// NewGitHubClient builds the GitHub client the activities use. baseURL is the
// REST API root: https://api.github.com/ for github.com,
// https://HOST/api/v3/ for GitHub Enterprise Server, or an emulator's URL.
//
// The URL is used as given (go-github's WithEnterpriseURLs would append
// /api/v3/ to anything that lacks it, which breaks emulators and proxies).
func NewGitHubClient(baseURL string, token model.Secret) (*github.Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github baseURL %q: want an http(s) URL such as https://api.github.com/", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c := github.NewClient(&http.Client{Timeout: githubRequestTimeout}).WithAuthToken(token.Reveal())
	c.BaseURL = u
	return c, nil
}
