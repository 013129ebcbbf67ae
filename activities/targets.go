package activities

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// TargetKind is one kind of place a key is pushed to: everything the
// activities need to know of it. A new kind is one file in this package
// that implements it (with its client behind a narrow interface), plus one
// line in worker/compose that registers it; a kind lives in this package. The workflow never knows the
// kinds: every push goes through Targets.PushToTarget.
type TargetKind interface {
	// kinds lists the model kinds it serves.
	kinds() []model.TargetKind
	// push writes the key's two values to the target the input names (as
	// the worker's configuration has it), then confirms them, and says how
	// in PushResult.ConfirmedBy.
	push(ctx context.Context, in PushInput) (PushResult, error)
	// check is the read-only preflight of a configured target: whether the
	// worker's credentials reach it and may write it. It changes nothing.
	check(ctx context.Context, t model.Target) TargetCheck
	// plan says what push would write to t (names as the kind spells
	// them) and how it would confirm it, for a dry run. It calls nobody
	// and uses nothing of its receiver, which may be nil.
	plan(t model.Target, names model.SecretNames) TargetPlan
}

// The interface's methods are unexported: the structs implementing it are
// registered as activities, and Temporal would take exported methods for
// activities.

// TargetCheck is what a preflight found for one target.
type TargetCheck struct {
	Target string `json:"target"`
	OK     bool   `json:"ok"`
	// Denied: the provider said no for good (401, 403, 404: the token may
	// not write there, or the place does not exist), as opposed to a check
	// that could not tell (a timeout, a 5xx).
	Denied bool `json:"denied,omitempty"`
	// Detail says what was checked, or what is missing and how to grant it.
	Detail string `json:"detail"`
}

// deniedStatus reports whether an HTTP status is a provider's final no.
func deniedStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound
}

// How a push confirmed the target holds the new key (PushResult.ConfirmedBy).
// Some providers never show a secret value again: those writes are confirmed
// by metadata the write changed, and the status says so.
const (
	ConfirmedReadBack = "read back"                   // the value itself was read back and compared
	ConfirmedMetadata = "metadata"                    // the provider hides the value: a version, ID or timestamp the write changed
	ConfirmedMasked   = "masked value's last 4 chars" // the provider shows the value masked: its visible end matches
)

// Targets holds the push activity every target goes through, whatever its
// kind, and the preflight every rotation runs before it creates a key.
type Targets struct {
	kinds     map[model.TargetKind]TargetKind
	rotations Rotations // the worker's configuration, for PreflightTargets
	// confirmed remembers which targets this worker wrote and confirmed,
	// and when: the preflight need not spend a call on them again soon.
	confirmed recentWrites
	now       func() time.Time
}

// preflightTrust is how long a push this worker confirmed stands in for a
// target's preflight check: a permission withdrawn since then only makes
// the push fail, with both keys active, so no pipeline breaks; meanwhile
// every rotation of a fleet saves one call per target (GitHub: 2 writes
// and 1 read-back, the protocol's minimum).
const preflightTrust = time.Hour

// preflightParallel bounds how many targets the preflight checks at once:
// a rotation with a thousand targets is checked within the activity's
// timeout, while the credential's limiter still paces the calls.
const preflightParallel = 8

// preflightMargin is how long before its deadline the preflight stops
// checking, to answer with what it has.
const preflightMargin = 5 * time.Second

// recentWrites is the time of each target's last confirmed push, by
// target name.
type recentWrites struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (w *recentWrites) set(target string, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at == nil {
		w.at = map[string]time.Time{}
	}
	w.at[target] = t
}

// since says how long ago target's last confirmed push was, if no longer
// than within.
func (w *recentWrites) since(target string, now time.Time, within time.Duration) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.at[target]
	if !ok || now.Sub(t) > within {
		return 0, false
	}
	return now.Sub(t), true
}

// NewTargetsFor is NewTargets with the worker's configuration, which the
// preflight activity looks the rotation up in.
func NewTargetsFor(rs Rotations, kinds ...TargetKind) *Targets {
	t := NewTargets(kinds...)
	t.rotations = rs
	return t
}

