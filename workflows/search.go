package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/contract"
)

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
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchUser.ValueSet(r.user), contract.SearchAccount.ValueSet(r.account), contract.SearchPhase.ValueSet(string(p))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
}
