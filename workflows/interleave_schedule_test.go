package workflows

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// iwSchedule is one random rotation: the user's starting keys, the
// configured targets and policy, the faults of the outside world and what
// operators do when. Everything in it follows from the seed.
type iwSchedule struct {
	Seed     int64
	Rotation model.Rotation
	Keys     []string      // statuses of the user's keys before the rotation, oldest first
	Stubborn time.Duration // an outside user of the original key keeps at it this long (0: none)
	Faults   iwFaults
	Actions  []iwAction
}

// Operator action kinds.
const (
	iwRevoke   = "revoke"
	iwProceed  = "proceed"
	iwRetry    = "retry"
	iwRollback = "rollback"
	iwCancel   = "cancel"
	iwGarbage  = "garbage" // a malformed payload on one of the signal/update names
)

// Which key a revoke names.
const (
	iwRevokeDefault   = "default"    // no accessKeyId: the old key
	iwRevokeOldID     = "old-id"     // the old key, by ID
	iwRevokeNewID     = "new-id"     // the new key, by ID (as known from status at that moment)
	iwRevokeUnknownID = "unknown-id" // a well-formed ID of no key of this user
	iwRevokeMalformed = "malformed"  // not an access key ID at all
)

// iwAction is one operator action at a point of workflow time.
type iwAction struct {
	At        time.Duration
	Kind      string
	ViaUpdate bool   // send as an update (falls back to a signal when the workflow has no update handlers)
	Revoke    string // iwRevoke…: which key
	Mode      string // "" or RevokeModeNow
	Name      string // iwGarbage: the signal/update name
	Payload   any    // iwGarbage: what is sent
	Repair    bool   // iwRetry: the operator fixed the broken target first
}

func (a iwAction) String() string {
	via := "signal"
	if a.ViaUpdate {
		via = "update"
	}
	switch a.Kind {
	case iwRevoke:
		return fmt.Sprintf("+%s %s revoke %s mode=%q", a.At, via, a.Revoke, a.Mode)
	case iwGarbage:
		return fmt.Sprintf("+%s %s %s with garbage %#v", a.At, via, a.Name, a.Payload)
	case iwRetry:
		return fmt.Sprintf("+%s %s retry (repaired=%v)", a.At, via, a.Repair)
	case iwCancel:
		return fmt.Sprintf("+%s cancel", a.At)
	}
	return fmt.Sprintf("+%s %s %s", a.At, via, a.Kind)
}

var iwTargetPool = []model.Target{
	{Kind: model.GitHubRepository, Repository: "acme/api"},
	{Kind: model.GitHubRepository, Repository: "acme/web"},
	{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"},
	{Kind: model.GitHubOrganization, Organization: "acme", Visibility: model.VisibilitySelected, Repositories: []string{"api", "web"}},
	{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true},
	{Kind: model.GitLabProject, Project: "acme/infra"},
	{Kind: model.GitLabGroup, Group: "acme", EnvironmentScope: "*"},
}

var iwIAMOps = []string{"InspectKeys", "CreateAccessKey", "VerifyAccessKey", "GetAccessKeyLastUsed", "DeactivateAccessKey", "ActivateAccessKey", "DeleteAccessKey"}

// newIWSchedule draws the schedule of a seed.
func newIWSchedule(seed int64) iwSchedule {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6b6579726f746f72))
	s := iwSchedule{Seed: seed}
	s.Rotation = iwRotation(rng)
	s.Keys = iwPick(rng, [][]string{
		{model.KeyActive}, {model.KeyActive}, {model.KeyActive}, {model.KeyActive}, {model.KeyActive}, {model.KeyActive}, {model.KeyActive},
		{}, {}, // a user without a key gets one
		{model.KeyInactive, model.KeyActive}, // a leftover from an old rotation
		{model.KeyActive, model.KeyInactive},
		{model.KeyInactive},
	})
	if rng.Float64() < 0.15 {
		s.Stubborn = time.Duration(1+rng.IntN(60)) * time.Hour
	}
	s.Faults = iwDrawFaults(rng, s.Rotation)
	for range iwPick(rng, []int{0, 1, 1, 2, 2, 3, 4, 6}) {
		s.Actions = append(s.Actions, iwDrawAction(rng))
	}
	return s
}

