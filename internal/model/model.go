// Package model holds the domain types shared by the workflow, the
// activities, the configuration and the binaries. It has no dependencies on
// SDKs so that workflow code can use it freely.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// TargetKind names the kind of place a key is pushed to.
type TargetKind string

// The target kinds keyrotor can push to.
const (
	GitHubRepository   TargetKind = "github-repository"   // repository Actions secrets
	GitHubEnvironment  TargetKind = "github-environment"  // environment Actions secrets
	GitHubOrganization TargetKind = "github-organization" // organization Actions secrets
	GitLabProject      TargetKind = "gitlab-project"      // project CI/CD variables
	GitLabGroup        TargetKind = "gitlab-group"        // group CI/CD variables
)

// Organization secret visibilities, as GitHub names them.
const (
	VisibilityAll      = "all"
	VisibilityPrivate  = "private"
	VisibilitySelected = "selected"
)

// Target is one place that must hold the new key. Only the fields of its Kind
// are set.
type Target struct {
	Kind TargetKind `json:"kind"`

	// GitHub
	Repository   string   `json:"repository,omitempty"`   // "owner/name" (repository and environment targets)
	Environment  string   `json:"environment,omitempty"`  // environment targets
	Organization string   `json:"organization,omitempty"` // organization targets
	Visibility   string   `json:"visibility,omitempty"`   // organization targets: all, private, selected
	Repositories []string `json:"repositories,omitempty"` // organization targets with visibility selected: repository names

	// GitLab
	Project          string `json:"project,omitempty"`          // project path ("group/name") or numeric ID
	Group            string `json:"group,omitempty"`            // group path or numeric ID
	EnvironmentScope string `json:"environmentScope,omitempty"` // "*" when empty
	Protected        bool   `json:"protected,omitempty"`
	Masked           bool   `json:"masked,omitempty"`

	// The other kinds keep their fields in their own struct (targets.go).
	AWSSecret  *AWSSecretTarget  `json:"awsSecret,omitempty"` // aws-secretsmanager, aws-ssm
	Kubernetes *KubernetesTarget `json:"kubernetes,omitempty"`
	Terraform  *TerraformTarget  `json:"terraform,omitempty"`
	CircleCI   *CircleCITarget   `json:"circleci,omitempty"`
	Bitbucket  *BitbucketTarget  `json:"bitbucket,omitempty"`
	Travis     *TravisTarget     `json:"travis,omitempty"`
}

// String names the target the way logs, errors and the UI show it, e.g.
// "github acme/api@production" or "gitlab group acme". It is unique within a
// rotation and used as the target's key in status output.
func (t Target) String() string {
	switch t.Kind {
	case GitHubRepository:
		return "github " + t.Repository
	case GitHubEnvironment:
		return "github " + t.Repository + "@" + t.Environment
	case GitHubOrganization:
		return "github org " + t.Organization
	case GitLabProject:
		return "gitlab " + t.Project + scopeSuffix(t.EnvironmentScope)
	case GitLabGroup:
		return "gitlab group " + t.Group + scopeSuffix(t.EnvironmentScope)
	}
	if name := t.extendedName(); name != "" {
		return name
	}
	return string(t.Kind)
}

func scopeSuffix(scope string) string {
	if scope == "" || scope == "*" {
		return ""
	}
	return "@" + scope
}

// SecretNames are the names under which the key is stored in each target.
type SecretNames struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// DefaultSecretNames are the names the AWS CLI and SDKs read from the environment.
var DefaultSecretNames = SecretNames{AccessKeyID: "AWS_ACCESS_KEY_ID", SecretAccessKey: "AWS_SECRET_ACCESS_KEY"}

