// Package awsemu is an in-process AWS emulator that the real aws-sdk-go-v2
// clients talk to over HTTP: IAM and STS (AWS Query protocol: form POST
// with Action=..., XML answers in the real shapes and namespaces), and
// Secrets Manager and SSM Parameter Store (AWS JSON 1.1: POST / with
// X-Amz-Target, JSON answers and {"__type", "message"} errors), with the
// few KMS keys they encrypt with.
//
// One Emulator is one AWS account. Its access key IDs encode the account ID
// the way AWS's do, so STS GetAccessKeyInfo names the owner of a key made by
// any Emulator (see WithAccountID) or by KeyIDInAccount: that is how a test
// gets "a key of another account". Every request must carry a valid SigV4
// signature made with a key the emulator knows, so a key that was deleted,
// deactivated or mistyped is refused exactly as AWS would refuse it. That is
// what gives keyrotor's Verify step and the CI pipelines' "old key still in
// use" signal (LastUsed) their meaning in tests and in the demo. Secrets,
// parameters and KMS keys are regional, like AWS's: the region is the one
// in the request's credential scope.
//
// Authorization is modelled per principal by identity-based policies:
// administrators (AddAdmin, and roles from AddRole) may call everything,
// principals from AddPrincipal and roles from AddRoleAllowing only the
// actions they list, on every resource, principals from
// AddPrincipalWithPolicy and roles from AddRoleWithPolicy what their
// statements allow on the resources they name (secret, parameter, KMS key
// and user ARNs), plain users (AddUser) nothing but GetCallerIdentity.
// SimulatePrincipalPolicy answers from the same model.
//
// Point an SDK at it with config.WithBaseEndpoint(server.URL) or the
// AWS_ENDPOINT_URL_<SERVICE> environment variables; every service is served
// by the same handler, which tells them apart by X-Amz-Target and by the
// service in the signature's credential scope.
package awsemu

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultAccountID is the account an Emulator stands for unless WithAccountID says otherwise.
const DefaultAccountID = "123456789012"

// maxKeysPerUser is IAM's hard quota of access keys per user.
const maxKeysPerUser = 2

// Emulator is one emulated AWS account. It is safe for concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls per Action. Its rules apply to
	// every request served by Handler.
	Faults *faults.Injector

	mu          sync.Mutex
	accountID   string
	now         func() time.Time
	newKeyDelay time.Duration
	users       map[string]*user // by userKey(name): IAM user names are unique without regard to case
	keys        map[string]*key  // by access key ID: user keys and temporary credentials
	roles       map[string]*role // by role ARN
	seq         int              // creation order, to sort keys created in the same instant
	admins      int

	secrets    map[string]*secret    // by regionKey(region, name)
	parameters map[string]*parameter // by regionKey(region, parameterKey(name))
	kmsKeys    map[string]*kmsKey    // by regionKey(region, key ID)
	kmsAliases map[string]*kmsKey    // by regionKey(region, "alias/...")

	iamRate iamRate // IAM's throttling per account (SetIAMRate)
}

type user struct {
	name, path, id, arn string
	created             time.Time
	grants              grants // what the user may call, on which resources
	tags                []tag  // in the order they were added, as IAM lists them
	// keys are the user's access keys, oldest first: ListAccessKeys and
	// the key quota read them without a scan of every key (a fleet's
	// emulator holds tens of thousands).
	keys []*key
}

// tag is one IAM user tag.
type tag struct{ key, value string }

type key struct {
	id, secret string
	status     string
	created    time.Time
	seq        int
	user       *user    // owner; nil for temporary credentials
	session    *session // set for temporary credentials only
	viaAPI     bool     // created by CreateAccessKey: subject to the new-key delay

	lastUsed                *time.Time
	lastService, lastRegion string
}

// session is what AssumeRole hands out next to a temporary key.
type session struct {
	token           string
	expires         time.Time
	roleARN, roleID string
	arn             string // arn:aws:sts::<acct>:assumed-role/<name>/<session>
	name            string
}

type role struct {
	arn, id string
	grants  grants // what sessions of the role may call
	// trusted are the principals its trust policy names (nil: the
	// emulator's own account, arn:aws:iam::<id>:root).
	trusted []string
}

