package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.temporal.io/sdk/workflow"
)

var accessKeyIDPattern = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)

// registerHandlers installs the status query and the operator requests.
func (r *rotation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, StatusQuery, func() (Status, error) {
		return r.status, nil
	}, workflow.QueryHandlerOptions{Description: "phase, key IDs, targets, revocations and the current timer of this rotation"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, RevokeSignal,
		func(ctx workflow.Context, in RevokeInput) (RevokeResult, error) { return r.acceptRevoke(ctx, in), nil },
		workflow.UpdateHandlerOptions{
			Validator:   func(in RevokeInput) error { return r.checkRevoke(in) },
			Description: "revoke a key (the old one by default); mode now deactivates it at once",
		}); err != nil {
		return err
	}
	for _, op := range r.operatorRequests() {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, op.name,
			func(ctx workflow.Context, in ProceedInput) (ProceedResult, error) { return op.accept(ctx, in), nil },
			workflow.UpdateHandlerOptions{
				Validator: func(in ProceedInput) error {
					return firstError(checkOperatorText(in.Reason, in.RequestedBy), op.check())
				},
				Description: op.description,
			}); err != nil {
			return err
		}
	}
	r.onSignal(ctx, RevokeSignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[RevokeInput](raw)
		if err == nil {
			err = r.checkRevoke(in)
		}
		if err != nil {
			r.notice(ctx, "rejected a revoke signal: "+err.Error())
			return
		}
		r.acceptRevoke(ctx, in)
	})
	for _, op := range r.operatorRequests() {
		r.onSignal(ctx, op.name, func(ctx workflow.Context, raw json.RawMessage) {
			in, err := decodeOptional[ProceedInput](raw)
			if err == nil {
				err = firstError(checkOperatorText(in.Reason, in.RequestedBy), op.check())
			}
			if err != nil {
				r.notice(ctx, "ignored a "+op.name+" signal: "+err.Error())
				return
			}
			op.accept(ctx, in)
		})
	}
	return nil
}

// operatorRequest is proceed, retry or rollback: when it applies, and what
// accepting it records.
type operatorRequest struct {
	name, description string
	check             func() error // nil when the request applies now
	record            func()
	message           string
}

func (op operatorRequest) acceptWith(r *rotation) func(workflow.Context, ProceedInput) ProceedResult {
	return func(ctx workflow.Context, in ProceedInput) ProceedResult {
		op.record()
		r.event(ctx, op.name+" received"+by(in.RequestedBy)+reasonSuffix(in.Reason)+": "+op.message)
		return ProceedResult{Phase: r.status.Phase, Message: op.message}
	}
}

type boundRequest struct {
	operatorRequest
	accept func(workflow.Context, ProceedInput) ProceedResult
}

func (r *rotation) operatorRequests() []boundRequest {
	ops := []operatorRequest{
		{
			name: ProceedSignal, description: "end the current wait or hold",
			check: r.checkProceed, record: func() { r.req.proceed = true },
			message: "the current wait or hold ends",
		},
		{
			name: RetrySignal, description: "re-push the failed targets while the rotation holds for them",
			check: r.checkRetry, record: func() { r.req.retry = true },
			message: "the failed targets are pushed again",
		},
		{
			name: RollbackSignal, description: "re-activate the deactivated old key and end with both keys active",
			check: r.checkRollback, record: func() { r.req.rollback = true },
			message: "the old key is re-activated and the rotation ends with both keys active",
		},
	}
	out := make([]boundRequest, len(ops))
	for i, op := range ops {
		out[i] = boundRequest{operatorRequest: op, accept: op.acceptWith(r)}
	}
	return out
}

// --- validators: they read the state and never change it -------------------

func (r *rotation) checkProceed() error {
	if r.status.Waiting == "" && r.status.HeldReason == "" {
		return fmt.Errorf("nothing to proceed: the rotation is %s, not waiting or holding", r.status.Phase)
	}
	return nil
}

func (r *rotation) checkRetry() error {
	if !r.holdingForTargets {
		return fmt.Errorf("the rotation is not holding for failed targets (phase is %s)", r.status.Phase)
	}
	return nil
}

func (r *rotation) checkRollback() error {
	switch {
	case r.oldKeyRevoked():
		return fmt.Errorf("the old key %s is revoked: it is never re-activated", r.oldKey.ID)
	case r.status.Phase != PhaseWaitingToDelete || r.oldKey.State != keyInactive:
		return fmt.Errorf("the old key can only be re-activated while it is deactivated and not yet deleted (phase is %s)", r.status.Phase)
	}
	return nil
}

