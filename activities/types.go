package activities

import (
	"fmt"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The Type* constants are the type names of the application errors the
// activities return (see errors.go for the three kinds). The workflow, the
// report and operators' alerts read them; keep them stable.
const (
	TypeValidation     = "Validation"     // bad input: retrying cannot help
	TypeNoSuchEntity   = "NoSuchEntity"   // the IAM user or key does not exist
	TypeTwoActiveKeys  = "TwoActiveKeys"  // the user already has two active keys: nothing was touched
	TypeKeyLimit       = "KeyLimit"       // the user has two keys and neither can be removed safely
	TypeKeyNotAccepted = "KeyNotAccepted" // STS kept refusing the new key
	TypeWrongIdentity  = "WrongIdentity"  // the new key signs as someone else
	TypeUnauthorized   = "Unauthorized"   // 401 / 403 without rate limit: the token cannot do this
	TypeNotFound       = "NotFound"       // 404: the repository, environment, organization, project or group does not exist
	TypeUnprocessable  = "Unprocessable"  // 422 / 400: the provider refused the request
	TypeUnmaskable     = "Unmaskable"     // GitLab cannot mask this value
	TypeRateLimited    = "RateLimited"    // retryable, with NextRetryDelay from Retry-After
	TypeNotConfirmed   = "NotConfirmed"   // the read-back did not show the new value (retryable)
	TypeNotConfigured  = "NotConfigured"  // the user or target is not in this worker's configuration
	TypeForeignKey     = "ForeignKey"     // the user holds a key this rotation cannot prove it created: nothing was deleted
	TypeStalePublicKey = "StalePublicKey" // GitHub rotated a scope's public key during the push (retryable: the next attempt fetches it)
)

// Rotations is the worker's own configuration: the only source of which
// users may be rotated and where their keys go. Activities never take a
// target or secret name from their input on trust: whoever can start a
// workflow on the namespace must not be able to send a fresh key anywhere
// else. *config.Config implements it.
type Rotations interface {
	// Rotation returns the configured rotation of user in account, or an
	// error that names the file, the account and the user.
	Rotation(account, user string) (model.Rotation, error)
}

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
// about. Another key may be a stray from an attempt whose result was lost,
// but only if it was created at or after NotBefore and never used; any other
// unknown key belongs to someone else and stops the rotation.
type CreateAccessKeyInput struct {
	Account     string   `json:"account"`
	User        string   `json:"user"`
	KnownKeyIDs []string `json:"knownKeyIds"`
	// NotBefore is when the rotation first scheduled CreateAccessKey for
	// this key (zero in histories from before it was recorded: then no
	// unknown key is deleted).
	NotBefore time.Time `json:"notBefore,omitzero"`
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
	// Gone: the key no longer exists, so nothing can use it.
	Gone bool `json:"gone,omitempty"`
}

// KeyChangeResult reports a status change or deletion. AlreadyDone is true
// when the key was already in the wanted state (or already gone).
type KeyChangeResult struct {
	AlreadyDone bool `json:"alreadyDone"`
}

// --- GitHub and GitLab -----------------------------------------------------

// PushInput is one target to write the key into. The activity looks the
// target and the secret names up in the worker's configuration (Rotations)
// by Account, User and Target.String(), and refuses a target that is not
// configured for that user.
type PushInput struct {
	Account string                `json:"account"`
	User    string                `json:"user"`
	Target  model.Target          `json:"target"`
	Key     model.SealedAccessKey `json:"key"`
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
		return model.NewAccessKey{}, nonRetryable(TypeValidation, subject+": "+err.Error(), nil)
	}
	return model.NewAccessKey{ID: k.ID, Secret: secret}, nil
}

// resolve finds the configured target the input names, with the secret
// names the configuration gives it, and opens the key. A user or target the
// worker's configuration does not list is refused before anything is sent.
func (in PushInput) resolve(rs Rotations, s Sealer) (pushRequest, error) {
	t, names, err := configuredTarget(rs, in.Account, in.User, in.Target)
	if err != nil {
		return pushRequest{}, err
	}
	key, err := openKey(s, in.Key, t.String())
	return pushRequest{Target: t, SecretNames: names, Key: key}, err
}

// configuredRotation returns the worker's configured rotation of the user.
func configuredRotation(rs Rotations, account, user string) (model.Rotation, error) {
	if account == "" || user == "" {
		return model.Rotation{}, nonRetryable(TypeNotConfigured, "the input names no account or no user", nil)
	}
	r, err := rs.Rotation(account, user)
	if err != nil {
		return model.Rotation{}, nonRetryable(TypeNotConfigured, "this worker's configuration does not rotate it: "+err.Error(), nil)
	}
	return r, nil
}

// configuredTarget returns the configured target that has the same name as
// the requested one, and the user's secret names.
func configuredTarget(rs Rotations, account, user string, requested model.Target) (model.Target, model.SecretNames, error) {
	r, err := configuredRotation(rs, account, user)
	if err != nil {
		return model.Target{}, model.SecretNames{}, err
	}
	want := requested.String()
	for _, t := range r.Targets {
		if t.String() == want {
			return t, r.SecretNames, nil
		}
	}
	return model.Target{}, model.SecretNames{}, nonRetryable(TypeNotConfigured, fmt.Sprintf(
		"target %q is not configured for IAM user %q in account %q on this worker; nothing was pushed", want, user, account), nil)
}

// PushResult confirms the target holds the new key.
type PushResult struct {
	Target      string    `json:"target"`      // Target.String()
	ConfirmedAt time.Time `json:"confirmedAt"` // when the read-back confirmed it
	Calls       int       `json:"calls"`       // API calls made by the successful attempt
	// ConfirmedBy says how: ConfirmedReadBack, or ConfirmedMetadata (the
	// provider never shows the value again) with what was compared.
	ConfirmedBy string `json:"confirmedBy,omitempty"`
}
