package workflows

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Signal names. Operators send them with `temporal workflow signal`, `tctl
// workflow signal` or the Web UI's "Send a Signal" form.
const (
	// RevokeSignal revokes a key at once: the old one by default, or the
	// one named in the payload (RevokeInput).
	RevokeSignal = "revoke"
	// ProceedSignal skips the current wait (grace, idle re-check, delete
	// delay) or ends a hold.
	ProceedSignal = "proceed"
	// RetrySignal re-pushes the failed targets while the rotation holds for them.
	RetrySignal = "retry"
	// RollbackSignal re-activates the old key while it is only deactivated,
	// and ends the rotation with both keys active.
	RollbackSignal = "rollback"
)

// RevokeModeNow deactivates the revoked key before anything else, accepting
// that pipelines fail until the new key lands.
const RevokeModeNow = "now"

// RevokeInput is the payload of the revoke signal. Every field is optional.
type RevokeInput struct {
	AccessKeyID string `json:"accessKeyId,omitempty"` // default: the old key
	Reason      string `json:"reason,omitempty"`
	Mode        string `json:"mode,omitempty"`        // "" (after the new key is confirmed) or "now"
	RequestedBy string `json:"requestedBy,omitempty"` // who asked; the starter fills it in
}

// ProceedInput is the payload of the proceed, retry and rollback signals (optional).
type ProceedInput struct {
	Reason      string `json:"reason,omitempty"`
	RequestedBy string `json:"requestedBy,omitempty"`
}

// Revocation states.
const (
	RevocationPending     = "pending"     // waiting until the keys are known
	RevocationAccepted    = "accepted"    // will be carried out
	RevocationDeactivated = "deactivated" // mode now: the key is already off
	RevocationDone        = "done"        // the key is deleted
	RevocationRejected    = "rejected"    // not carried out; see Error
)

// Revocation is one revoke request as the rotation recorded it.
type Revocation struct {
	AccessKeyID string    `json:"accessKeyId,omitempty"`
	Which       string    `json:"which,omitempty"` // "old" or "new" once resolved
	Reason      string    `json:"reason,omitempty"`
	Mode        string    `json:"mode,omitempty"`
	RequestedBy string    `json:"requestedBy,omitempty"`
	ReceivedAt  time.Time `json:"receivedAt"`
	State       string    `json:"state"`
	Error       string    `json:"error,omitempty"`
}

var accessKeyIDPattern = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)

// registerSignals installs the signal receivers. Each only records the
// request in the rotation's state; the runbook in RotateAccessKey (and the
// revoker, for mode now) acts on it. A payload that does not decode is
// reported in the status and otherwise ignored: a signal never crashes the
// workflow.
func (r *rotation) registerSignals(ctx workflow.Context) {
	r.onSignal(ctx, RevokeSignal, r.receiveRevoke)
	r.onSignal(ctx, ProceedSignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		if err != nil {
			r.notice(ctx, "ignored a proceed signal: "+err.Error())
			return
		}
		r.proceed = true
		r.event(ctx, "proceed signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
	})
	r.onSignal(ctx, RetrySignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		switch {
		case err != nil:
			r.notice(ctx, "ignored a retry signal: "+err.Error())
		case !r.holdingForTargets:
			r.notice(ctx, "ignored a retry signal: the rotation is not holding for failed targets")
		default:
			r.retry = true
			r.event(ctx, "retry signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
		}
	})
	r.onSignal(ctx, RollbackSignal, func(ctx workflow.Context, raw json.RawMessage) {
		in, err := decodeOptional[ProceedInput](raw)
		switch {
		case err != nil:
			r.notice(ctx, "ignored a rollback signal: "+err.Error())
		case r.status.Phase != PhaseWaitingToDelete:
			r.notice(ctx, fmt.Sprintf("ignored a rollback signal: the old key can only be re-activated while it is deactivated and not yet deleted (phase is %s)", r.status.Phase))
		default:
			r.rollback = true
			r.event(ctx, "rollback signal received"+by(in.RequestedBy)+reasonSuffix(in.Reason))
		}
	})
}

// onSignal runs handle for every signal of that name, with its raw payload.
func (r *rotation) onSignal(ctx workflow.Context, name string, handle func(workflow.Context, json.RawMessage)) {
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// json.RawMessage accepts any JSON, so decoding into the real
			// type happens here, where a bad payload can be reported.
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			handle(ctx, raw)
		}
	})
}

