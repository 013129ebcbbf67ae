package contract

import "time"

// Operator requests. Each exists twice under the same name:
//   - as a workflow Update (`starter`, `temporal workflow update execute`):
//     a validator accepts or rejects it, with the reason, before anything
//     happens, and the caller gets the answer;
//   - as a signal (`temporal workflow signal`, `tctl workflow signal`, the
//     Web UI's "Send a Signal" form): the same checks run, and a rejection is
//     reported in the status' notices.
//
// The workflow's handlers only record a request; its runbook acts on it.
const (
	// RevokeSignal revokes a key: the old one by default, or the one named
	// in the payload (RevokeInput).
	RevokeSignal = "revoke"
	// ProceedSignal ends the current wait (grace, idle re-check, delete
	// delay) or hold.
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

// RevokeInput is the payload of the revoke signal and update. Every field
// is optional.
type RevokeInput struct {
	AccessKeyID string `json:"accessKeyId,omitempty"` // default: the old key
	Reason      string `json:"reason,omitempty"`
	Mode        string `json:"mode,omitempty"`        // "" (after the new key is confirmed) or "now"
	RequestedBy string `json:"requestedBy,omitempty"` // who asked; the starter fills it in
}

// RevokeResult answers the revoke update: the revocation as recorded.
type RevokeResult struct {
	Revocation Revocation `json:"revocation"`
}

// ProceedInput is the payload of the proceed, retry and rollback signals
// and updates (optional).
type ProceedInput struct {
	Reason      string `json:"reason,omitempty"`
	RequestedBy string `json:"requestedBy,omitempty"`
}

// ProceedResult answers the proceed, retry and rollback updates.
type ProceedResult struct {
	Phase   Phase  `json:"phase"`   // the phase the request was accepted in
	Message string `json:"message"` // what will happen
}

// Revocation states.
const (
	RevocationPending     = "pending"     // waiting until the keys are known
	RevocationAccepted    = "accepted"    // will be carried out
	RevocationDeactivated = "deactivated" // the key is off (mode now, or the rotation ended before deleting it)
	RevocationDone        = "done"        // the key is deleted
	RevocationRejected    = "rejected"    // not carried out; see Error
	RevocationFailed      = "failed"      // IAM refused to deactivate the key; see Error
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

// Open reports whether the revocation still has work to do.
func (rv Revocation) Open() bool {
	return rv.State == RevocationPending || rv.State == RevocationAccepted
}

// InForce reports whether the revocation applies to its key.
func (rv Revocation) InForce() bool {
	return rv.State == RevocationAccepted || rv.State == RevocationDeactivated
}