func iwRotation(rng *rand.Rand) model.Rotation {
	n := 1 + rng.IntN(5)
	var targets []model.Target
	for _, i := range rng.Perm(len(iwTargetPool))[:n] {
		targets = append(targets, iwTargetPool[i])
	}
	p := model.DefaultPolicy
	p.GracePeriod = iwMinutes(rng, 0, 120)
	p.DeleteAfter = iwMinutes(rng, 0, 180)
	p.RequireOldKeyIdle = rng.IntN(2) == 0
	p.IdleChecks = 1 + rng.IntN(3)
	p.IdleRecheck = time.Duration(10+rng.IntN(51)) * time.Minute
	return model.Rotation{Account: "prod", User: "ci-deployer", SecretNames: model.DefaultSecretNames, Targets: targets, Policy: p}
}

// iwMinutes is a duration in [lo, hi] minutes, exactly lo one time in five.
func iwMinutes(rng *rand.Rand, lo, hi int) time.Duration {
	if rng.IntN(5) == 0 {
		return time.Duration(lo) * time.Minute
	}
	return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Minute
}

func iwDrawFaults(rng *rand.Rand, r model.Rotation) iwFaults {
	var f iwFaults
	if rng.IntN(4) > 0 { // one schedule in four runs in a healthy world
		f.Transient = rng.Float64() * 0.15
		f.Lost = rng.Float64() * 0.08
		f.Slow = rng.Float64() * 0.25
	}
	if rng.Float64() < 0.12 {
		f.BrokenTarget = r.Targets[rng.IntN(len(r.Targets))].String()
	}
	if rng.Float64() < 0.04 {
		f.IAMPermanent = iwPick(rng, iwIAMOps)
		f.IAMPermType = iwPick(rng, []string{activities.TypeNoSuchEntity, activities.TypeUnauthorized})
	}
	f.VerifyBroken = rng.Float64() < 0.02
	return f
}

func iwDrawAction(rng *rand.Rand) iwAction {
	a := iwAction{ViaUpdate: rng.IntN(2) == 0}
	// Most of a rotation's steps happen in its first minutes; its waits
	// last hours.
	if rng.Float64() < 0.45 {
		a.At = time.Duration(rng.IntN(5*60)) * time.Second
	} else {
		a.At = time.Duration(rng.IntN(8*60)) * time.Minute
	}
	switch x := rng.Float64(); {
	case x < 0.40:
		a.Kind = iwRevoke
		a.Revoke = iwPick(rng, []string{iwRevokeDefault, iwRevokeDefault, iwRevokeDefault, iwRevokeDefault,
			iwRevokeOldID, iwRevokeOldID, iwRevokeNewID, iwRevokeNewID, iwRevokeNewID, iwRevokeNewID, iwRevokeNewID, iwRevokeNewID,
			iwRevokeUnknownID, iwRevokeUnknownID, iwRevokeMalformed})
		if rng.Float64() < 0.3 {
			a.Mode = RevokeModeNow
		}
	case x < 0.60:
		a.Kind = iwProceed
	case x < 0.70:
		a.Kind = iwRetry
		a.Repair = rng.Float64() < 0.6
	case x < 0.80:
		a.Kind = iwRollback
	case x < 0.85:
		a.Kind = iwCancel
	default:
		a.Kind = iwGarbage
		a.Name = iwPick(rng, []string{RevokeSignal, ProceedSignal, RetrySignal, RollbackSignal})
		a.Payload = iwPick(rng, []any{
			"revoke it please", 42, []int{1, 2},
			map[string]any{"bogus": true},
			map[string]any{"accessKeyId": 7},
			map[string]any{"mode": "later"},
			map[string]any{"accessKeyId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		})
	}
	return a
}

func iwPick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// String describes the schedule for a reproduction.
func (s iwSchedule) String() string {
	var b strings.Builder
	p := s.Rotation.Policy
	fmt.Fprintf(&b, "seed %d: keys %v, %d targets", s.Seed, s.Keys, len(s.Rotation.Targets))
	for _, t := range s.Rotation.Targets {
		fmt.Fprintf(&b, " [%s]", t)
	}
	fmt.Fprintf(&b, "\n  policy: grace %s, deleteAfter %s, requireOldKeyIdle %v, idleChecks %d, idleRecheck %s; outside user of the old key for %s",
		p.GracePeriod, p.DeleteAfter, p.RequireOldKeyIdle, p.IdleChecks, p.IdleRecheck, s.Stubborn)
	f := s.Faults
	fmt.Fprintf(&b, "\n  faults: transient %.2f, lost %.2f, slow %.2f, broken target %q, IAM permanent %q (%s), verify broken %v",
		f.Transient, f.Lost, f.Slow, f.BrokenTarget, f.IAMPermanent, f.IAMPermType, f.VerifyBroken)
	for _, a := range s.Actions {
		fmt.Fprintf(&b, "\n  action: %s", a)
	}
	return b.String()
}