// KeyState is the emulator's view of one access key, for assertions.
type KeyState struct {
	ID          string
	Status      string
	CreatedAt   time.Time
	LastUsed    *time.Time
	LastService string
	LastRegion  string
}

// Option configures an Emulator.
type Option func(*Emulator)

// WithAccountID sets the 12-digit account ID used in ARNs and GetCallerIdentity.
func WithAccountID(id string) Option { return func(e *Emulator) { e.accountID = id } }

// WithClock replaces time.Now, for tests that step over the new-key delay or
// check LastUsed dates without sleeping.
func WithClock(now func() time.Time) Option { return func(e *Emulator) { e.now = now } }

// WithNewKeyDelay is SetNewKeyDelay as an option.
func WithNewKeyDelay(d time.Duration) Option { return func(e *Emulator) { e.newKeyDelay = d } }

// New returns an emulator for one empty account.
func New(opts ...Option) *Emulator {
	e := &Emulator{
		Faults:    faults.New(),
		accountID: DefaultAccountID,
		now:       time.Now,
		users:     map[string]*user{},
		keys:      map[string]*key{},
		roles:     map[string]*role{},

		secrets:    map[string]*secret{},
		parameters: map[string]*parameter{},
		kmsKeys:    map[string]*kmsKey{},
		kmsAliases: map[string]*kmsKey{},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// AccountID returns the emulated account's ID.
func (e *Emulator) AccountID() string { return e.accountID }

// SetNewKeyDelay makes keys created through CreateAccessKey unusable for d
// after their creation (they are refused with InvalidClientTokenId), the way
// IAM's eventual consistency makes a brand-new key fail for a few seconds.
func (e *Emulator) SetNewKeyDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.newKeyDelay = d
}

// AddUser creates the IAM user (path "/") if it does not exist yet and
// returns its ARN.
func (e *Emulator) AddUser(name string) string { return e.AddUserWithPath(name, "/") }

// AddUserWithPath is AddUser for a user under an IAM path such as "/ci/".
func (e *Emulator) AddUserWithPath(name, path string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addUserLocked(name, path, grants{}).arn
}

func (e *Emulator) addUserLocked(name, path string, g grants) *user {
	if u, ok := e.users[userKey(name)]; ok {
		return u
	}
	path = normalizePath(path)
	u := &user{
		name:    name,
		path:    path,
		id:      userIDPrefix + randomID(17),
		arn:     "arn:aws:iam::" + e.accountID + ":user" + path + name,
		created: e.now().UTC(),
		grants:  g,
	}
	e.users[userKey(name)] = u
	return u
}

// userKey is the map key of a user name. IAM user names are not
// distinguished by case: "CI-Deployer" and "ci-deployer" are one user, any
// call may name it either way, and answers carry the name as created.
func userKey(name string) string { return strings.ToLower(name) }

// userLocked finds a user by name, without regard to case.
func (e *Emulator) userLocked(name string) (*user, bool) {
	u, ok := e.users[userKey(name)]
	return u, ok
}

// normalizePath makes an IAM path start and end with "/".
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// TagUser sets tags on a user (creating it under "/" when unknown), as
// iam:TagUser does: a key already set (without regard to case, as IAM
// compares tag keys) gets the new value.
func (e *Emulator) TagUser(name string, tags map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.addUserLocked(name, "/", grants{})
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := slices.IndexFunc(u.tags, func(t tag) bool { return strings.EqualFold(t.key, k) })
		if i >= 0 {
			u.tags[i].value = tags[k]
			continue
		}
		u.tags = append(u.tags, tag{k, tags[k]})
	}
}

// UntagUser removes tags from a user, as iam:UntagUser does.
func (e *Emulator) UntagUser(name string, keys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.userLocked(name)
	if !ok {
		return
	}
	u.tags = slices.DeleteFunc(u.tags, func(t tag) bool {
		return slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, t.key) })
	})
}

// DeleteUser removes a user and its keys, as iam:DeleteUser does once the
// keys are gone.
func (e *Emulator) DeleteUser(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.userLocked(name)
	if !ok {
		return
	}
	for _, k := range u.keys {
		delete(e.keys, k.id)
	}
	u.keys = nil
	delete(e.users, userKey(name))
}

