package workflows

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// iwWorld is the outside world of one interleaving schedule: one IAM user
// with its access keys, and the CI targets that hold a key each. Its fake
// activities behave like the real ones in package activities (idempotent,
// AlreadyDone, NoSuchEntity, ForeignKey, KeyLimit), inject the schedule's
// faults, and check the safety rules on every call that changes a key.
//
// Activities run on their own goroutines (pushes in parallel), and the
// driver's callbacks on the test environment's loop: everything here is
// behind mu.
type iwWorld struct {
	mu    sync.Mutex
	seed  int64
	f     iwFaults
	now   func() time.Time
	start time.Time
	// stubbornUntil: something outside the configured targets keeps using
	// the original key until then (zero: nothing does).
	stubbornUntil time.Time

	keys          []*iwKey
	seq           int
	initialKeys   []string          // every key the user held before the rotation
	initialActive string            // the active one among them ("" when none)
	targetNames   []string          // model.Target.String() of every configured target
	holds         map[string]string // target -> the access key ID it holds
	repaired      bool              // the broken target was fixed (an operator sent retry)
	permFired     map[string]bool   // permanent IAM faults that fired, by operation
	calls         map[string]int    // per operation and subject: how many calls so far
	slowCalls     map[string]int    // per operation: how many slowness draws so far

	// What the operator asked for so far; some rules have exceptions for it.
	nowRevokeSent bool            // a revoke with mode now was sent (zero active keys may follow)
	oldRevokeSent bool            // a revoke of the old key was sent
	revokedIDs    map[string]bool // key IDs a revoke named explicitly
	proceedSent   bool            // proceed was sent (with oldRevokeSent: the old key may go before every target confirmed)

	violations []iwViolation
	trace      []string
	total      int    // activity calls so far
	onRunaway  func() // cancels the workflow when it loops
	// confirmed is, per target, the key a push last reported back as
	// written (a lost answer leaves the workflow not knowing).
	confirmed map[string]string
	// cancelledActs are the activity IDs the workflow cancelled.
	cancelledActs map[string]bool
	foreign       int // CreateAccessKey refused with ForeignKey
}

// iwKey is one access key of the user.
type iwKey struct {
	ID        string
	Status    string
	CreatedAt time.Time
	LastUsed  *time.Time
}

// iwFaults are the faults a schedule injects into the fake activities.
type iwFaults struct {
	Transient    float64       // chance a call fails before its side effect (retryable)
	Lost         float64       // chance a call does its side effect, then loses the answer (retryable)
	Slow         float64       // chance a call takes a while of workflow time
	BrokenTarget string        // a target that fails for good (NotFound) until an operator's retry repairs it
	IAMPermanent string        // an IAM operation whose first call fails for good
	IAMPermType  string        // the error type of that failure
	VerifyBroken bool          // STS says the new key is someone else's (WrongIdentity)
	SlowMax      time.Duration // upper bound of a slow call (kept under the activity timeouts)
}

// iwViolation is one broken safety rule.
type iwViolation struct {
	Invariant string
	Detail    string
	At        time.Duration // workflow time since start
}

func (v iwViolation) String() string {
	return fmt.Sprintf("%s at +%s: %s", v.Invariant, v.At, v.Detail)
}

func newIWWorld(seed int64, f iwFaults, start time.Time, now func() time.Time) *iwWorld {
	return &iwWorld{
		seed: seed, f: f, start: start, now: now,
		holds: map[string]string{}, confirmed: map[string]string{}, cancelledActs: map[string]bool{}, revokedIDs: map[string]bool{}, permFired: map[string]bool{}, calls: map[string]int{}, slowCalls: map[string]int{},
	}
}

// setUp gives the user its starting keys (statuses, oldest first) and
// points every target at the active one, as the pipelines were before.
func (w *iwWorld) setUp(statuses []string, targets []model.Target, stubborn time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var active string
	for _, s := range statuses {
		k := w.addKey(s, w.start.Add(-90*24*time.Hour))
		w.initialKeys = append(w.initialKeys, k.ID)
		if s == model.KeyActive {
			active = k.ID
			w.initialActive = k.ID
			used := w.start.Add(-time.Hour)
			k.LastUsed = &used
		}
	}
	for _, t := range targets {
		w.targetNames = append(w.targetNames, t.String())
		w.holds[t.String()] = active
	}
	if stubborn > 0 {
		w.stubbornUntil = w.start.Add(stubborn)
	}
}

