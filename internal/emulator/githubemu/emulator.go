// Package githubemu emulates the part of the GitHub REST API that keyrotor
// uses: repositories, and Actions secrets of repositories, environments and
// organizations. It speaks real HTTP with GitHub's paths, JSON shapes and
// status codes so the real go-github client can be pointed at it, and it
// really decrypts the libsodium sealed boxes it receives, so a test can assert
// the exact value a client meant to store.
package githubemu

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/sealedbox"
)

// Emulator is an in-memory GitHub. Seed it with AddRepo, AddEnvironment,
// AddOrg and AddApp, serve Handler over httptest, inspect it with Secret and
// OrgSecretRepos. All methods are safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls per "METHOD /path".
	Faults *faults.Injector

	mu          sync.Mutex
	tokens      map[string]bool      // token -> has access
	tokenExpiry map[string]time.Time // installation tokens -> when they stop working
	apps        map[int64]*app       // GitHub Apps by ID
	now         func() time.Time
	repos       map[string]*repo
	reposByID   map[int64]*repo
	orgs        map[string]*org
	nextRepoID  int64
	rate        rateWindow
	handler     http.Handler

	secMu     sync.Mutex // the secondary limits' own: they see requests at once
	secondary secondaryWindow
}

// keyPair is a scope's curve25519 key pair and its key_id, as GitHub holds one per
// repository, environment and organization.
type keyPair struct {
	id string
	*sealedbox.Key
}

// secret is a stored Actions secret; value is the decrypted plaintext.
type secret struct {
	value      string
	created    time.Time
	updated    time.Time
	visibility string  // organization secrets only
	selected   []int64 // organization secrets with visibility "selected"
}

// scope is anything that holds Actions secrets.
type scope struct {
	key     keyPair
	secrets map[string]*secret
}

type repo struct {
	id    int64
	owner string
	name  string
	scope
	envs map[string]*scope
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

type org struct {
	id   int64
	name string
	scope
}

// New returns an empty emulator that accepts token (with full access).
func New(token string) *Emulator {
	e := &Emulator{
		Faults:      faults.New(),
		tokens:      map[string]bool{},
		tokenExpiry: map[string]time.Time{},
		apps:        map[int64]*app{},
		now:         time.Now,
		repos:       map[string]*repo{},
		reposByID:   map[int64]*repo{},
		orgs:        map[string]*org{},
		nextRepoID:  700000001,
	}
	if token != "" {
		e.tokens[token] = true
	}
	e.handler = e.withinSecondaryLimits(e.Faults.Middleware(e.routes(), opOf))
	return e
}

// Handler serves the REST API. It accepts paths with or without the
// GitHub Enterprise "/api/v3" prefix.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another token. A token without access authenticates but
// every call answers 403 "Resource not accessible by integration", like a
// GitHub App installation lacking the secrets permission.
func (e *Emulator) AddToken(token string, access bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[token] = access
}

// AddRepo creates the repository "owner/name" (if it does not exist yet) and
// returns its ID. A repository belongs to the organization named like its
// owner, whenever that organization is added.
func (e *Emulator) AddRepo(fullName string) int64 {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" {
		panic(fmt.Sprintf("githubemu: repository %q is not owner/name", fullName))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.ToLower(fullName)
	if r, ok := e.repos[key]; ok {
		return r.id
	}
	r := &repo{id: e.nextRepoID, owner: owner, name: name, scope: newScope(), envs: map[string]*scope{}}
	e.nextRepoID++
	e.repos[key] = r
	e.reposByID[r.id] = r
	return r.id
}

// AddEnvironment creates the environment env in repository fullName,
// creating the repository too when needed.
func (e *Emulator) AddEnvironment(fullName, env string) {
	e.AddRepo(fullName)
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.repos[strings.ToLower(fullName)]
	if _, ok := r.envs[env]; !ok {
		s := newScope()
		r.envs[env] = &s
	}
}

// AddOrg creates the organization name.
func (e *Emulator) AddOrg(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := e.orgs[key]; ok {
		return
	}
	e.orgs[key] = &org{id: 900000 + int64(len(e.orgs)), name: name, scope: newScope()}
}

// Secret returns the decrypted value of secret name and when it was last
// written. scope is "owner/repo", "owner/repo@env" or "org:NAME".
func (e *Emulator) Secret(scope, name string) (value string, updatedAt time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.scopeOf(scope)
	if s == nil {
		return "", time.Time{}, false
	}
	sec, ok := s.secrets[secretKey(name)]
	if !ok {
		return "", time.Time{}, false
	}
	return sec.value, sec.updated, true
}

// OrgSecretRepos returns the IDs of the repositories selected for an
// organization secret, sorted (nil when the secret does not exist).
func (e *Emulator) OrgSecretRepos(orgName, name string) []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.orgs[strings.ToLower(orgName)]
	if !ok {
		return nil
	}
	sec, ok := o.secrets[secretKey(name)]
	if !ok {
		return nil
	}
	out := append([]int64{}, sec.selected...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// OrgSecretVisibility returns an organization secret's visibility ("" when
// the secret does not exist).
func (e *Emulator) OrgSecretVisibility(orgName, name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.orgs[strings.ToLower(orgName)]
	if !ok {
		return ""
	}
	if sec, ok := o.secrets[secretKey(name)]; ok {
		return sec.visibility
	}
	return ""
}

// PublicKeyID returns the scope's current public key ID ("" for an unknown
// scope).
func (e *Emulator) PublicKeyID(scope string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.scopeOf(scope); s != nil {
		return s.key.id
	}
	return ""
}

// RotatePublicKey gives the scope a new key pair, so writes sealed for the
// previous key (and naming its key_id) are refused from now on. Stored
// secrets keep their values.
func (e *Emulator) RotatePublicKey(scope string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.scopeOf(scope)
	if s == nil {
		panic(fmt.Sprintf("githubemu: unknown scope %q", scope))
	}
	s.key = newKeyPair()
}

// scopeOf resolves "owner/repo", "owner/repo@env" or "org:NAME". Callers hold e.mu.
func (e *Emulator) scopeOf(name string) *scope {
	if o, ok := strings.CutPrefix(name, "org:"); ok {
		if org, ok := e.orgs[strings.ToLower(o)]; ok {
			return &org.scope
		}
		return nil
	}
	full, env, hasEnv := strings.Cut(name, "@")
	r, ok := e.repos[strings.ToLower(full)]
	if !ok {
		return nil
	}
	if !hasEnv {
		return &r.scope
	}
	return r.envs[env]
}

func newScope() scope {
	return scope{key: newKeyPair(), secrets: map[string]*secret{}}
}

// newKeyPair generates a real curve25519 key pair, with a numeric-looking
// key_id like GitHub's.
func newKeyPair() keyPair {
	key, err := sealedbox.GenerateKey()
	if err != nil {
		panic("githubemu: generating a key pair: " + err.Error())
	}
	n, err := rand.Int(rand.Reader, big.NewInt(9e17))
	if err != nil {
		panic("githubemu: generating a key id: " + err.Error())
	}
	return keyPair{id: n.Add(n, big.NewInt(1e17)).String(), Key: key}
}