// UserARN returns the ARN of a user ("" when unknown).
func (e *Emulator) UserARN(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.userLocked(name); ok {
		return u.arn
	}
	return ""
}

// AddAdmin creates a new administrator user (the rotator's own identity,
// allowed every IAM action) with one active key and returns that key.
func (e *Emulator) AddAdmin() (id string, secret model.Secret) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.admins++
	name := "keyrotor-admin"
	if e.admins > 1 {
		name = fmt.Sprintf("keyrotor-admin-%d", e.admins)
	}
	u := e.addUserLocked(name, "/", allActions)
	k := e.newKeyLocked(u, false)
	return k.id, model.Secret(k.secret)
}

// AddRole registers a role that admin principals (and principals allowed
// sts:AssumeRole) may assume. The ARN may name another account
// (arn:aws:iam::<acct>:role/<path/>name); temporary credentials for it act as
// an administrator of this emulator.
func (e *Emulator) AddRole(arn string) { e.addRole(arn, allActions) }

// AddRoleAllowing is AddRole for a role whose sessions may call only the
// listed actions ("iam:CreateAccessKey", "iam:*", "*"), e.g. a target-account
// role whose policy lacks one of the rotator's actions.
func (e *Emulator) AddRoleAllowing(arn string, allowed ...string) {
	e.addRole(arn, grantsOf(allowed))
}

// AddRoleWithPolicy is AddRole for a role whose sessions may call only what
// the statements allow, on the resources they name.
func (e *Emulator) AddRoleWithPolicy(arn string, policy ...Statement) {
	e.addRole(arn, policyOf(policy))
}

// SetRoleTrust sets the role's trust policy: only the principals named
// may assume it, by their ARN (a user's, a role's for its sessions) or an
// account's root (arn:aws:iam::<id>:root: any principal of that account),
// as the Principal of an IAM trust policy names them. The caller's own
// policy must allow sts:AssumeRole on the role as well.
func (e *Emulator) SetRoleTrust(roleARN string, principals ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.roles[roleARN]; ok {
		r.trusted = append([]string(nil), principals...)
	}
}

// trusts reports whether the role's trust policy names the caller.
func (r *role) trusts(callerARN, homeAccount string) bool {
	trusted := r.trusted
	if trusted == nil {
		trusted = []string{"arn:aws:iam::" + homeAccount + ":root"}
	}
	caller := callerARN
	if sessionRole := roleOfSession(callerARN); sessionRole != "" {
		caller = sessionRole
	}
	for _, t := range trusted {
		if t == caller || t == "arn:aws:iam::"+accountOfARN(callerARN)+":root" {
			return true
		}
	}
	return false
}

// roleOfSession is the role (arn:aws:iam::<acct>:role/<name>) of an
// assumed-role session ARN (arn:aws:sts::<acct>:assumed-role/<name>/<session>),
// or "".
func roleOfSession(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + name
}

func (e *Emulator) addRole(arn string, g grants) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.roles[arn]; ok {
		r.grants = g
		return
	}
	e.roles[arn] = &role{arn: arn, id: roleIDPrefix + randomID(17), grants: g}
}

// ErrNoSuchUser is returned by the seeding API for an unknown user.
var ErrNoSuchUser = errors.New("awsemu: no such user")

// ErrKeyQuota is returned by CreateKey when the user already has two keys.
var ErrKeyQuota = errors.New("awsemu: user already has 2 access keys")

// CreateKey seeds an existing, active access key for a user created with
// AddUser. Unlike a key made through CreateAccessKey it is usable at once.
// Tests also use it for a key made "out of band" (by a person in the
// console, another tool) at the emulator clock's current time; MarkUsed then
// makes it look used.
func (e *Emulator) CreateKey(userName string) (model.NewAccessKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.userLocked(userName)
	if !ok {
		return model.NewAccessKey{}, fmt.Errorf("%w: %s", ErrNoSuchUser, userName)
	}
	if len(e.userKeysLocked(u)) >= maxKeysPerUser {
		return model.NewAccessKey{}, fmt.Errorf("%w: %s", ErrKeyQuota, userName)
	}
	k := e.newKeyLocked(u, false)
	return model.NewAccessKey{ID: k.id, Secret: model.Secret(k.secret)}, nil
}