func iwKeyID(seq int) string { return fmt.Sprintf("AKIAIW%07dEXAMPLE", seq) }

func (w *iwWorld) addKey(status string, createdAt time.Time) *iwKey {
	w.seq++
	k := &iwKey{ID: iwKeyID(w.seq), Status: status, CreatedAt: createdAt}
	w.keys = append(w.keys, k)
	return k
}

func (w *iwWorld) find(id string) *iwKey {
	for _, k := range w.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

func (w *iwWorld) remove(id string) {
	w.keys = slices.DeleteFunc(w.keys, func(k *iwKey) bool { return k.ID == id })
}

func (w *iwWorld) activeCount() int {
	n := 0
	for _, k := range w.keys {
		if k.Status == model.KeyActive {
			n++
		}
	}
	return n
}

func (w *iwWorld) since() time.Duration { return w.now().Sub(w.start) }

func (w *iwWorld) violate(invariant, format string, args ...any) {
	v := iwViolation{Invariant: invariant, Detail: fmt.Sprintf(format, args...), At: w.since()}
	w.violations = append(w.violations, v)
	w.trace = append(w.trace, fmt.Sprintf("+%s VIOLATION %s", v.At, v))
}

func (w *iwWorld) log(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf("+%s %s", w.since(), fmt.Sprintf(format, args...)))
}

// --- faults ----------------------------------------------------------------

// chance is a number in [0,1) fixed by the seed, the operation, its subject
// (a key or a target), the call's number and a salt: the same schedule
// injects the same faults however the goroutines of parallel pushes are
// scheduled.
func (w *iwWorld) chance(op, subject string, n int, salt string) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%s|%d|%s", w.seed, op, subject, n, salt)
	return float64(h.Sum64()>>11) / float64(1<<53)
}

// iwMaxCalls bounds the activity calls of one schedule: a rotation makes a
// few dozen; one that makes thousands loops without end.
const iwMaxCalls = 2000

// begin counts a call and returns its number for (op, subject).
func (w *iwWorld) begin(op, subject string) int {
	w.total++
	if w.total == iwMaxCalls {
		w.violate("runaway", "%d activity calls, the last %s %s: the rotation loops; cancelling it", w.total, op, subject)
		if w.onRunaway != nil {
			w.onRunaway()
		}
	}
	key := op + "|" + subject
	w.calls[key]++
	return w.calls[key]
}

// failBefore injects the faults that strike before any side effect.
func (w *iwWorld) failBefore(op, subject string, n int) error {
	if w.total >= iwMaxCalls {
		return temporal.NewNonRetryableApplicationError(op+": the harness stopped a looping rotation", "Runaway", nil)
	}
	if w.f.IAMPermanent == op && !w.permFired[op] {
		w.permFired[op] = true
		w.log("%s %s: injected permanent %s", op, subject, w.f.IAMPermType)
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s for IAM user: injected permanent failure", op), w.f.IAMPermType, nil)
	}
	if w.chance(op, subject, n, "transient") < w.f.Transient {
		w.log("%s %s: injected transient error", op, subject)
		return temporal.NewApplicationError(fmt.Sprintf("%s %s: 503 Service Unavailable (injected)", op, subject), "Transient")
	}
	return nil
}

// loseAfter injects a lost answer after the side effect happened.
func (w *iwWorld) loseAfter(op, subject string, n int) error {
	if w.chance(op, subject, n, "lost") < w.f.Lost {
		w.log("%s %s: done, answer lost (injected)", op, subject)
		return temporal.NewApplicationError(fmt.Sprintf("%s %s: context deadline exceeded (injected, the call went through)", op, subject), "Transient")
	}
	return nil
}

// delay is how long the next call of op takes in workflow time. It is
// drawn per operation (the test environment does not pass the call's
// arguments to it), so it is only as deterministic as the order of calls.
func (w *iwWorld) delay(op string, longest time.Duration) func() time.Duration {
	return func() time.Duration {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.slowCalls[op]++
		n := w.slowCalls[op]
		if w.chance(op, "", n, "slow") >= w.f.Slow {
			return 0
		}
		d := time.Duration(1+w.chance(op, "", n, "slow-by")*float64(longest/time.Second-1)) * time.Second
		return d
	}
}

