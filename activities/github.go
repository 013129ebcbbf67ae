package activities

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/nacl/box"

	"github.com/keyrotor/keyrotor/internal/model"
)

// GitHubActions is the part of *github.ActionsService the activity uses.
type GitHubActions interface {
	GetRepoPublicKey(ctx context.Context, owner, repo string) (*github.PublicKey, *github.Response, error)
	GetOrgPublicKey(ctx context.Context, org string) (*github.PublicKey, *github.Response, error)
	CreateOrUpdateRepoSecret(ctx context.Context, owner, repo string, s *github.EncryptedSecret) (*github.Response, error)
	CreateOrUpdateOrgSecret(ctx context.Context, org string, s *github.EncryptedSecret) (*github.Response, error)
	ListRepoSecrets(ctx context.Context, owner, repo string, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
	ListOrgSecrets(ctx context.Context, org string, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
}

// GitHubRepos is the part of *github.RepositoriesService the activity uses:
// resolving repository names to the IDs organization secrets select.
type GitHubRepos interface {
	Get(ctx context.Context, owner, repo string) (*github.Repository, *github.Response, error)
}

// GitHubEnvSecrets reaches environment secrets by owner, repository and
// environment name. go-github v60 only offers the repository-ID paths,
// which would cost an extra repository lookup per target; GitHubEnvByName
// implements this over the owner/repo paths GitHub documents today.
type GitHubEnvSecrets interface {
	GetEnvPublicKey(ctx context.Context, owner, repo, env string) (*github.PublicKey, *github.Response, error)
	CreateOrUpdateEnvSecret(ctx context.Context, owner, repo, env string, s *github.EncryptedSecret) (*github.Response, error)
	ListEnvSecrets(ctx context.Context, owner, repo, env string, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
}

// GitHub writes the new key into GitHub Actions secrets.
type GitHub struct {
	actions GitHubActions
	repos   GitHubRepos
	envs    GitHubEnvSecrets
	sealer  Sealer
	// rotations is the worker's configuration: where keys may go.
	rotations Rotations
}

// NewGitHub uses an authenticated go-github client for every call, and s
// to open the sealed secret it pushes.
func NewGitHub(client *github.Client, s Sealer, rs Rotations) *GitHub {
	return NewGitHubFromAPIs(client.Actions, client.Repositories, GitHubEnvByName{Client: client}, s, rs)
}

// NewGitHubFromAPIs builds the activity from its narrow client interfaces
// (fakes in tests).
func NewGitHubFromAPIs(actions GitHubActions, repos GitHubRepos, envs GitHubEnvSecrets, s Sealer, rs Rotations) *GitHub {
	return &GitHub{actions: actions, repos: repos, envs: envs, sealer: s, rotations: rs}
}

// defaultRateLimitWait is used when GitHub signals a rate limit without
// saying for how long; GitHub's guidance is to wait at least a minute.
const defaultRateLimitWait = time.Minute

// PushGitHubSecret writes the key ID and the secret into the target's
// Actions secrets and confirms them by reading them back. One attempt makes
// at most 4 calls for repository and environment targets: public key,
// two writes and one list.
func (a *GitHub) PushGitHubSecret(ctx context.Context, sealed PushInput) (PushResult, error) {
	in, err := sealed.resolve(a.rotations, a.sealer)
	if err != nil {
		return PushResult{}, err
	}
	in.SecretNames = withDefaultNames(in.SecretNames)
	p := &pushAttempt{in: in, target: in.Target.String()}
	if err := validatePush(in); err != nil {
		return PushResult{}, p.nonRetryable(ErrValidation, err.Error())
	}
	scope, err := a.scopeFor(ctx, p)
	if err != nil {
		return PushResult{}, err
	}
	key, since, err := p.publicKey(ctx, scope)
	if err != nil {
		return PushResult{}, err
	}
	values := []struct{ name, value string }{
		{in.SecretNames.AccessKeyID, in.Key.ID},
		{in.SecretNames.SecretAccessKey, in.Key.Secret.Reveal()},
	}
	for _, v := range values {
		if err := p.put(ctx, scope, key, v.name, v.value); err != nil {
			return PushResult{}, err
		}
	}
	if err := p.confirm(ctx, scope, since); err != nil {
		return PushResult{}, err
	}
	return PushResult{Target: p.target, ConfirmedAt: time.Now().UTC(), Calls: p.calls}, nil
}

// withDefaultNames fills names the rotation left empty.
func withDefaultNames(n model.SecretNames) model.SecretNames {
	if n.AccessKeyID == "" {
		n.AccessKeyID = model.DefaultSecretNames.AccessKeyID
	}
	if n.SecretAccessKey == "" {
		n.SecretAccessKey = model.DefaultSecretNames.SecretAccessKey
	}
	return n
}

// validatePush refuses input no number of retries can make work.
func validatePush(in pushRequest) error {
	t := in.Target
	switch t.Kind {
	case model.GitHubRepository, model.GitHubEnvironment:
		if _, _, err := splitRepo(t.Repository); err != nil {
			return err
		}
		if t.Kind == model.GitHubEnvironment && t.Environment == "" {
			return errors.New("environment target without an environment")
		}
	case model.GitHubOrganization:
		if t.Organization == "" {
			return errors.New("organization target without an organization")
		}
		switch t.Visibility {
		case "", model.VisibilityAll, model.VisibilityPrivate:
		case model.VisibilitySelected:
			if len(t.Repositories) == 0 {
				return errors.New("visibility selected without repositories")
			}
		default:
			return fmt.Errorf("unknown visibility %q (want all, private or selected)", t.Visibility)
		}
	default:
		return fmt.Errorf("target kind %q is not a GitHub target", t.Kind)
	}
	if in.Key.ID == "" || in.Key.Secret.Reveal() == "" {
		return errors.New("no access key to push")
	}
	if in.SecretNames.AccessKeyID == in.SecretNames.SecretAccessKey {
		return fmt.Errorf("both secrets are named %q", in.SecretNames.AccessKeyID)
	}
	return nil
}

func splitRepo(full string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", full)
	}
	return owner, name, nil
}

// --- scopes -----------------------------------------------------------------

// secretScope is where a target's secrets live: a repository, an
// environment or an organization.
type secretScope interface {
	publicKey(ctx context.Context) (*github.PublicKey, *github.Response, error)
	put(ctx context.Context, s *github.EncryptedSecret) (*github.Response, error)
	list(ctx context.Context, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
	// holds reports whether a listed secret has the scope's settings.
	holds(s *github.Secret) bool
}

func (a *GitHub) scopeFor(ctx context.Context, p *pushAttempt) (secretScope, error) {
	t := p.in.Target
	switch t.Kind {
	case model.GitHubRepository:
		owner, name, _ := splitRepo(t.Repository)
		return repoScope{a.actions, owner, name}, nil
	case model.GitHubEnvironment:
		owner, name, _ := splitRepo(t.Repository)
		return envScope{a.envs, owner, name, t.Environment}, nil
	default:
		return a.orgScopeFor(ctx, p)
	}
}

// orgScopeFor resolves the selected repositories' names to IDs, one lookup
// each, because organization secrets select repositories by ID.
func (a *GitHub) orgScopeFor(ctx context.Context, p *pushAttempt) (secretScope, error) {
	t := p.in.Target
	s := orgScope{actions: a.actions, org: t.Organization, visibility: t.Visibility}
	if s.visibility == "" {
		// GitHub requires a visibility; private is the narrowest that still
		// reaches the organization's private repositories.
		s.visibility = model.VisibilityPrivate
	}
	if s.visibility != model.VisibilitySelected {
		return s, nil
	}
	seen := map[string]bool{} // GitHub names are case-insensitive
	for _, name := range t.Repositories {
		owner, repo := t.Organization, name
		if o, r, err := splitRepo(name); err == nil {
			owner, repo = o, r
		}
		if full := strings.ToLower(owner + "/" + repo); seen[full] {
			continue
		} else {
			seen[full] = true
		}
		var found *github.Repository
		_, err := p.do("look up repository "+owner+"/"+repo, func() (resp *github.Response, err error) {
			found, resp, err = a.repos.Get(ctx, owner, repo)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		s.repoIDs = append(s.repoIDs, found.GetID())
	}
	return s, nil
}

type repoScope struct {
	actions     GitHubActions
	owner, repo string
}

func (s repoScope) publicKey(ctx context.Context) (*github.PublicKey, *github.Response, error) {
	return s.actions.GetRepoPublicKey(ctx, s.owner, s.repo)
}

func (s repoScope) put(ctx context.Context, es *github.EncryptedSecret) (*github.Response, error) {
	return s.actions.CreateOrUpdateRepoSecret(ctx, s.owner, s.repo, es)
}

func (s repoScope) list(ctx context.Context, opts *github.ListOptions) (*github.Secrets, *github.Response, error) {
	return s.actions.ListRepoSecrets(ctx, s.owner, s.repo, opts)
}

func (repoScope) holds(*github.Secret) bool { return true }

type envScope struct {
	envs             GitHubEnvSecrets
	owner, repo, env string
}

func (s envScope) publicKey(ctx context.Context) (*github.PublicKey, *github.Response, error) {
	return s.envs.GetEnvPublicKey(ctx, s.owner, s.repo, s.env)
}

func (s envScope) put(ctx context.Context, es *github.EncryptedSecret) (*github.Response, error) {
	return s.envs.CreateOrUpdateEnvSecret(ctx, s.owner, s.repo, s.env, es)
}

func (s envScope) list(ctx context.Context, opts *github.ListOptions) (*github.Secrets, *github.Response, error) {
	return s.envs.ListEnvSecrets(ctx, s.owner, s.repo, s.env, opts)
}

func (envScope) holds(*github.Secret) bool { return true }

type orgScope struct {
	actions    GitHubActions
	org        string
	visibility string
	repoIDs    []int64
}

func (s orgScope) publicKey(ctx context.Context) (*github.PublicKey, *github.Response, error) {
	return s.actions.GetOrgPublicKey(ctx, s.org)
}

func (s orgScope) put(ctx context.Context, es *github.EncryptedSecret) (*github.Response, error) {
	es.Visibility = s.visibility
	es.SelectedRepositoryIDs = s.repoIDs
	return s.actions.CreateOrUpdateOrgSecret(ctx, s.org, es)
}

func (s orgScope) list(ctx context.Context, opts *github.ListOptions) (*github.Secrets, *github.Response, error) {
	return s.actions.ListOrgSecrets(ctx, s.org, opts)
}

// holds also checks the visibility, so a secret left with a wider (or
// narrower) audience than configured is not reported as done.
func (s orgScope) holds(sec *github.Secret) bool {
	return sec.Visibility == "" || sec.Visibility == s.visibility
}

// --- one attempt --------------------------------------------------------------

// pushAttempt counts the calls of one activity attempt and turns their
// errors into activity errors that name the target.
type pushAttempt struct {
	in     pushRequest
	target string
	calls  int
	sealed []string // encrypted values sent, redacted from error text too
}

// do makes one GitHub call.
func (p *pushAttempt) do(op string, call func() (*github.Response, error)) (*github.Response, error) {
	p.calls++
	resp, err := call()
	if err != nil {
		return resp, p.classify(op, err)
	}
	return resp, nil
}

// publicKey fetches the scope's key once per attempt. It also returns when
// the write starts by GitHub's clock (the response's Date), so the
// read-back compares GitHub timestamps with a GitHub time and a skewed
// worker clock cannot fail (or fake) the confirmation.
func (p *pushAttempt) publicKey(ctx context.Context, s secretScope) (scopeKey, time.Time, error) {
	localStart := time.Now()
	var pk *github.PublicKey
	resp, err := p.do("get public key", func() (resp *github.Response, err error) {
		pk, resp, err = s.publicKey(ctx)
		return resp, err
	})
	if err != nil {
		return scopeKey{}, time.Time{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(pk.GetKey())
	if err != nil || len(raw) != 32 {
		// GitHub answered with something that is not a curve25519 key;
		// a later attempt may get a good one.
		return scopeKey{}, time.Time{}, fmt.Errorf("%s: get public key: the key is not a base64 32-byte curve25519 key", p.target)
	}
	key := scopeKey{id: pk.GetKeyID(), pub: new([32]byte)}
	copy(key.pub[:], raw)
	return key, serverTime(resp, localStart), nil
}

// scopeKey is the public key secrets are sealed for, and its ID, which
// every write names.
type scopeKey struct {
	id  string
	pub *[32]byte
}

// serverTime is GitHub's Date header, or the local time without one; both
// are cut to whole seconds, the precision of GitHub's updated_at.
func serverTime(resp *github.Response, local time.Time) time.Time {
	if resp != nil && resp.Response != nil {
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return d.UTC()
		}
	}
	return local.UTC().Truncate(time.Second)
}

// put seals value for the scope's key and writes it as secret name.
func (p *pushAttempt) put(ctx context.Context, s secretScope, key scopeKey, name, value string) error {
	sealed, err := box.SealAnonymous(nil, []byte(value), key.pub, rand.Reader)
	if err != nil {
		return fmt.Errorf("%s: sealing %s: %w", p.target, name, err)
	}
	es := &github.EncryptedSecret{Name: name, KeyID: key.id, EncryptedValue: base64.StdEncoding.EncodeToString(sealed)}
	p.sealed = append(p.sealed, es.EncryptedValue)
	_, err = p.do("put secret "+name, func() (*github.Response, error) {
		return s.put(ctx, es)
	})
	return err
}

// confirm lists the scope's secrets (one page of 100 holds every
// repository or environment secret GitHub allows) and checks that both were
// updated no earlier than the writes started.
func (p *pushAttempt) confirm(ctx context.Context, s secretScope, since time.Time) error {
	missing := map[string]string{
		p.in.SecretNames.AccessKeyID:     "not listed",
		p.in.SecretNames.SecretAccessKey: "not listed",
	}
	opts := &github.ListOptions{PerPage: 100}
	for {
		var page *github.Secrets
		resp, err := p.do("list secrets", func() (resp *github.Response, err error) {
			page, resp, err = s.list(ctx, opts)
			return resp, err
		})
		if err != nil {
			return err
		}
		for _, sec := range page.Secrets {
			if _, want := missing[sec.Name]; !want {
				continue
			}
			switch {
			case sec.UpdatedAt.Before(since):
				missing[sec.Name] = "updated at " + sec.UpdatedAt.UTC().Format(time.RFC3339) + ", before the write at " + since.Format(time.RFC3339)
			case !s.holds(sec):
				missing[sec.Name] = "visibility " + sec.Visibility
			default:
				delete(missing, sec.Name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("%s: read-back does not show the new secrets: %s", p.target, p.describe(missing)),
		ErrNotConfirmed, temporal.ApplicationErrorOptions{})
}

// describe lists the unconfirmed secrets in a stable order.
func (p *pushAttempt) describe(missing map[string]string) string {
	var parts []string
	for _, n := range []string{p.in.SecretNames.AccessKeyID, p.in.SecretNames.SecretAccessKey} {
		if why, ok := missing[n]; ok {
			parts = append(parts, n+" "+why)
		}
	}
	return strings.Join(parts, "; ")
}

// --- errors -------------------------------------------------------------------

// classify maps a go-github error to the activity error the workflow
// expects. Messages are built here from the status and GitHub's short
// message, never from the error's text or a body, which may echo a request.
func (p *pushAttempt) classify(op string, err error) error {
	var (
		rl *github.RateLimitError
		ab *github.AbuseRateLimitError
		er *github.ErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		return p.rateLimited(op, "API rate limit exhausted", untilReset(rl.Rate.Reset.Time))
	case errors.As(err, &ab):
		wait := defaultRateLimitWait
		if ab.RetryAfter != nil {
			wait = *ab.RetryAfter
		}
		return p.rateLimited(op, "secondary rate limit", wait)
	case errors.As(err, &er) && er.Response != nil:
		return p.classifyStatus(op, er)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %s: %w", p.target, op, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Transport failures (timeouts, refused connections) carry only the
		// method, the URL and the cause.
		return fmt.Errorf("%s: %s: %s", p.target, op, p.redact(ue.Error()))
	}
	return fmt.Errorf("%s: %s: %s", p.target, op, p.redact(err.Error()))
}

// classifyStatus handles an HTTP error answer that go-github did not
// recognise as a rate limit itself (it ignores 429 and 403 + Retry-After).
func (p *pushAttempt) classifyStatus(op string, er *github.ErrorResponse) error {
	status := er.Response.StatusCode
	msg := fmt.Sprintf("%s: %s: %d %s", p.target, op, status, http.StatusText(status))
	if m := p.redact(er.Message); m != "" && m != http.StatusText(status) {
		msg += ": " + m
	}
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusForbidden && (er.Response.Header.Get("Retry-After") != "" || isSecondaryLimit(er)):
		return p.rateLimited(op, "rate limited ("+strconv.Itoa(status)+")", retryAfter(er.Response))
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return p.nonRetryableMsg(ErrUnauthorized, msg)
	case status == http.StatusNotFound:
		return p.nonRetryableMsg(ErrNotFound, msg)
	case status == http.StatusUnprocessableEntity, status == http.StatusBadRequest:
		return p.nonRetryableMsg(ErrUnprocessable, msg)
	default:
		// 5xx and anything unexpected: let Temporal retry with its backoff.
		return errors.New(msg)
	}
}

func isSecondaryLimit(er *github.ErrorResponse) bool {
	return strings.Contains(strings.ToLower(er.Message), "secondary rate limit")
}

// retryAfter reads Retry-After (seconds or an HTTP date), else
// x-ratelimit-reset when the quota is spent, else GitHub's one minute.
func retryAfter(resp *http.Response) time.Duration {
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return untilReset(t)
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return untilReset(time.Unix(secs, 0))
		}
	}
	return defaultRateLimitWait
}

// untilReset is the wait until t, at least a second so a reset that has
// just passed (or clock skew) does not turn into an immediate retry storm.
func untilReset(t time.Time) time.Duration {
	return max(time.Until(t).Round(time.Second), time.Second)
}

func (p *pushAttempt) rateLimited(op, what string, wait time.Duration) error {
	msg := fmt.Sprintf("%s: %s: %s, retrying in %s", p.target, op, what, wait)
	return temporal.NewApplicationErrorWithOptions(msg, ErrRateLimited,
		temporal.ApplicationErrorOptions{NextRetryDelay: wait})
}

func (p *pushAttempt) nonRetryable(errType, detail string) error {
	return p.nonRetryableMsg(errType, p.target+": "+detail)
}

func (p *pushAttempt) nonRetryableMsg(errType, msg string) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType,
		temporal.ApplicationErrorOptions{NonRetryable: true})
}

// redact removes the secret and what was sent for it from text GitHub (or
// the transport) produced, and keeps it short and on one line.
func (p *pushAttempt) redact(s string) string {
	if secret := p.in.Key.Secret.Reveal(); secret != "" {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	for _, v := range p.sealed {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	s = strings.Join(strings.Fields(s), " ")
	const maxLen = 300
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// --- environment secrets by name ---------------------------------------------

// GitHubEnvByName implements GitHubEnvSecrets with go-github's request
// machinery (auth, rate-limit and error handling) on the
// /repos/{owner}/{repo}/environments/{env}/secrets paths.
type GitHubEnvByName struct{ Client *github.Client }

func envSecretsPath(owner, repo, env, rest string) string {
	return "repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) +
		"/environments/" + url.PathEscape(env) + "/secrets" + rest
}

// GetEnvPublicKey gets the environment's public key.
func (g GitHubEnvByName) GetEnvPublicKey(ctx context.Context, owner, repo, env string) (*github.PublicKey, *github.Response, error) {
	req, err := g.Client.NewRequest(http.MethodGet, envSecretsPath(owner, repo, env, "/public-key"), nil)
	if err != nil {
		return nil, nil, err
	}
	pk := new(github.PublicKey)
	resp, err := g.Client.Do(ctx, req, pk)
	if err != nil {
		return nil, resp, err
	}
	return pk, resp, nil
}

// CreateOrUpdateEnvSecret writes an encrypted environment secret.
func (g GitHubEnvByName) CreateOrUpdateEnvSecret(ctx context.Context, owner, repo, env string, s *github.EncryptedSecret) (*github.Response, error) {
	req, err := g.Client.NewRequest(http.MethodPut, envSecretsPath(owner, repo, env, "/"+url.PathEscape(s.Name)), s)
	if err != nil {
		return nil, err
	}
	return g.Client.Do(ctx, req, nil)
}

// ListEnvSecrets lists the environment's secrets (names and timestamps).
func (g GitHubEnvByName) ListEnvSecrets(ctx context.Context, owner, repo, env string, opts *github.ListOptions) (*github.Secrets, *github.Response, error) {
	u := envSecretsPath(owner, repo, env, "")
	if opts != nil {
		q := url.Values{}
		if opts.PerPage > 0 {
			q.Set("per_page", strconv.Itoa(opts.PerPage))
		}
		if opts.Page > 0 {
			q.Set("page", strconv.Itoa(opts.Page))
		}
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
	}
	req, err := g.Client.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	secrets := new(github.Secrets)
	resp, err := g.Client.Do(ctx, req, secrets)
	if err != nil {
		return nil, resp, err
	}
	return secrets, resp, nil
}
