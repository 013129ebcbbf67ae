package activities

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Error type names carried by non-retryable (and rate-limit) application
// errors. The workflow and the report read them; keep them stable.
const (
	ErrValidation     = "Validation"     // bad input: retrying cannot help
	ErrNoSuchEntity   = "NoSuchEntity"   // the IAM user or key does not exist
	ErrTwoActiveKeys  = "TwoActiveKeys"  // the user already has two active keys: nothing was touched
	ErrKeyLimit       = "KeyLimit"       // the user has two keys and neither can be removed safely
	ErrKeyNotAccepted = "KeyNotAccepted" // STS kept refusing the new key
	ErrWrongIdentity  = "WrongIdentity"  // the new key signs as someone else
	ErrUnauthorized   = "Unauthorized"   // 401 / 403 without rate limit: the token cannot do this
	ErrNotFound       = "NotFound"       // 404: the repository, environment, organization, project or group does not exist
	ErrUnprocessable  = "Unprocessable"  // 422 / 400: the provider refused the request
	ErrUnmaskable     = "Unmaskable"     // GitLab cannot mask this value
	ErrRateLimited    = "RateLimited"    // retryable, with NextRetryDelay from Retry-After
	ErrNotConfirmed   = "NotConfirmed"   // the read-back did not show the new value (retryable)
)

// --- IAM / STS -------------------------------------------------------------

// InspectKeysInput names the user whose keys are inspected.
type InspectKeysInput struct {
	Account string `json:"account"`
	User    string `json:"user"`
}

// InspectKeysResult is the user's key state after leftover inactive keys were deleted.
type InspectKeysResult struct {
	// ActiveKey is the key in use before the rotation (nil when the user has none).
	ActiveKey *model.AccessKey `json:"activeKey,omitempty"`
	// DeletedInactive lists leftover Inactive keys that were deleted to make room.
	DeletedInactive []string `json:"deletedInactive,omitempty"`
}

// CreateAccessKeyInput names the user and the keys the workflow already knows
// about; any other key found is a stray from an attempt whose result was lost.
type CreateAccessKeyInput struct {
	Account     string   `json:"account"`
	User        string   `json:"user"`
	KnownKeyIDs []string `json:"knownKeyIds"`
}

// CreateAccessKeyResult carries the new key, its secret sealed.
type CreateAccessKeyResult struct {
	Key          model.SealedAccessKey `json:"key"`
	CreatedAt    time.Time             `json:"createdAt"`
	DeletedStray []string              `json:"deletedStray,omitempty"`
}

// VerifyAccessKeyInput is the key to try, and whose it must be.
type VerifyAccessKeyInput struct {
	Account string                `json:"account"`
	User    string                `json:"user"`
	Key     model.SealedAccessKey `json:"key"`
}

// VerifyAccessKeyResult is who STS says the key belongs to.
type VerifyAccessKeyResult struct {
	ARN string `json:"arn"`
}

// KeyInput names one access key of a user.
type KeyInput struct {
	Account     string `json:"account"`
	User        string `json:"user"`
	AccessKeyID string `json:"accessKeyId"`
}

// KeyLastUsedResult says when the key was last used (nil: never).
type KeyLastUsedResult struct {
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	Service  string     `json:"service,omitempty"`
}

// KeyChangeResult reports a status change or deletion. AlreadyDone is true
// when the key was already in the wanted state (or already gone).
type KeyChangeResult struct {
	AlreadyDone bool `json:"alreadyDone"`
}

// --- GitHub and GitLab -----------------------------------------------------

// PushInput is one target to write the key into.
type PushInput struct {
	Target      model.Target          `json:"target"`
	SecretNames model.SecretNames     `json:"secretNames"`
	Key         model.SealedAccessKey `json:"key"`
}

// pushRequest is a PushInput with its secret opened, for the length of one
// activity attempt.
type pushRequest struct {
	Target      model.Target
	SecretNames model.SecretNames
	Key         model.NewAccessKey
}

// Sealer seals a new key's secret before it leaves the Create activity and
// opens it inside the activities that send it: the workflow, Temporal's
// history and whoever can decode payloads only ever see it sealed.
// *codec.Keyring implements it.
type Sealer interface {
	Seal(accessKeyID string, s model.Secret) (model.SealedSecret, error)
	Open(accessKeyID string, s model.SealedSecret) (model.Secret, error)
}

// openKey opens a sealed key. A key that does not open will not open on a
// retry either (wrong or missing worker key), so the error is final.
func openKey(s Sealer, k model.SealedAccessKey, subject string) (model.NewAccessKey, error) {
	secret, err := s.Open(k.ID, k.Secret)
	if err != nil {
		return model.NewAccessKey{}, temporal.NewNonRetryableApplicationError(subject+": "+err.Error(), ErrValidation, nil)
	}
	return model.NewAccessKey{ID: k.ID, Secret: secret}, nil
}

func (in PushInput) open(s Sealer) (pushRequest, error) {
	key, err := openKey(s, in.Key, in.Target.String())
	return pushRequest{Target: in.Target, SecretNames: in.SecretNames, Key: key}, err
}

// PushResult confirms the target holds the new key.
type PushResult struct {
	Target      string    `json:"target"`      // Target.String()
	ConfirmedAt time.Time `json:"confirmedAt"` // when the read-back confirmed it
	Calls       int       `json:"calls"`       // API calls made by the successful attempt
}