// --- invariants checked on every change ------------------------------------

// afterChange checks the rules that must hold at every moment.
func (w *iwWorld) afterChange(op string, activeBefore int) {
	if len(w.keys) > 2 {
		w.violate("more-than-two-keys", "%s left the user with %d keys", op, len(w.keys))
	}
	if len(w.targetNames) > 0 && activeBefore > 0 && w.activeCount() == 0 && !w.nowRevokeSent && w.anyDependedOn() {
		w.violate("zero-active", "%s left the user with no active key while %d targets exist and no revoke with mode now was sent", op, len(w.targetNames))
	}
}

// beforeDeactivate checks, for a key that pipelines depend on (the user's
// original key, or one a target holds), that every target still holds a
// working key other than it, unless an operator revoked with mode now, or
// revoked the old key and sent proceed. A new key nothing holds yet (one
// that failed verification) may go at any time.
func (w *iwWorld) beforeDeactivate(k *iwKey) {
	if w.nowRevokeSent || (w.oldRevokeSent && w.proceedSent) || !w.dependedOn(k.ID) {
		return
	}
	for _, name := range w.targetNames {
		held := w.holds[name]
		hk := w.find(held)
		if held == k.ID || hk == nil || hk.Status != model.KeyActive {
			if w.revokedIDs[k.ID] {
				// A revoke (mode "") named this key. It may go before its
				// replacement only when targets also hold the other key:
				// IAM's two-key limit leaves no room for a third, and
				// either choice cuts some target off for a moment.
				if w.otherKeyHeld(k.ID) || !w.allConfirmed(k.ID) {
					return
				}
				w.violate("revoked-key-cut-before-replacement", "took %s (revoked, mode \"\") out of service while target %s still holds it", k.ID, name)
				return
			}
			w.violate("deactivate-before-confirmed", "deactivated %s while target %s holds %s (not a working other key)", k.ID, name, iwOr(held, "nothing"))
			return
		}
	}
}

// allConfirmed: the workflow was told that every target holds id (so it
// knows the other key serves none of them).
func (w *iwWorld) allConfirmed(id string) bool {
	for _, name := range w.targetNames {
		if w.confirmed[name] != id {
			return false
		}
	}
	return true
}

// otherKeyHeld: some target holds an active key other than id.
func (w *iwWorld) otherKeyHeld(id string) bool {
	for _, held := range w.holds {
		if k := w.find(held); k != nil && held != id && k.Status == model.KeyActive {
			return true
		}
	}
	return false
}

// dependedOn: pipelines use the key (it is the user's original key, or a
// target holds it).
func (w *iwWorld) dependedOn(id string) bool {
	if id == w.initialActive {
		return true
	}
	for _, held := range w.holds {
		if held == id {
			return true
		}
	}
	return false
}

// anyDependedOn: some pipeline uses a key of the user (a user that had no
// key and whose targets hold none loses nothing when it has none again).
func (w *iwWorld) anyDependedOn() bool {
	if w.initialActive != "" {
		return true
	}
	for _, held := range w.holds {
		if held != "" {
			return true
		}
	}
	return false
}

// --- the fake activities ----------------------------------------------------

func (w *iwWorld) InspectKeys(_ context.Context, in activities.InspectKeysInput) (activities.InspectKeysResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "InspectKeys"
	n := w.begin(op, in.User)
	w.log("%s #%d", op, n)
	if err := w.failBefore(op, in.User, n); err != nil {
		return activities.InspectKeysResult{}, err
	}
	var active []*iwKey
	for _, k := range w.keys {
		if k.Status == model.KeyActive {
			active = append(active, k)
		}
	}
	if len(active) > 1 {
		return activities.InspectKeysResult{}, temporal.NewNonRetryableApplicationError("two active keys", activities.TypeTwoActiveKeys, nil)
	}
	var res activities.InspectKeysResult
	if len(active) == 1 {
		k := model.AccessKey{ID: active[0].ID, Status: active[0].Status, CreatedAt: active[0].CreatedAt}
		res.ActiveKey = &k
	}
	before := w.activeCount()
	for _, k := range slices.Clone(w.keys) {
		if k.Status != model.KeyActive {
			w.remove(k.ID)
			res.DeletedInactive = append(res.DeletedInactive, k.ID)
			w.log("deleted inactive leftover %s", k.ID)
		}
	}
	w.afterChange(op, before)
	if err := w.loseAfter(op, in.User, n); err != nil {
		return activities.InspectKeysResult{}, err
	}
	return res, nil
}