func (r *rotation) checkRevoke(in RevokeInput) error {
	if err := checkOperatorText(in.Reason, in.RequestedBy); err != nil {
		return err
	}
	if in.Mode != "" && in.Mode != RevokeModeNow {
		return fmt.Errorf("mode %q: use \"now\" or leave it out", truncateText(in.Mode, 16))
	}
	if in.AccessKeyID != "" && !accessKeyIDPattern.MatchString(in.AccessKeyID) {
		// The value is not echoed: a malformed "key ID" may be a pasted secret.
		return errors.New("accessKeyId is not an access key ID (AKIA followed by 16 capital letters or digits)")
	}
	if r.status.Phase.Ended() {
		return fmt.Errorf("the rotation has ended (%s)", r.status.Phase)
	}
	if len(r.status.Revocations) >= maxRevocations {
		return fmt.Errorf("this rotation already recorded %d revocations; start a new rotation to revoke more", maxRevocations)
	}
	if r.done.inspected {
		if _, err := r.resolveKey(in.AccessKeyID); err != nil {
			return err
		}
	}
	return nil
}

// checkOperatorText caps what an operator may write into the status, so
// that the status and the final result stay small.
func checkOperatorText(fields ...string) error {
	for _, f := range fields {
		if len(f) > maxOperatorLen {
			return fmt.Errorf("reason and requestedBy are limited to %d bytes (got %d)", maxOperatorLen, len(f))
		}
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// --- recording ---------------------------------------------------------------

// acceptRevoke records a checked revoke request and resolves which key it
// means when the keys are known.
func (r *rotation) acceptRevoke(ctx workflow.Context, in RevokeInput) RevokeResult {
	rv := Revocation{
		AccessKeyID: in.AccessKeyID, Reason: in.Reason, Mode: in.Mode, RequestedBy: in.RequestedBy,
		ReceivedAt: workflow.Now(ctx), State: RevocationPending,
	}
	r.status.Revocations = append(r.status.Revocations, rv)
	r.event(ctx, "revoke received for "+orDefault(rv.AccessKeyID, "the old key")+modeSuffix(rv.Mode)+by(rv.RequestedBy)+reasonSuffix(rv.Reason))
	r.resolveRevocations(ctx)
	if r.req.rollback && r.oldKeyRevoked() {
		r.req.rollback = false
		r.notice(ctx, "the pending rollback is dropped: the old key is revoked and is never re-activated")
	}
	return RevokeResult{Revocation: r.status.Revocations[len(r.status.Revocations)-1]}
}

// resolveKey says which of the rotation's keys a revoke names ("" is the
// old key). It is only meaningful once the keys were inspected.
func (r *rotation) resolveKey(id string) (which string, err error) {
	if id == "" {
		id = r.oldKey.ID
	}
	switch {
	case id == "":
		return "", errors.New("the user had no key before this rotation, so there is no old key to revoke; name the key with accessKeyId")
	case slices.Contains(r.retired, id) || (id == r.oldKey.ID && !r.oldKey.exists()):
		return "retired", nil
	case id == r.oldKey.ID:
		return "old", nil
	case id == r.newKey.ID:
		return "new", nil
	case !r.newKey.exists():
		return "", nil // the new key does not exist yet: decide once it does
	}
	return "", fmt.Errorf("%s is not a key of this rotation (old key %s, new key %s)", id, orDefault(r.oldKey.ID, "none"), orDefault(r.newKey.ID, "none"))
}

// resolveRevocations decides, for each pending revocation, which key it
// means, once the keys are known. Pure state: no activities.
func (r *rotation) resolveRevocations(ctx workflow.Context) {
	if !r.done.inspected {
		return
	}
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.State != RevocationPending {
			continue
		}
		which, err := r.resolveKey(rv.AccessKeyID)
		switch {
		case err != nil:
			rv.State, rv.Error = RevocationRejected, err.Error()
			r.notice(ctx, "rejected a revoke: "+rv.Error)
		case which == "retired":
			if rv.AccessKeyID == "" {
				rv.AccessKeyID = r.oldKey.ID
			}
			rv.Which, rv.State = "old", RevocationDone
			r.event(ctx, "revoke of "+rv.AccessKeyID+": it is already deleted")
			r.notifyRevoked(*rv)
		case which == "":
			// wait for the new key
		default:
			rv.Which, rv.State = which, RevocationAccepted
			if rv.AccessKeyID == "" {
				rv.AccessKeyID = r.oldKey.ID
			}
		}
	}
}

// rejectUnresolved ends the revocations that can no longer be resolved
// because the rotation ends before the keys they wait for exist.
func (r *rotation) rejectUnresolved(ctx workflow.Context, why string) {
	for i := range r.status.Revocations {
		if rv := &r.status.Revocations[i]; rv.State == RevocationPending {
			rv.State, rv.Error = RevocationRejected, why
			r.notice(ctx, "rejected a revoke: "+why)
		}
	}
}

// revocationsOf returns the revocations in force for the key.
func (r *rotation) revoked(keyID string, match func(Revocation) bool) bool {
	if keyID == "" {
		return false
	}
	for _, rv := range r.status.Revocations {
		if rv.AccessKeyID == keyID && match(rv) {
			return true
		}
	}
	return false
}

func (r *rotation) oldKeyRevoked() bool {
	return r.oldKey.exists() && r.revoked(r.oldKey.ID, Revocation.InForce)
}

func (r *rotation) newKeyRevoked() bool {
	return r.newKey.exists() && r.revoked(r.newKey.ID, Revocation.InForce)
}

// revokeNowDue returns a key revoked with mode now that is still active.
func (r *rotation) revokeNowDue() *trackedKey {
	for _, k := range []*trackedKey{&r.oldKey, &r.newKey} {
		if k.active() && r.revoked(k.ID, func(rv Revocation) bool { return rv.State == RevocationAccepted && rv.Mode == RevokeModeNow }) {
			return k
		}
	}
	return nil
}

// markRevocations records what became of the key's open revocations.
func (r *rotation) markRevocations(keyID, state, errMsg string) {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.AccessKeyID == keyID && (rv.State == RevocationAccepted || rv.State == RevocationDeactivated) {
			took := rv.State == RevocationAccepted && state != RevocationAccepted
			rv.State, rv.Error = state, errMsg
			if took {
				r.notifyRevoked(*rv)
			}
		}
	}
}

