package contract

import (
	"go.temporal.io/sdk/temporal"

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

// RotationMemo carries the config's description of the rotation (the UI
// shows it; it is encrypted like every payload).
func RotationMemo(r model.Rotation) map[string]any {
	if r.Description == "" {
		return nil
	}
	return map[string]any{"description": r.Description}
}