// CreateAccessKey follows the real activity: a key the workflow does not
// know is deleted only if it is provably a stray of this rotation (created
// at or after NotBefore and never used); any other unknown key stops the
// rotation with ForeignKey. Like IAM, it never makes a third key.
func (w *iwWorld) CreateAccessKey(_ context.Context, in activities.CreateAccessKeyInput) (activities.CreateAccessKeyResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "CreateAccessKey"
	n := w.begin(op, in.User)
	w.log("%s #%d known=%v notBefore=+%s", op, n, in.KnownKeyIDs, in.NotBefore.Sub(w.start))
	if err := w.failBefore(op, in.User, n); err != nil {
		return activities.CreateAccessKeyResult{}, err
	}
	var res activities.CreateAccessKeyResult
	before := w.activeCount()
	deleted, kept, err := w.sweepStrays(op, in)
	if err != nil {
		return res, err
	}
	res.DeletedStray = deleted
	if len(w.keys) >= 2 {
		w.violate("third-key", "CreateAccessKey called while the user holds %d keys (%v known)", len(w.keys), kept)
		return activities.CreateAccessKeyResult{}, temporal.NewNonRetryableApplicationError("the user already has two access keys", activities.TypeKeyLimit, nil)
	}
	k := w.addKey(model.KeyActive, w.now())
	w.log("created %s", k.ID)
	w.afterChange(op, before)
	if err := w.loseAfter(op, in.User, n); err != nil {
		return activities.CreateAccessKeyResult{}, err
	}
	res.Key = model.SealedAccessKey{ID: k.ID, Secret: model.SealedSecret{KeyID: "k-interleave", Data: []byte("sealed")}}
	res.CreatedAt = k.CreatedAt
	return res, nil
}

// sweepStrays deletes the keys a lost create of this rotation may have
// left, like the IAM activities: unknown keys created at or after NotBefore
// and never used. Any other unknown key is foreign, and nothing is deleted.
func (w *iwWorld) sweepStrays(op string, in activities.CreateAccessKeyInput) (deleted, kept []string, err error) {
	before := w.activeCount()
	for _, k := range slices.Clone(w.keys) {
		if slices.Contains(in.KnownKeyIDs, k.ID) {
			kept = append(kept, k.ID)
			continue
		}
		if in.NotBefore.IsZero() || k.CreatedAt.Before(in.NotBefore) || k.LastUsed != nil {
			w.foreign++
			w.log("%s: refused, unknown key %s is not provably a stray", op, k.ID)
			return nil, nil, temporal.NewNonRetryableApplicationError(
				"the user holds key "+k.ID+" that this rotation cannot prove it created; nothing was deleted", activities.TypeForeignKey, nil)
		}
		w.remove(k.ID)
		deleted = append(deleted, k.ID)
		w.log("deleted stray %s", k.ID)
	}
	w.afterChange(op+" (stray clean-up)", before)
	return deleted, kept, nil
}

// DeleteStrayKeys is the cancel's sweep after an interrupted create.
func (w *iwWorld) DeleteStrayKeys(_ context.Context, in activities.CreateAccessKeyInput) (activities.DeleteStrayKeysResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "DeleteStrayKeys"
	n := w.begin(op, in.User)
	w.log("%s #%d known=%v notBefore=+%s", op, n, in.KnownKeyIDs, in.NotBefore.Sub(w.start))
	if err := w.failBefore(op, in.User, n); err != nil {
		return activities.DeleteStrayKeysResult{}, err
	}
	deleted, _, err := w.sweepStrays(op, in)
	if err != nil {
		return activities.DeleteStrayKeysResult{}, err
	}
	if err := w.loseAfter(op, in.User, n); err != nil {
		return activities.DeleteStrayKeysResult{}, err
	}
	return activities.DeleteStrayKeysResult{DeletedStray: deleted}, nil
}