// RotationPolicy says how a rotation is paced.
type RotationPolicy struct {
	Every             time.Duration `json:"every"`             // schedule period
	GracePeriod       time.Duration `json:"gracePeriod"`       // after every target confirmed, before deactivating the old key
	DeleteAfter       time.Duration `json:"deleteAfter"`       // how long the old key stays deactivated before deletion
	RequireOldKeyIdle bool          `json:"requireOldKeyIdle"` // hold while the old key is still being used
	IdleRecheck       time.Duration `json:"idleRecheck"`       // wait between idle checks
	IdleChecks        int           `json:"idleChecks"`        // how many failed idle checks before holding
	Cron              string        `json:"cron,omitempty"`    // 5-field cron expression; when set, the schedule uses it instead of Every
	Jitter            time.Duration `json:"jitter,omitempty"`  // random delay added to each scheduled start, so a fleet does not rotate at once
	// PushRetryFor is how long one target's push is retried (transient
	// errors and rate limits) before the target counts as failed. Outages
	// and rate-limit storms last minutes to hours, rotations days, and the
	// old key keeps every pipeline working meanwhile. Zero means the default.
	PushRetryFor time.Duration `json:"pushRetryFor,omitempty"`
}

// DefaultPushRetryFor is PushRetryFor when the configuration sets none.
const DefaultPushRetryFor = 6 * time.Hour

// PushRetryBudget is PushRetryFor, or its default when unset.
func (p RotationPolicy) PushRetryBudget() time.Duration {
	if p.PushRetryFor <= 0 {
		return DefaultPushRetryFor
	}
	return p.PushRetryFor
}

// DefaultPolicy is used where the configuration sets nothing.
var DefaultPolicy = RotationPolicy{
	Every:             720 * time.Hour,
	GracePeriod:       24 * time.Hour,
	DeleteAfter:       72 * time.Hour,
	RequireOldKeyIdle: true,
	IdleRecheck:       time.Hour,
	IdleChecks:        6,
	PushRetryFor:      DefaultPushRetryFor,
}

// Rotation is the resolved description of one user's rotation: everything
// the workflow needs, and never a provider token.
type Rotation struct {
	Account     string         `json:"account"`
	User        string         `json:"user"`
	Description string         `json:"description,omitempty"`
	SecretNames SecretNames    `json:"secretNames"`
	Targets     []Target       `json:"targets"`
	Policy      RotationPolicy `json:"policy"`
	// Notify are the channels told about the rotation (the file's notify
	// section, then the rotation's own), without their addresses.
	Notify []NotifyRoute `json:"notify,omitempty"`
}

// Digest fingerprints the rotation (targets, secret names, policy): the
// starter sends it with the workflow input so the worker can report when its
// own configuration, which always wins, differs from the starter's.
func (r Rotation) Digest() string {
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// WorkflowID is the deterministic ID of the user's rotation workflow: at most
// one runs per user.
func WorkflowID(account, user string) string {
	return "rotate/" + account + "/" + user
}

// WorkflowID of this rotation.
func (r Rotation) WorkflowID() string { return WorkflowID(r.Account, r.User) }

// Key statuses, as IAM names them.
const (
	KeyActive   = "Active"
	KeyInactive = "Inactive"
)

// AccessKey describes an IAM access key without its secret.
type AccessKey struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
}

// Secret is a secret value (an AWS secret access key, a token). Printing,
// logging or marshalling it shows a redaction marker; use Reveal where the
// value is really needed. To travel through Temporal it is sealed first
// (SealedSecret), so no form of it ever reaches a payload.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value. Call it only where the value is sent to its destination.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON redacts: a secret that reaches JSON by mistake (a log line, a
// status, a payload) is never written out.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

var (
	_ slog.LogValuer = Secret("")
	_ json.Marshaler = Secret("")
)

// NewAccessKey is a key with its secret, in the clear. It only lives inside
// an activity (and the emulators); between activities it travels as a
// SealedAccessKey.
type NewAccessKey struct {
	ID     string `json:"id"`
	Secret Secret `json:"secret"`
}

// SealedSecret is a secret encrypted by the worker (AES-256-GCM, bound to
// the access key ID) before it enters a Temporal payload: the workflow, its
// history and anyone who can decode payloads (the codec server, the Web UI)
// see only this. Only activities, which hold the keys, open it.
type SealedSecret struct {
	KeyID string `json:"keyId"` // which worker key sealed it
	Data  []byte `json:"data"`  // nonce and ciphertext
}

// SealedAccessKey is a new access key as it travels between activities.
type SealedAccessKey struct {
	ID     string       `json:"id"`
	Secret SealedSecret `json:"sealedSecret"`
}