// PreflightTargetsInput names the rotation whose targets are checked.
type PreflightTargetsInput struct {
	Account string `json:"account"`
	User    string `json:"user"`
}

// PreflightTargetsResult is every target's read-only check.
type PreflightTargetsResult struct {
	Checks []TargetCheck `json:"checks"`
}

// PreflightTargets runs every configured target's read-only check, the
// rotation's first step before it creates a key: a target the worker may
// not write (Denied) fails the rotation while nothing exists to clean up.
// It changes nothing anywhere.
func (a *Targets) PreflightTargets(ctx context.Context, in PreflightTargetsInput) (PreflightTargetsResult, error) {
	if a.rotations == nil {
		return PreflightTargetsResult{}, nil
	}
	r, err := configuredRotation(a.rotations, in.Account, in.User)
	if err != nil {
		return PreflightTargetsResult{}, err
	}
	// A check still waiting for its turn on the quota when the activity's
	// time is nearly up is left unchecked: the checks done so far are
	// answered in time, instead of all of them lost to the timeout.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/10, preflightMargin)))
		defer cancel()
	}
	now := a.now()
	fresh := func(t model.Target) (TargetCheck, bool) {
		ago, ok := a.confirmed.since(t.String(), now, preflightTrust)
		if !ok {
			return TargetCheck{}, false
		}
		return TargetCheck{Target: t.String(), OK: true, Detail: fmt.Sprintf(
			"this worker wrote and confirmed it %s ago; not checked again", ago.Round(time.Second))}, true
	}
	return PreflightTargetsResult{Checks: checkTargets(ctx, a, r, fresh)}, nil
}

// NewTargets returns the push activity over the worker's target kinds (the
// ones whose connection the configuration has).
func NewTargets(kinds ...TargetKind) *Targets {
	t := &Targets{kinds: map[model.TargetKind]TargetKind{}, now: time.Now}
	for _, k := range kinds {
		for _, mk := range k.kinds() {
			t.kinds[mk] = k
		}
	}
	return t
}

// PushToTarget writes the new key to one target, of any kind, and confirms
// it. A kind this worker has no connection for is refused before anything
// is sent.
func (a *Targets) PushToTarget(ctx context.Context, in PushInput) (PushResult, error) {
	k, ok := a.kinds[in.Target.Kind]
	if !ok {
		return PushResult{}, nonRetryable(TypeNotConfigured, fmt.Sprintf(
			"%s: this worker has no %s connection configured; nothing was pushed", in.Target, in.Target.Kind.Provider()), nil)
	}
	ctx, gate := withHeartbeatGate(ctx, time.Now())
	res, err := k.push(ctx, in)
	if err != nil {
		gate.flush(ctx)
		return res, err
	}
	a.confirmed.set(in.Target.String(), a.now())
	return res, nil
}

// CheckTargets runs the read-only preflight of every target of r, a few at
// once, and returns the checks in r's order.
// (A function, not a method: Targets is registered as activities.)
func CheckTargets(ctx context.Context, a *Targets, r model.Rotation) []TargetCheck {
	return checkTargets(ctx, a, r, func(model.Target) (TargetCheck, bool) { return TargetCheck{}, false })
}

// checkTargets is CheckTargets, taking a target's check from known when it
// has one instead of calling the provider.
func checkTargets(ctx context.Context, a *Targets, r model.Rotation, known func(model.Target) (TargetCheck, bool)) []TargetCheck {
	out := make([]TargetCheck, len(r.Targets))
	turns := make(chan struct{}, preflightParallel)
	var wg sync.WaitGroup
	for i, t := range r.Targets {
		if c, ok := known(t); ok {
			out[i] = c
			continue
		}
		k, ok := a.kinds[t.Kind]
		if !ok {
			out[i] = TargetCheck{Target: t.String(), Detail: "no " + t.Kind.Provider() + " connection is configured"}
			continue
		}
		turns <- struct{}{}
		if ctx.Err() != nil {
			<-turns
			out[i] = TargetCheck{Target: t.String(), Detail: "not checked: the preflight ran out of time"}
			continue
		}
		wg.Go(func() {
			defer func() { <-turns }()
			c := k.check(ctx, t)
			c.Target = t.String()
			out[i] = c
		})
	}
	wg.Wait()
	return out
}

