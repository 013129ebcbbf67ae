package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Search attributes that let the Temporal UI filter rotations, e.g.
// `KeyrotorPhase = "holding"` or `KeyrotorAccount = "prod"`. They hold no
// secrets, and stay readable when payloads are encrypted.
var (
	SearchUser    = temporal.NewSearchAttributeKeyKeyword("KeyrotorUser")
	SearchAccount = temporal.NewSearchAttributeKeyKeyword("KeyrotorAccount")
	SearchPhase   = temporal.NewSearchAttributeKeyKeyword("KeyrotorPhase")
)

// SearchAttributeNames are the attributes the worker registers.
var SearchAttributeNames = []string{SearchUser.GetName(), SearchAccount.GetName(), SearchPhase.GetName()}

// InitialSearchAttributes are set when a rotation starts.
func InitialSearchAttributes(r model.Rotation) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SearchUser.ValueSet(r.User),
		SearchAccount.ValueSet(r.Account),
		SearchPhase.ValueSet(string(PhaseInspecting)),
	)
}

// searchAttributesVersion gates the upserts, which histories recorded
// before them do not have.
const (
	searchAttributesChange  = "search-attributes"
	searchAttributesVersion = workflow.Version(1)
)

// listedPhases are the phases written to KeyrotorPhase: the ones a rotation
// can sit in for a while, and the endings. The quick steps in between are
// left out so they do not each add a history event.
var listedPhases = map[Phase]bool{
	PhasePushing: true, PhaseGrace: true, PhaseCheckingIdle: true, PhaseHolding: true,
	PhaseWaitingToDelete: true, PhaseDone: true, PhaseFailed: true, PhaseRolledBack: true, PhaseCancelled: true,
}

// publishPhase upserts KeyrotorPhase when it changes to a listed phase.
func (r *rotation) publishPhase(ctx workflow.Context, p Phase) {
	if !listedPhases[p] || r.publishedPhase == p {
		return
	}
	r.publishedPhase = p
	if err := workflow.UpsertTypedSearchAttributes(ctx, SearchUser.ValueSet(r.user), SearchAccount.ValueSet(r.account), SearchPhase.ValueSet(string(p))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
}

// RotationMemo carries the config's description of the rotation (the UI
// shows it; it is encrypted like every payload).
func RotationMemo(r model.Rotation) map[string]any {
	if r.Description == "" {
		return nil
	}
	return map[string]any{"description": r.Description}
}