// --- signals -------------------------------------------------------------------

// onSignal runs handle for every signal of that name, with its raw payload.
// A payload that does not decode is reported in the status and otherwise
// ignored: a signal never crashes the workflow.
func (r *rotation) onSignal(ctx workflow.Context, name string, handle func(workflow.Context, json.RawMessage)) {
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// json.RawMessage accepts any JSON, so decoding into the real
			// type happens here, where a bad payload can be reported.
			var raw json.RawMessage
			if !ch.Receive(ctx, &raw) {
				return // cancelled
			}
			handle(ctx, raw)
		}
	})
}

// decodeOptional decodes a signal payload; no payload means the zero value.
func decodeOptional[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 || string(raw) == "null" {
		return v, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	// Decoding JSON is deterministic; workflowcheck only sees reflection
	// reaching the runtime's garbage collector.
	//workflowcheck:ignore
	err := dec.Decode(&v)
	if err != nil {
		// The payload itself is not echoed: it may hold a pasted secret.
		return v, fmt.Errorf("payload is not valid JSON for this signal: %v", truncateText(err.Error(), 120))
	}
	return v, nil
}

// --- the status' bounded lists -------------------------------------------------

func (r *rotation) notice(ctx workflow.Context, msg string) {
	r.status.Notices = appendRing(r.status.Notices, msg, maxNotices)
	r.event(ctx, msg)
	workflow.GetLogger(ctx).Warn(msg)
}

func (r *rotation) event(ctx workflow.Context, msg string) {
	if len(r.status.Timeline) >= maxTimeline {
		r.status.TimelineDropped++
	}
	r.status.Timeline = appendRing(r.status.Timeline, Event{At: workflow.Now(ctx), Phase: r.status.Phase, Message: msg}, maxTimeline)
}

// appendRing appends v and keeps the newest n elements.
func appendRing[T any](s []T, v T, n int) []T {
	s = append(s, v)
	if len(s) > n {
		s = append(s[:0:0], s[len(s)-n:]...)
	}
	return s
}

// truncateText cuts s to at most n bytes on a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func by(who string) string {
	if who == "" {
		return ""
	}
	return " from " + who
}

func modeSuffix(mode string) string {
	if mode == RevokeModeNow {
		return " (mode now)"
	}
	return ""
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}
