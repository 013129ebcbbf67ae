package activities

import (
	"slices"

	"github.com/keyrotor/keyrotor/internal/model"
)

// TargetPlan is what a rotation would write to one target and how it would
// confirm the write: a dry run's view of a push. It holds names, never a
// value.
type TargetPlan struct {
	Target string           `json:"target"` // Target.String()
	Kind   model.TargetKind `json:"kind"`
	// Names are the two names the push writes, as the kind spells them:
	// secret or variable names, an AWS secret's JSON fields, a Kubernetes
	// Secret's data keys.
	Names model.SecretNames `json:"names"`
	// Where says what the names are in the target, e.g. "Actions secrets".
	Where string `json:"where"`
	// Detail adds what else the write sets (scope, visibility, category),
	// "" when nothing.
	Detail string `json:"detail,omitempty"`
	// Restarts are the workloads restarted, and waited for, after the
	// write (kubernetes-secret).
	Restarts []string `json:"restarts,omitempty"`
	// ConfirmedBy is how the push would confirm the write, as
	// PushResult.ConfirmedBy would say it (ConfirmedReadBack,
	// ConfirmedMetadata or ConfirmedMasked, with what is compared).
	ConfirmedBy string `json:"confirmedBy"`
}

// planners are every kind this package implements, for Plan: plan uses
// nothing of its receiver, so a nil one of each type is enough.
var planners = []TargetKind{
	(*GitHub)(nil), (*GitLab)(nil), (*AWSSecrets)(nil), (*Kubernetes)(nil),
	(*Terraform)(nil), (*CircleCI)(nil), (*Bitbucket)(nil), (*Travis)(nil),
}

// Plan says what a push of the rotation's key to t would write, with the
// rotation's secret names (the defaults where empty), and how the write
// would be confirmed. It calls nobody: whether the worker may write t is
// CheckTargets' question.
func Plan(t model.Target, names model.SecretNames) TargetPlan {
	names = withDefaultNames(names)
	p := TargetPlan{Names: names, Where: "unknown kind: nothing can be pushed"}
	for _, k := range planners {
		if slices.Contains(k.kinds(), t.Kind) {
			p = k.plan(t, names)
			break
		}
	}
	p.Target, p.Kind = t.String(), t.Kind
	return p
}