func (w *iwWorld) VerifyAccessKey(_ context.Context, in activities.VerifyAccessKeyInput) (activities.VerifyAccessKeyResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "VerifyAccessKey"
	n := w.begin(op, in.Key.ID)
	w.log("%s %s #%d", op, in.Key.ID, n)
	if err := w.failBefore(op, in.Key.ID, n); err != nil {
		return activities.VerifyAccessKeyResult{}, err
	}
	if w.f.VerifyBroken {
		return activities.VerifyAccessKeyResult{}, temporal.NewNonRetryableApplicationError("access key signs as someone else (injected)", activities.TypeWrongIdentity, nil)
	}
	if k := w.find(in.Key.ID); k == nil || k.Status != model.KeyActive {
		return activities.VerifyAccessKeyResult{}, temporal.NewApplicationError("STS does not accept access key "+in.Key.ID, activities.TypeKeyNotAccepted)
	}
	return activities.VerifyAccessKeyResult{ARN: "arn:aws:iam::123456789012:user/" + in.User}, nil
}

func (w *iwWorld) GetAccessKeyLastUsed(_ context.Context, in activities.KeyInput) (activities.KeyLastUsedResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "GetAccessKeyLastUsed"
	n := w.begin(op, in.AccessKeyID)
	w.log("%s %s #%d", op, in.AccessKeyID, n)
	if err := w.failBefore(op, in.AccessKeyID, n); err != nil {
		return activities.KeyLastUsedResult{}, err
	}
	k := w.find(in.AccessKeyID)
	if k == nil {
		return activities.KeyLastUsedResult{Gone: true}, nil
	}
	now := w.now()
	if w.inUse(k.ID, now) {
		k.LastUsed = &now
		return activities.KeyLastUsedResult{LastUsed: &now, Service: "s3"}, nil
	}
	return activities.KeyLastUsedResult{LastUsed: k.LastUsed}, nil
}

// inUse: an active key that a target still holds, or the original key while
// the stubborn outside user is at it, is in use right now.
func (w *iwWorld) inUse(id string, now time.Time) bool {
	if k := w.find(id); k == nil || k.Status != model.KeyActive {
		return false
	}
	if len(w.initialKeys) > 0 && slices.Contains(w.initialKeys, id) && now.Before(w.stubbornUntil) {
		return true
	}
	for _, held := range w.holds {
		if held == id {
			return true
		}
	}
	return false
}

func (w *iwWorld) DeactivateAccessKey(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
	return w.setStatus("DeactivateAccessKey", in, model.KeyInactive)
}

func (w *iwWorld) ActivateAccessKey(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
	return w.setStatus("ActivateAccessKey", in, model.KeyActive)
}

func (w *iwWorld) setStatus(op string, in activities.KeyInput, want string) (activities.KeyChangeResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.begin(op, in.AccessKeyID)
	w.log("%s %s #%d", op, in.AccessKeyID, n)
	if err := w.failBefore(op, in.AccessKeyID, n); err != nil {
		return activities.KeyChangeResult{}, err
	}
	k := w.find(in.AccessKeyID)
	switch {
	case k == nil && want == model.KeyInactive:
		return activities.KeyChangeResult{AlreadyDone: true}, nil
	case k == nil:
		return activities.KeyChangeResult{}, temporal.NewNonRetryableApplicationError("access key "+in.AccessKeyID+" does not exist", activities.TypeNoSuchEntity, nil)
	case k.Status == want:
		return activities.KeyChangeResult{AlreadyDone: true}, nil
	}
	before := w.activeCount()
	if want == model.KeyInactive {
		w.beforeDeactivate(k)
	}
	k.Status = want
	w.afterChange(op+" "+k.ID, before)
	if err := w.loseAfter(op, in.AccessKeyID, n); err != nil {
		return activities.KeyChangeResult{}, err
	}
	return activities.KeyChangeResult{}, nil
}