func (r *rotation) receiveRevoke(ctx workflow.Context, raw json.RawMessage) {
	in, err := decodeOptional[RevokeInput](raw)
	rv := Revocation{ReceivedAt: workflow.Now(ctx), State: RevocationPending}
	if err == nil {
		rv.AccessKeyID, rv.Reason, rv.Mode, rv.RequestedBy = in.AccessKeyID, in.Reason, in.Mode, in.RequestedBy
		err = validateRevoke(in)
	}
	if err != nil {
		rv.State, rv.Error = RevocationRejected, err.Error()
		r.status.Revocations = append(r.status.Revocations, rv)
		r.notice(ctx, "rejected a revoke signal: "+err.Error())
		return
	}
	r.status.Revocations = append(r.status.Revocations, rv)
	r.event(ctx, "revoke signal received for "+orDefault(rv.AccessKeyID, "the old key")+modeSuffix(rv.Mode)+by(rv.RequestedBy)+reasonSuffix(rv.Reason))
	r.resolveRevocations(ctx)
}

func validateRevoke(in RevokeInput) error {
	if in.Mode != "" && in.Mode != RevokeModeNow {
		return fmt.Errorf("mode %q: use \"now\" or leave it out", in.Mode)
	}
	if in.AccessKeyID != "" && !accessKeyIDPattern.MatchString(in.AccessKeyID) {
		// The value is not echoed: a malformed "key ID" may be a pasted secret.
		return fmt.Errorf("accessKeyId is not an access key ID (AKIA followed by 16 capital letters or digits)")
	}
	return nil
}

// resolveRevocations decides, for each pending revocation, which key it
// means, once the keys are known. Pure state: no activities.
func (r *rotation) resolveRevocations(ctx workflow.Context) {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.State != RevocationPending || !r.inspected {
			continue
		}
		id := rv.AccessKeyID
		if id == "" {
			id = r.status.OldKeyID // the key this rotation retires, even once it is gone
		}
		switch {
		case id != "" && id == r.status.OldKeyID && r.oldKeyID == "":
			rv.AccessKeyID, rv.Which, rv.State = id, "old", RevocationDone
			r.event(ctx, "revoke of "+id+": it is already deleted")
			continue
		case id == "":
			rv.State, rv.Error = RevocationRejected, "the user had no key before this rotation, so there is no old key to revoke; name the key with accessKeyId"
		case id == r.oldKeyID:
			rv.AccessKeyID, rv.Which, rv.State = id, "old", RevocationAccepted
		case id == r.newKey.ID:
			rv.AccessKeyID, rv.Which, rv.State = id, "new", RevocationAccepted
		case r.newKey.ID == "" && r.status.Phase != PhaseFailed:
			continue // the new key does not exist yet: decide once it does
		default:
			rv.State, rv.Error = RevocationRejected, fmt.Sprintf("%s is not a key of this rotation (old key %s, new key %s)", id, orDefault(r.oldKeyID, "none"), orDefault(r.newKey.ID, "none"))
		}
		if rv.State == RevocationRejected {
			r.notice(ctx, "rejected a revoke signal: "+rv.Error)
		}
	}
}

// revoked reports whether an accepted revocation targets the key.
func (r *rotation) revoked(which string) bool {
	return r.revocation(which, func(rv *Revocation) bool {
		return rv.State == RevocationAccepted || rv.State == RevocationDeactivated
	}) != nil
}

func (r *rotation) revocation(which string, match func(*Revocation) bool) *Revocation {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.Which == which && match(rv) {
			return rv
		}
	}
	return nil
}

// markRevocations records that the key's revocations were carried out.
func (r *rotation) markRevocations(keyID, state string) {
	for i := range r.status.Revocations {
		rv := &r.status.Revocations[i]
		if rv.AccessKeyID == keyID && (rv.State == RevocationAccepted || rv.State == RevocationDeactivated) {
			rv.State = state
		}
	}
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
		return v, fmt.Errorf("payload is not valid JSON for this signal: %v", err)
	}
	return v, nil
}

func (r *rotation) notice(ctx workflow.Context, msg string) {
	r.status.Notices = append(r.status.Notices, msg)
	r.event(ctx, msg)
	workflow.GetLogger(ctx).Warn(msg)
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
