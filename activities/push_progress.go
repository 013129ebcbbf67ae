package activities

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
)

// PushProgress is what a push attempt records in its heartbeat details
// after each step it completes, so that the next attempt resumes instead of
// starting over: a write confirmed for this access key is not sent again.
// It holds names and IDs only, never the secret nor anything sealed for it.
type PushProgress struct {
	Target string `json:"target"` // Target.String()
	KeyID  string `json:"keyId"`  // the access key being pushed
	Step   string `json:"step"`   // the last step completed, for people reading history
	// Written lists the secrets or variables the provider accepted for KeyID.
	Written []string `json:"written,omitempty"`
	// Versions are, for a provider that shows a version of each variable
	// instead of its value (HCP Terraform's version-id), the version the
	// provider answered each write in Written with: a later attempt trusts
	// that write only while the variable still has that version.
	Versions map[string]string `json:"versions,omitempty"`
	// PublicKeyID is the GitHub public key the writes were sealed for.
	PublicKeyID string `json:"publicKeyId,omitempty"`
	// WriteStart is GitHub's time before the first write: the read-back
	// looks for updated_at at or after it.
	WriteStart time.Time `json:"writeStart,omitzero"`
	// Repositories and RepositoryIDs are a GitHub organization target's
	// configured repositories and the IDs they resolved to.
	Repositories  []string `json:"repositories,omitempty"`
	RepositoryIDs []int64  `json:"repositoryIds,omitempty"`
	// EnvironmentUUID is a Bitbucket deployment target's environment, looked
	// up by name once per key: a retried attempt does not look it up again.
	EnvironmentUUID string `json:"environmentUuid,omitempty"`
	// VariableUUIDs are the Bitbucket variables' UUIDs by name, as last
	// listed or written: a retried attempt updates them without listing, and
	// the read-back compares them.
	VariableUUIDs map[string]string `json:"variableUuids,omitempty"`
	// RestartedAt is a Kubernetes target's restart time, set once per key
	// (the workloads' kubectl.kubernetes.io/restartedAt): a retried attempt
	// patches the same value again, which restarts nothing.
	RestartedAt time.Time `json:"restartedAt,omitzero"`
}

// resumeProgress returns the progress the previous attempt of this push
// recorded, or a fresh one when there is none or it was for another target
// or another key.
func resumeProgress(ctx context.Context, target, keyID string) *PushProgress {
	fresh := &PushProgress{Target: target, KeyID: keyID, Step: "start"}
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return fresh
	}
	var p PushProgress
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil || p.Target != target || p.KeyID != keyID {
		return fresh
	}
	return &p
}

// wrote reports whether name was already written for this key.
func (p *PushProgress) wrote(name string) bool {
	return slices.ContainsFunc(p.Written, func(w string) bool { return strings.EqualFold(w, name) })
}

// markWritten records that name holds the key now.
func (p *PushProgress) markWritten(name string) {
	if !p.wrote(name) {
		p.Written = append(p.Written, name)
	}
	p.Step = "wrote " + name
}

// restart forgets the writes: a read-back that does not show them means
// someone (or something) changed the target since, so write again.
func (p *PushProgress) restart(step string) {
	*p = PushProgress{Target: p.Target, KeyID: p.KeyID, Step: step}
}