func (w *iwWorld) DeleteAccessKey(_ context.Context, in activities.KeyInput) (activities.KeyChangeResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "DeleteAccessKey"
	n := w.begin(op, in.AccessKeyID)
	w.log("%s %s #%d", op, in.AccessKeyID, n)
	if err := w.failBefore(op, in.AccessKeyID, n); err != nil {
		return activities.KeyChangeResult{}, err
	}
	k := w.find(in.AccessKeyID)
	if k == nil {
		return activities.KeyChangeResult{AlreadyDone: true}, nil
	}
	before := w.activeCount()
	if k.Status == model.KeyActive {
		w.beforeDeactivate(k)
	}
	w.remove(k.ID)
	w.afterChange(op+" "+k.ID, before)
	if err := w.loseAfter(op, in.AccessKeyID, n); err != nil {
		return activities.KeyChangeResult{}, err
	}
	return activities.KeyChangeResult{}, nil
}

// Push writes the key into the target and reads it back, like the GitHub
// and GitLab activities.
func (w *iwWorld) Push(ctx context.Context, in activities.PushInput) (activities.PushResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	const op = "Push"
	name := in.Target.String()
	n := w.begin(op, name)
	if w.cancelledActs[activity.GetInfo(ctx).ActivityID] {
		// The workflow cancelled this push while it was slow. The real
		// activities check their context before every write, and the
		// workflow waits for them to stop (WaitForCancellation); the test
		// environment reports the cancel at once and leaves the mock
		// running, so the world drops the write here.
		w.log("%s %s key=%s #%d: cancelled before the write", op, name, in.Key.ID, n)
		return activities.PushResult{}, temporal.NewCanceledError()
	}
	w.log("%s %s key=%s #%d", op, name, in.Key.ID, n)
	if _, ok := w.holds[name]; !ok {
		return activities.PushResult{}, temporal.NewNonRetryableApplicationError("target "+name+" is not configured", activities.TypeNotConfigured, nil)
	}
	if err := w.failBefore(op, name, n); err != nil {
		return activities.PushResult{}, err
	}
	if name == w.f.BrokenTarget && !w.repaired {
		return activities.PushResult{}, temporal.NewNonRetryableApplicationError(name+": 404 Not Found (injected)", activities.TypeNotFound, nil)
	}
	w.holds[name] = in.Key.ID
	if k := w.find(in.Key.ID); k != nil {
		// The pipelines behind the target pick it up.
		now := w.now()
		k.LastUsed = &now
	}
	if err := w.loseAfter(op, name, n); err != nil {
		return activities.PushResult{}, err
	}
	w.confirmed[name] = in.Key.ID
	return activities.PushResult{Target: name, ConfirmedAt: w.now(), Calls: 2}, nil
}

// --- operator bookkeeping ---------------------------------------------------

// noteRevoke records a revoke before it is sent.
func (w *iwWorld) noteRevoke(in RevokeInput, oldKeyID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if in.Mode == RevokeModeNow {
		w.nowRevokeSent = true
	}
	if in.AccessKeyID == "" || in.AccessKeyID == oldKeyID {
		w.oldRevokeSent = true
	}
	if in.AccessKeyID != "" {
		w.revokedIDs[in.AccessKeyID] = true
	}
}

func (w *iwWorld) noteProceed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.proceedSent = true
}

// repair fixes the broken target, as an operator does before sending retry.
func (w *iwWorld) repair() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f.BrokenTarget != "" && !w.repaired {
		w.repaired = true
		w.log("operator repaired target %s", w.f.BrokenTarget)
	}
}

// iwSnapshot is the world at the end of a run.
type iwSnapshot struct {
	Keys        []iwKey
	Holds       map[string]string
	Confirmed   map[string]string
	InitialKeys []string
	Targets     []string
	PermFired   bool
	Foreign     int
	Violations  []iwViolation
	Trace       []string
}

func (w *iwWorld) snapshot() iwSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := iwSnapshot{Holds: map[string]string{}, Confirmed: maps.Clone(w.confirmed), InitialKeys: slices.Clone(w.initialKeys), Targets: slices.Clone(w.targetNames),
		PermFired: len(w.permFired) > 0, Foreign: w.foreign, Violations: slices.Clone(w.violations), Trace: slices.Clone(w.trace)}
	for _, k := range w.keys {
		s.Keys = append(s.Keys, *k)
	}
	for t, k := range w.holds {
		s.Holds[t] = k
	}
	return s
}

