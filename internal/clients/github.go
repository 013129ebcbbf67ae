package clients

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/keyrotor/keyrotor/internal/config"
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
func NewGitHubClient(baseURL string, token model.Secret, opts ...HTTPOption) (*github.Client, error) {
	u, err := githubBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := github.NewClient(httpClient(&http.Client{Timeout: githubRequestTimeout}, opts)).WithAuthToken(token.Reveal())
	c.BaseURL = u
	return c, nil
}

// NewGitHubAppClient builds the GitHub client for a GitHub App
// installation: requests carry an installation token, which the transport
// fetches from POST {baseURL}/app/installations/{installationID}/access_tokens
// with a JWT signed by privateKeyPEM, caches, and renews a minute before
// its hour is up. baseURL is as for NewGitHubClient.
//
// The key is parsed here, by the parser CheckWorker checks it with, so a
// bad key fails at worker start, not at the first rotation. Errors never
// quote the key.
func NewGitHubAppClient(baseURL string, appID, installationID int64, privateKeyPEM []byte, opts ...HTTPOption) (*github.Client, error) {
	u, err := githubBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if appID <= 0 || installationID <= 0 {
		return nil, fmt.Errorf("github app: appId (%d) and installationId (%d) must be positive", appID, installationID)
	}
	key, err := config.ParseGitHubAppKey(privateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("github app %d private key: %w", appID, err)
	}
	apps := ghinstallation.NewAppsTransportFromPrivateKey(providerTransport, appID, key)
	itr := ghinstallation.NewFromAppsTransport(apps, installationID)
	// ghinstallation appends /app/installations/... to BaseURL after
	// trimming trailing slashes, so the API root works as is: GHES's
	// https://HOST/api/v3 and an emulator's root as well as github.com.
	itr.BaseURL = strings.TrimSuffix(u.String(), "/")
	// The token exchange runs inside the RoundTrip of the call that needs
	// the token, with that request's context, so the client's timeout
	// bounds the exchange and the call together.
	rt := exchangeErrors{next: itr, appID: appID, installationID: installationID}
	c := github.NewClient(httpClient(&http.Client{Transport: rt, Timeout: githubRequestTimeout}, opts))
	c.BaseURL = u
	return c, nil
}

// exchangeErrors turns a refused installation-token exchange into the
// *github.ErrorResponse GitHub's answer would have been on any other call.
// ghinstallation reports it as a transport error, which the activities
// would retry for ever; as an ErrorResponse a 401 (key revoked, App
// uninstalled) is classified like a bad token, and a rate limit like one.
type exchangeErrors struct {
	next                  http.RoundTripper
	appID, installationID int64
}

func (t exchangeErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	var he *ghinstallation.HTTPError
	if err == nil || !errors.As(err, &he) || he.Response == nil {
		return resp, err
	}
	// ghinstallation leaves the body open for us to read on failure.
	defer he.Response.Body.Close()
	cerr := github.CheckResponse(he.Response)
	var er *github.ErrorResponse
	if errors.As(cerr, &er) {
		er.Message = fmt.Sprintf("installation token for GitHub App %d installation %d: %s", t.appID, t.installationID, er.Message)
	}
	if cerr == nil { // a 2xx that did not decode
		return nil, err
	}
	return nil, cerr
}

// githubBaseURL checks the REST API root and gives it the trailing slash
// go-github requires.
func githubBaseURL(baseURL string) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github baseURL %q: want an http(s) URL such as https://api.github.com/", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}
