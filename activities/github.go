package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/sealedbox"
)

// GitHubActions is the part of *github.ActionsService the activity uses.
type GitHubActions interface {
	GetRepoPublicKey(ctx context.Context, owner, repo string) (*github.PublicKey, *github.Response, error)
	GetOrgPublicKey(ctx context.Context, org string) (*github.PublicKey, *github.Response, error)
	CreateOrUpdateRepoSecret(ctx context.Context, owner, repo string, s *github.EncryptedSecret) (*github.Response, error)
	CreateOrUpdateOrgSecret(ctx context.Context, org string, s *github.EncryptedSecret) (*github.Response, error)
	ListRepoSecrets(ctx context.Context, owner, repo string, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
	ListOrgSecrets(ctx context.Context, org string, opts *github.ListOptions) (*github.Secrets, *github.Response, error)
	ListSelectedReposForOrgSecret(ctx context.Context, org, name string, opts *github.ListOptions) (*github.SelectedReposList, *github.Response, error)
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
	policy    callPolicy
	opts      options
	cache     *githubCache
}

// githubCache is what the worker remembers of GitHub across pushes and
// rotations, to spend fewer of the token's calls: each scope's public key
// (GitHub rotates it rarely; a write refused for a stale key_id fetches it
// again) and the IDs of the repositories organization secrets select
// (a repository's ID never changes).
type githubCache struct {
	mu      sync.Mutex
	keys    map[string]scopeKey // by scope (secretScope.id)
	repoIDs map[string]int64    // by lower-case owner/name
}

func (c *githubCache) key(scope string) (scopeKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[scope]
	return k, ok
}

func (c *githubCache) setKey(scope string, k scopeKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.id == "" {
		delete(c.keys, scope)
		return
	}
	c.keys[scope] = k
}

func (c *githubCache) repoID(full string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.repoIDs[full]
	return id, ok
}

func (c *githubCache) setRepoID(full string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repoIDs[full] = id
}

// NewGitHub uses an authenticated go-github client for every call, and s
// to open the sealed secret it pushes.
func NewGitHub(client *github.Client, s Sealer, rs Rotations, opts ...Option) *GitHub {
	return NewGitHubFromAPIs(client.Actions, client.Repositories, GitHubEnvByName{Client: client}, s, rs, opts...)
}

// NewGitHubFromAPIs builds the activity from its narrow client interfaces
// (fakes in tests).
func NewGitHubFromAPIs(actions GitHubActions, repos GitHubRepos, envs GitHubEnvSecrets, s Sealer, rs Rotations, opts ...Option) *GitHub {
	return &GitHub{actions: actions, repos: repos, envs: envs, sealer: s, rotations: rs, policy: defaultCallPolicy, opts: newOptions(opts),
		cache: &githubCache{keys: map[string]scopeKey{}, repoIDs: map[string]int64{}}}
}

// defaultRateLimitWait is used when GitHub signals a rate limit without
// saying for how long; GitHub's guidance is to wait at least a minute.
const defaultRateLimitWait = time.Minute

// PushGitHubSecret writes the key ID and the secret into the target's
// Actions secrets and confirms them by reading them back. A repository or
// environment target takes 4 calls: public key, two writes, one list. An
// organization target with visibility selected also resolves each
// repository (one call each), reads which repositories each secret is
// already shared with, to keep them, and confirms the selection after.
//
// Failed calls are retried in place (see callPolicy), and each completed
// step is recorded in the heartbeat (PushProgress): a later attempt does
// not write again what an earlier one wrote.
func (a *GitHub) PushGitHubSecret(ctx context.Context, sealed PushInput) (res PushResult, err error) {
	defer func() { a.opts.pushDone(ctx, "github", sealed, res, err) }()
	in, err := sealed.resolve(a.rotations, a.sealer)
	if err != nil {
		return PushResult{}, err
	}
	in.SecretNames = githubNames(withDefaultNames(in.SecretNames))
	p := newPushAttempt(ctx, in, a.policy)
	p.cache = a.cache
	a.opts.paced(p.calls, "github")
	p.calls.onWait = a.opts.onRateLimit(ctx, "github", sealed)
	if err := validatePush(in); err != nil {
		return PushResult{}, nonRetryable(TypeValidation, p.target+": "+err.Error(), nil)
	}
	scope, err := a.scopeFor(ctx, p)
	if err != nil {
		return PushResult{}, err
	}
	if err := p.writePending(ctx, scope); err != nil {
		return PushResult{}, err
	}
	if err := p.confirm(ctx, scope); err != nil {
		return PushResult{}, err
	}
	// GitHub never shows a secret's value: the list shows each secret
	// updated since the write began (and, for an organization, shared as
	// configured).
	return PushResult{Target: p.target, ConfirmedAt: time.Now().UTC(), Calls: p.calls.calls, ConfirmedBy: confirmedGitHub}, nil
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

// githubNames upper-cases the names: GitHub secret names are
// case-insensitive and GitHub stores and lists them in upper case, so that
// is how they are written and looked for in the read-back.
func githubNames(n model.SecretNames) model.SecretNames {
	return model.SecretNames{AccessKeyID: strings.ToUpper(n.AccessKeyID), SecretAccessKey: strings.ToUpper(n.SecretAccessKey)}
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
	if strings.EqualFold(in.SecretNames.AccessKeyID, in.SecretNames.SecretAccessKey) {
		return fmt.Errorf("both secrets are named %q (GitHub names ignore case)", in.SecretNames.AccessKeyID)
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
	// id names the scope in the worker's key cache.
	id() string
}

func (a *GitHub) scopeFor(ctx context.Context, p *pushAttempt) (secretScope, error) {
	t := p.In.Target
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
// each, because organization secrets select repositories by ID. An earlier
// attempt's lookups are reused while the configured names are the same.
func (a *GitHub) orgScopeFor(ctx context.Context, p *pushAttempt) (secretScope, error) {
	t := p.In.Target
	s := &orgScope{actions: a.actions, org: t.Organization, visibility: t.Visibility, kept: map[string][]int64{}}
	if s.visibility == "" {
		// GitHub requires a visibility; private is the narrowest that still
		// reaches the organization's private repositories.
		s.visibility = model.VisibilityPrivate
	}
	if s.visibility != model.VisibilitySelected {
		return s, nil
	}
	names := selectedRepoNames(t)
	if slices.Equal(names, p.progress.Repositories) && len(p.progress.RepositoryIDs) == len(names) {
		s.repoIDs = p.progress.RepositoryIDs
		return s, nil
	}
	for _, full := range names {
		if id, ok := a.cache.repoID(full); ok {
			s.repoIDs = append(s.repoIDs, id)
			continue
		}
		owner, repo, _ := splitRepo(full)
		var found *github.Repository
		err := p.do(ctx, "look up repository "+full, func() (resp *github.Response, err error) {
			found, resp, err = a.repos.Get(ctx, owner, repo)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		s.repoIDs = append(s.repoIDs, found.GetID())
		a.cache.setRepoID(full, found.GetID())
	}
	p.progress.Repositories, p.progress.RepositoryIDs = names, s.repoIDs
	p.step(ctx, "resolved repositories")
	return s, nil
}

// selectedRepoNames are the target's repositories as lower-case
// "owner/name" (GitHub names ignore case), a bare name belonging to the
// organization, without duplicates, in configured order.
func selectedRepoNames(t model.Target) []string {
	var out []string
	for _, name := range t.Repositories {
		full := t.Organization + "/" + name
		if _, _, err := splitRepo(name); err == nil {
			full = name
		}
		if full = strings.ToLower(full); !slices.Contains(out, full) {
			out = append(out, full)
		}
	}
	return out
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

func (s repoScope) id() string { return "repo:" + strings.ToLower(s.owner+"/"+s.repo) }

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

func (s envScope) id() string { return "env:" + strings.ToLower(s.owner+"/"+s.repo) + "@" + s.env }

type orgScope struct {
	actions    GitHubActions
	org        string
	visibility string
	repoIDs    []int64 // the configured repositories
	// kept are, per secret name, the repositories the secret is already
	// shared with (by hand, or by an earlier configuration): a write
	// replaces selected_repository_ids, so it sends them again rather than
	// silently cut those repositories off.
	kept map[string][]int64
}

func (s *orgScope) id() string { return "org:" + strings.ToLower(s.org) }

func (s *orgScope) publicKey(ctx context.Context) (*github.PublicKey, *github.Response, error) {
	return s.actions.GetOrgPublicKey(ctx, s.org)
}

func (s *orgScope) put(ctx context.Context, es *github.EncryptedSecret) (*github.Response, error) {
	es.Visibility = s.visibility
	if s.visibility == model.VisibilitySelected {
		es.SelectedRepositoryIDs = github.SelectedRepoIDs(unionIDs(s.kept[es.Name], s.repoIDs))
	}
	return s.actions.CreateOrUpdateOrgSecret(ctx, s.org, es)
}

func (s *orgScope) list(ctx context.Context, opts *github.ListOptions) (*github.Secrets, *github.Response, error) {
	return s.actions.ListOrgSecrets(ctx, s.org, opts)
}

// holds also checks the visibility, so a secret left with a wider (or
// narrower) audience than configured is not reported as done.
func (s *orgScope) holds(sec *github.Secret) bool {
	return sec.Visibility == "" || sec.Visibility == s.visibility
}

// unionIDs is a followed by the IDs of b it lacks.
func unionIDs(a, b []int64) []int64 {
	out := slices.Clone(a)
	for _, id := range b {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// selectedRepos lists the IDs of the repositories an organization secret is
// shared with; absent is true when the secret does not exist yet (404) or
// is not shared by selection (409).
func (p *pushAttempt) selectedRepos(ctx context.Context, s *orgScope, name string) (ids []int64, absent bool, err error) {
	opts := &github.ListOptions{PerPage: 100}
	for {
		var page *github.SelectedReposList
		var resp *github.Response
		err := p.do(ctx, "list repositories selected for "+name, func() (*github.Response, error) {
			var err error
			page, resp, err = s.actions.ListSelectedReposForOrgSecret(ctx, s.org, name, opts)
			if st := responseStatus(resp); err != nil && (st == http.StatusNotFound || st == http.StatusConflict) {
				absent = true
				return resp, nil
			}
			return resp, err
		})
		if err != nil || absent {
			return nil, absent, err
		}
		for _, r := range page.Repositories {
			ids = append(ids, r.GetID())
		}
		if resp.NextPage == 0 {
			return ids, false, nil
		}
		opts.Page = resp.NextPage
	}
}

func responseStatus(resp *github.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

// --- one attempt --------------------------------------------------------------

// secretValue is one secret to write. Value is exported so that printing
// the struct (%+v) goes through model.Secret's redaction.
type secretValue struct {
	Name  string
	Value model.Secret
}

// pushAttempt counts the calls of one activity attempt, keeps its progress
// and turns its errors into activity errors that name the target. Its
// fields that lead to the secret are exported, so %+v prints them redacted.
type pushAttempt struct {
	In       pushRequest
	target   string
	calls    *caller
	progress *PushProgress
	Redactor redactor     // the secret and what was sealed for it
	cache    *githubCache // the worker's public keys and repository IDs (nil: none)
}

func newPushAttempt(ctx context.Context, in pushRequest, policy callPolicy) *pushAttempt {
	target := in.Target.String()
	progress := resumeProgress(ctx, target, in.Key.ID)
	p := &pushAttempt{In: in, target: target, progress: progress, calls: &caller{policy: policy, progress: progress}}
	p.Redactor.add(in.Key.Secret)
	return p
}

// do makes one GitHub call, retrying it in place when that can help.
func (p *pushAttempt) do(ctx context.Context, op string, call func() (*github.Response, error)) error {
	return p.calls.do(ctx, func() error {
		_, err := call()
		return err
	}, func(err error) failure { return p.classify(op, err) })
}

// step records a completed step in the heartbeat.
func (p *pushAttempt) step(ctx context.Context, name string) {
	p.progress.Step = name
	p.calls.heartbeat(ctx)
}

// values are the secrets to write, in order.
func (p *pushAttempt) values() []secretValue {
	return []secretValue{
		{p.In.SecretNames.AccessKeyID, model.Secret(p.In.Key.ID)},
		{p.In.SecretNames.SecretAccessKey, p.In.Key.Secret},
	}
}

// writePending writes the secrets no earlier attempt wrote for this key.
func (p *pushAttempt) writePending(ctx context.Context, s secretScope) error {
	var pending []secretValue
	for _, v := range p.values() {
		if !p.progress.wrote(v.Name) {
			pending = append(pending, v)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if org, ok := s.(*orgScope); ok && org.visibility == model.VisibilitySelected {
		for _, v := range pending {
			ids, _, err := p.selectedRepos(ctx, org, v.Name)
			if err != nil {
				return err
			}
			org.kept[v.Name] = ids
		}
	}
	key, fromCache, err := p.scopeKey(ctx, s)
	if err != nil {
		return err
	}
	pair := newPairWrites(ctx, len(p.progress.Written) > 0)
	defer pair.stop()
	for _, v := range pending {
		err := p.put(pair.ctx, s, key, v)
		if errors.Is(err, errStaleKey) {
			// GitHub rotated the scope's key since it was fetched: forget
			// it, and once (a cached key) fetch it again and write with it.
			p.cache.setKey(s.id(), scopeKey{})
			if fromCache {
				if key, fromCache, err = p.scopeKey(pair.ctx, s); err == nil {
					err = p.put(pair.ctx, s, key, v)
				}
			}
		}
		if errors.Is(err, errStaleKey) {
			// A key rotated between the fetch and the write: the next
			// attempt fetches the new one.
			err = retryable(TypeStalePublicKey, p.target+": put secret "+v.Name+": GitHub refused the public key's key_id (it was rotated); fetching it again", nil)
		}
		if err != nil {
			return err
		}
		pair.wrote()
		p.progress.markWritten(v.Name)
		p.calls.heartbeat(pair.ctx)
	}
	return nil
}

// scopeKey is the scope's public key: the worker's cached one, else
// fetched (and cached). A fetched key also tells when the writes start, by
// GitHub's clock; with a cached one, the first write's answer does (put).
func (p *pushAttempt) scopeKey(ctx context.Context, s secretScope) (key scopeKey, fromCache bool, err error) {
	if p.cache != nil {
		if k, ok := p.cache.key(s.id()); ok {
			p.progress.PublicKeyID = k.id
			return k, true, nil
		}
	}
	key, since, err := p.publicKey(ctx, s)
	if err != nil {
		return scopeKey{}, false, err
	}
	if p.cache != nil {
		p.cache.setKey(s.id(), key)
	}
	if p.progress.WriteStart.IsZero() {
		p.progress.WriteStart = since
	}
	p.progress.PublicKeyID = key.id
	p.step(ctx, "got public key")
	return key, false, nil
}

// errStaleKey is a write GitHub refused because its key_id is not the
// scope's current public key.
var errStaleKey = errors.New("stale public key")

// publicKey fetches the scope's key. It also returns when the write starts
// by GitHub's clock (the response's Date), so the read-back compares
// GitHub timestamps with a GitHub time and a skewed worker clock cannot
// fail (or fake) the confirmation.
func (p *pushAttempt) publicKey(ctx context.Context, s secretScope) (scopeKey, time.Time, error) {
	var (
		pk    *github.PublicKey
		resp  *github.Response
		start time.Time
	)
	err := p.do(ctx, "get public key", func() (*github.Response, error) {
		var err error
		start = time.Now()
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
	return key, serverTime(resp, start), nil
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

// put seals the value for the scope's key and writes it. A retried write
// sends the same sealed value: the request is the same, so is the result.
func (p *pushAttempt) put(ctx context.Context, s secretScope, key scopeKey, v secretValue) error {
	sealed, err := sealedbox.Seal([]byte(v.Value.Reveal()), key.pub)
	if err != nil {
		return fmt.Errorf("%s: sealing %s: %w", p.target, v.Name, err)
	}
	es := &github.EncryptedSecret{Name: v.Name, KeyID: key.id, EncryptedValue: base64.StdEncoding.EncodeToString(sealed)}
	p.Redactor.add(model.Secret(es.EncryptedValue))
	var stale bool
	err = p.do(ctx, "put secret "+v.Name, func() (*github.Response, error) {
		start := time.Now()
		resp, err := s.put(ctx, es)
		if isStaleKey(resp, err) {
			stale = true
			return resp, nil
		}
		if err == nil && p.progress.WriteStart.IsZero() {
			// The key came from the cache: GitHub's time of this first
			// write, a second early (updated_at has whole seconds and may
			// be stamped before the answer's Date), starts the writes.
			p.progress.WriteStart = serverTime(resp, start).Add(-time.Second)
		}
		return resp, err
	})
	if stale {
		return errStaleKey
	}
	return err
}

// isStaleKey recognises GitHub's answer to a key_id that is not the
// scope's current public key: 422 naming key_id.
func isStaleKey(resp *github.Response, err error) bool {
	var er *github.ErrorResponse
	if responseStatus(resp) != http.StatusUnprocessableEntity || !errors.As(err, &er) {
		return false
	}
	if strings.Contains(er.Message, "key_id") {
		return true
	}
	for _, e := range er.Errors {
		if e.Field == "key_id" {
			return true
		}
	}
	return false
}

// confirm lists the scope's secrets (one page of 100 holds every
// repository or environment secret GitHub allows) and checks that both were
// updated no earlier than the writes started; for an organization secret
// shared by selection, that every configured repository is selected. A
// read-back that fails to confirm forgets the writes, so the next attempt
// writes again.
func (p *pushAttempt) confirm(ctx context.Context, s secretScope) error {
	missing, err := p.readBack(ctx, s)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		p.step(ctx, "confirmed")
		return nil
	}
	p.progress.restart("read-back did not confirm the writes")
	p.calls.heartbeat(ctx)
	return retryable(TypeNotConfirmed,
		fmt.Sprintf("%s: read-back does not show the new secrets: %s", p.target, p.describe(missing)), nil)
}

// readBack returns why each unconfirmed secret is not confirmed.
func (p *pushAttempt) readBack(ctx context.Context, s secretScope) (map[string]string, error) {
	since := p.progress.WriteStart
	missing := map[string]string{
		p.In.SecretNames.AccessKeyID:     "not listed",
		p.In.SecretNames.SecretAccessKey: "not listed",
	}
	opts := &github.ListOptions{PerPage: 100}
	for {
		var (
			page *github.Secrets
			resp *github.Response
		)
		err := p.do(ctx, "list secrets", func() (*github.Response, error) {
			var err error
			page, resp, err = s.list(ctx, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, sec := range page.Secrets {
			name := strings.ToUpper(sec.Name)
			if _, want := missing[name]; !want {
				continue
			}
			switch {
			case sec.UpdatedAt.Before(since):
				missing[name] = "updated at " + sec.UpdatedAt.UTC().Format(time.RFC3339) + ", before the write at " + since.Format(time.RFC3339)
			case !s.holds(sec):
				missing[name] = "visibility " + sec.Visibility
			default:
				delete(missing, name)
			}
		}
		if len(missing) == 0 || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if org, ok := s.(*orgScope); ok && org.visibility == model.VisibilitySelected && len(missing) == 0 {
		return p.confirmSelection(ctx, org)
	}
	return missing, nil
}

// confirmSelection checks every configured repository can read both secrets.
func (p *pushAttempt) confirmSelection(ctx context.Context, s *orgScope) (map[string]string, error) {
	missing := map[string]string{}
	for _, v := range p.values() {
		ids, _, err := p.selectedRepos(ctx, s, v.Name)
		if err != nil {
			return nil, err
		}
		var lacking []string
		for i, id := range s.repoIDs {
			if !slices.Contains(ids, id) {
				lacking = append(lacking, p.progress.Repositories[i])
			}
		}
		if len(lacking) > 0 {
			missing[v.Name] = "not shared with " + strings.Join(lacking, ", ")
		}
	}
	return missing, nil
}

// describe lists the unconfirmed secrets in a stable order.
func (p *pushAttempt) describe(missing map[string]string) string {
	var parts []string
	for _, n := range []string{p.In.SecretNames.AccessKeyID, p.In.SecretNames.SecretAccessKey} {
		if why, ok := missing[n]; ok {
			parts = append(parts, n+" "+why)
		}
	}
	return strings.Join(parts, "; ")
}

// --- errors -------------------------------------------------------------------

// classify maps a go-github error to the activity error the workflow
// expects, and says whether the call is worth repeating in place. Messages
// are built here from the status and GitHub's short JSON message, never
// from the error's text or a body, which may echo a request.
func (p *pushAttempt) classify(op string, err error) failure {
	var (
		rl *github.RateLimitError
		ab *github.AbuseRateLimitError
		er *github.ErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		return p.rateLimited(op, "API rate limit exhausted", waitUntil(rl.Rate.Reset.Time, time.Now()))
	case errors.As(err, &ab):
		wait := defaultRateLimitWait
		if ab.RetryAfter != nil {
			wait = max(*ab.RetryAfter, time.Second)
		}
		return p.rateLimited(op, "secondary rate limit", wait)
	case errors.As(err, &er) && er.Response != nil:
		return p.classifyStatus(op, er)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure{err: fmt.Errorf("%s: %s: %w", p.target, op, err)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Transport failures (timeouts, resets, refused connections) carry
		// only the method, the URL and the cause.
		return failure{err: fmt.Errorf("%s: %s: %s", p.target, op, p.Redactor.clean(ue.Error())), transient: true}
	}
	return failure{err: fmt.Errorf("%s: %s: %s", p.target, op, p.Redactor.clean(err.Error())), transient: true}
}

// classifyStatus handles an HTTP error answer that go-github did not
// recognise as a rate limit itself (it ignores 429 and 403 + Retry-After).
func (p *pushAttempt) classifyStatus(op string, er *github.ErrorResponse) failure {
	status := er.Response.StatusCode
	msg := fmt.Sprintf("%s: %s: %d %s", p.target, op, status, http.StatusText(status))
	if m := p.Redactor.clean(er.Message); m != "" && m != http.StatusText(status) {
		msg += ": " + m
	}
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusForbidden && (er.Response.Header.Get("Retry-After") != "" || isSecondaryLimit(er) ||
			er.Response.Header.Get("X-RateLimit-Remaining") == "0"):
		return p.rateLimited(op, "rate limited ("+strconv.Itoa(status)+")", githubWait(er.Response))
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return failure{err: nonRetryable(TypeUnauthorized, msg, nil)}
	case status == http.StatusNotFound:
		return failure{err: nonRetryable(TypeNotFound, msg, nil)}
	case status == http.StatusUnprocessableEntity, status == http.StatusBadRequest:
		return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
	case status >= 500, status == http.StatusRequestTimeout:
		return failure{err: errors.New(msg), transient: true}
	default:
		// Anything unexpected: let Temporal retry it with its backoff.
		return failure{err: errors.New(msg)}
	}
}

func isSecondaryLimit(er *github.ErrorResponse) bool {
	return strings.Contains(strings.ToLower(er.Message), "secondary rate limit")
}

// githubWait is the wait GitHub asks for, else its documented minute for
// secondary limits.
func githubWait(resp *http.Response) time.Duration {
	if d := providerWait(resp.Header, time.Now()); d > 0 {
		return d
	}
	return defaultRateLimitWait
}

// rateLimited is waited out in place when short, else returned with the
// wait as NextRetryDelay.
func (p *pushAttempt) rateLimited(op, what string, wait time.Duration) failure {
	msg := fmt.Sprintf("%s: %s: %s, retrying in %s", p.target, op, what, wait)
	return failure{wait: wait, err: rateLimited(msg, wait, nil)}
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