// stillNeeded: the key is the user's only active key, a target holds it, or
// a target never confirmed the user's other active key (so the workflow
// cannot know it moved).
func (s iwSnapshot) stillNeeded(id string) bool {
	var others []string
	for _, k := range s.Keys {
		if k.Status == model.KeyActive && k.ID != id {
			others = append(others, k.ID)
		}
	}
	if len(others) == 0 {
		return true
	}
	for _, t := range s.Targets {
		if s.Holds[t] == id || !slices.Contains(others, s.Confirmed[t]) {
			return true
		}
	}
	return false
}

func (s iwSnapshot) key(id string) *iwKey {
	for i := range s.Keys {
		if s.Keys[i].ID == id {
			return &s.Keys[i]
		}
	}
	return nil
}

func (s iwSnapshot) describeKeys() string {
	var parts []string
	for _, k := range s.Keys {
		parts = append(parts, k.ID+" "+k.Status)
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

// --- wiring into the test environment ---------------------------------------

// iwConfigActs names the configuration activity (the workflow resolves its
// rotation from the worker's config through it).
var iwConfigActs *activities.Config

// register mocks every activity of the workflow with the world's fakes.
func (w *iwWorld) register(env *testsuite.TestWorkflowEnvironment, r model.Rotation) {
	const iamSlow, verifySlow, pushSlow = 25 * time.Second, 15 * time.Second, 50 * time.Second
	env.SetOnActivityCanceledListener(func(info *activity.Info) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.cancelledActs[info.ActivityID] = true
	})
	env.OnActivity(iwConfigActs.ResolveRotation, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveRotationInput) (activities.ResolveRotationResult, error) {
			if in.Account != r.Account || in.User != r.User {
				return activities.ResolveRotationResult{}, temporal.NewNonRetryableApplicationError("not configured", activities.TypeNotConfigured, nil)
			}
			return activities.ResolveRotationResult{Rotation: r}, nil
		})
	env.OnActivity(targetActs.PreflightTargets, mock.Anything, mock.Anything).Return(activities.PreflightTargetsResult{}, nil)
	env.OnActivity(iamActs.InspectKeys, mock.Anything, mock.Anything).AfterFn(w.delay("InspectKeys", iamSlow)).Return(w.InspectKeys)
	env.OnActivity(iamActs.CreateAccessKey, mock.Anything, mock.Anything).AfterFn(w.delay("CreateAccessKey", iamSlow)).Return(w.CreateAccessKey)
	env.OnActivity(iamActs.DeleteStrayKeys, mock.Anything, mock.Anything).AfterFn(w.delay("DeleteStrayKeys", iamSlow)).Return(w.DeleteStrayKeys)
	env.OnActivity(iamActs.VerifyAccessKey, mock.Anything, mock.Anything).AfterFn(w.delay("VerifyAccessKey", verifySlow)).Return(w.VerifyAccessKey)
	env.OnActivity(iamActs.GetAccessKeyLastUsed, mock.Anything, mock.Anything).AfterFn(w.delay("GetAccessKeyLastUsed", iamSlow)).Return(w.GetAccessKeyLastUsed)
	env.OnActivity(iamActs.DeactivateAccessKey, mock.Anything, mock.Anything).AfterFn(w.delay("DeactivateAccessKey", iamSlow)).Return(w.DeactivateAccessKey)
	env.OnActivity(iamActs.ActivateAccessKey, mock.Anything, mock.Anything).AfterFn(w.delay("ActivateAccessKey", iamSlow)).Return(w.ActivateAccessKey)
	env.OnActivity(iamActs.DeleteAccessKey, mock.Anything, mock.Anything).AfterFn(w.delay("DeleteAccessKey", iamSlow)).Return(w.DeleteAccessKey)
	// One mock per target, so that each target draws its own slowness.
	for _, t := range r.Targets {
		name := t.String()
		env.OnActivity(targetActs.PushToTarget, mock.Anything, mock.MatchedBy(func(in activities.PushInput) bool { return in.Target.String() == name })).
			AfterFn(w.delay("Push "+name, pushSlow)).Return(w.Push)
	}
}

func iwOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
