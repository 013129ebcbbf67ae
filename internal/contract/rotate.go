package contract

import "github.com/keyrotor/keyrotor/internal/model"

// RotateInput is the workflow's input: which user to rotate. Where the key
// goes (targets, secret names) and how the rotation is paced come from the
// worker's own configuration, never from here: whoever can start a workflow
// on the namespace cannot send a fresh key anywhere else.
type RotateInput struct {
	Account string `json:"account,omitempty"`
	User    string `json:"user,omitempty"`
	// Digest is model.Rotation.Digest of the starter's configuration; when
	// it differs from the worker's, the status says so (the worker's wins).
	Digest string `json:"digest,omitempty"`
	// Rotation is how earlier releases started a rotation. Only its Account
	// and User are read now.
	Rotation model.Rotation `json:"rotation,omitzero"`
}

// NewRotateInput is the input that starts a rotation of r.
func NewRotateInput(r model.Rotation) RotateInput {
	return RotateInput{Account: r.Account, User: r.User, Digest: r.Digest()}
}

// Names are the account and user to rotate, from either form of the input.
func (in RotateInput) Names() (account, user string) {
	if in.Account == "" && in.User == "" {
		return in.Rotation.Account, in.Rotation.User
	}
	return in.Account, in.User
}

// RotateResult is the final report of a rotation that ended without error
// (done, or rolled back on request).
type RotateResult struct {
	Status Status `json:"status"`
}