// TargetKinds lists the model kinds a worker can push to.
func TargetKinds(a *Targets) []model.TargetKind {
	var out []model.TargetKind
	for k := range a.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// --- the common skeleton of a push -----------------------------------------------

// kindBase is what every target kind's activities hold besides their
// client: the worker's configuration, the sealer, where they report, and
// how they retry calls in place.
type kindBase struct {
	provider  string
	rotations Rotations
	sealer    Sealer
	now       func() time.Time
	policy    callPolicy
	opts      options
}

func newKindBase(provider string, rs Rotations, s Sealer, opts []Option) kindBase {
	return kindBase{provider: provider, rotations: rs, sealer: s, now: time.Now, policy: defaultCallPolicy, opts: newOptions(opts)}
}

// pushRun is one attempt of a push: the opened request, the progress it
// resumes from, the calls it makes, and the key pair's write context.
type pushRun struct {
	req      pushRequest
	target   string
	progress *PushProgress
	calls    caller
	pair     *pairWrites
	started  time.Time
	kb       *kindBase
}

// run is a push of a kind: it resolves and opens the input, lets push
// write and confirm through the pushRun, and counts and logs the attempt.
func (b *kindBase) run(ctx context.Context, sealed PushInput, push func(ctx context.Context, p *pushRun) (confirmedBy string, err error)) (res PushResult, err error) {
	defer func() { b.opts.pushDone(ctx, b.provider, sealed, res, err) }()
	req, err := sealed.resolve(b.rotations, b.sealer)
	if err != nil {
		return PushResult{}, err
	}
	target := req.Target.String()
	progress := resumeProgress(ctx, target, req.Key.ID)
	p := &pushRun{req: req, target: target, progress: progress, kb: b, started: b.now(),
		calls: caller{policy: b.policy, progress: progress, onWait: b.opts.onRateLimit(ctx, b.provider, sealed)}}
	b.opts.paced(&p.calls, b.provider)
	p.pair = newPairWrites(ctx, len(progress.Written) > 0)
	defer p.pair.stop()
	confirmedBy, err := push(ctx, p)
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Target: target, ConfirmedAt: b.now().UTC(), Calls: p.calls.calls, ConfirmedBy: confirmedBy}, nil
}

// write makes one write of the key pair (named name, for the progress),
// unless an earlier attempt made it for this key. Once one write of the
// pair landed, a cancel waits for the other (pairWrites).
func (p *pushRun) write(name string, call func(ctx context.Context) error, judge func(error) failure) error {
	if p.progress.wrote(name) {
		return nil
	}
	ctx := p.pair.ctx
	if err := p.calls.do(ctx, func() error { return call(ctx) }, judge); err != nil {
		return err
	}
	p.pair.wrote()
	p.progress.markWritten(name)
	p.calls.heartbeat(ctx)
	return nil
}

// call makes one call that changes nothing the pair depends on (a read, a
// lookup, a read-back), retried in place as the policy allows.
func (p *pushRun) call(ctx context.Context, call func(ctx context.Context) error, judge func(error) failure) error {
	return p.calls.do(ctx, func() error { return call(ctx) }, judge)
}

// redactor redacts the secret (and the key ID's pairing) from provider text.
func (p *pushRun) redactor() *redactor {
	r := &redactor{}
	r.add(p.req.Key.Secret)
	return r
}

// notConfirmed is a read-back that does not show the write: retried, as a
// provider's eventual consistency can cause it.
func (p *pushRun) notConfirmed(what string) error {
	p.progress.restart("read-back did not confirm")
	return retryable(TypeNotConfirmed, p.target+": "+what+"; writing again", nil)
}