// SetKeyStatus sets a key's status (model.KeyActive or model.KeyInactive),
// e.g. to seed an inactive leftover.
func (e *Emulator) SetKeyStatus(keyID, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[keyID]
	if !ok || k.user == nil {
		return fmt.Errorf("awsemu: no such access key %s", keyID)
	}
	if status != model.KeyActive && status != model.KeyInactive {
		return fmt.Errorf("awsemu: bad key status %q", status)
	}
	k.status = status
	return nil
}

// DeleteKey deletes a user's access key, as someone outside keyrotor
// could at any moment.
func (e *Emulator) DeleteKey(keyID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[keyID]
	if !ok || k.user == nil {
		return fmt.Errorf("awsemu: no such access key %s", keyID)
	}
	e.deleteKeyLocked(k)
	return nil
}

// SetKeyCreated backdates (or postdates) a key's CreateDate, e.g. to seed a
// key a person made years ago. IAM's CreateDate has one-second resolution.
func (e *Emulator) SetKeyCreated(keyID string, created time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[keyID]
	if !ok || k.user == nil {
		return fmt.Errorf("awsemu: no such access key %s", keyID)
	}
	k.created = created.UTC().Truncate(time.Second)
	return nil
}

// Keys returns the user's access keys sorted by creation (nil for an unknown user).
func (e *Emulator) Keys(userName string) []KeyState {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.userLocked(userName)
	if !ok {
		return nil
	}
	var out []KeyState
	for _, k := range e.userKeysLocked(u) {
		s := KeyState{ID: k.id, Status: k.status, CreatedAt: k.created, LastService: k.lastService, LastRegion: k.lastRegion}
		if k.lastUsed != nil {
			t := *k.lastUsed
			s.LastUsed = &t
		}
		out = append(out, s)
	}
	return out
}

// MarkUsed records a use of the key at the given time, as a CI pipeline
// calling S3 in us-east-1 would. Unknown keys are ignored.
func (e *Emulator) MarkUsed(keyID string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.keys[keyID]; ok {
		k.markUsed(at, "s3", "us-east-1")
	}
}

func (k *key) markUsed(at time.Time, service, region string) {
	t := at.UTC()
	k.lastUsed = &t
	k.lastService = service
	k.lastRegion = region
}

// newKeyLocked creates an active key for u.
func (e *Emulator) newKeyLocked(u *user, viaAPI bool) *key {
	e.seq++
	k := &key{
		id:      keyID(accessKeyPrefix, e.accountID),
		secret:  randomSecret(),
		status:  model.KeyActive,
		created: e.now().UTC().Truncate(time.Second), // IAM's CreateDate has one-second resolution
		seq:     e.seq,
		user:    u,
		viaAPI:  viaAPI,
	}
	e.keys[k.id] = k
	u.keys = append(u.keys, k)
	return k
}

// deleteKeyLocked removes a user's key.
func (e *Emulator) deleteKeyLocked(k *key) {
	delete(e.keys, k.id)
	if u := k.user; u != nil {
		u.keys = slices.DeleteFunc(u.keys, func(x *key) bool { return x == k })
	}
}

// userKeysLocked returns u's keys in creation order.
func (e *Emulator) userKeysLocked(u *user) []*key {
	return slices.Clone(u.keys) // in creation order: seq grows
}

// Handler serves IAM, STS, Secrets Manager and SSM. Injected faults
// (Faults) apply first, matched against the Action (the operation of
// X-Amz-Target for the JSON services: "PutSecretValue", "GetParameter"); a
// fault without a body in the service's format is answered as an AWS error
// so that the SDK maps it (429 → Throttling, 503 → ServiceUnavailable, ...).
func (e *Emulator) Handler() http.Handler {
	inner := http.HandlerFunc(e.serve)
	return withAction(awsShapedFaults(e.Faults.Middleware(inner, actionFromContext)))
}
