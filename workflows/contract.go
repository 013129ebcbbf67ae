package workflows

import "github.com/keyrotor/keyrotor/internal/contract"

// The workflow speaks the contract's language (internal/contract); these
// names keep the runbook's code short.
type (
	RotateInput     = contract.RotateInput
	RotateResult    = contract.RotateResult
	Status          = contract.Status
	Phase           = contract.Phase
	TargetState     = contract.TargetState
	TargetStatus    = contract.TargetStatus
	Event           = contract.Event
	Revocation      = contract.Revocation
	RevokeInput     = contract.RevokeInput
	RevokeResult    = contract.RevokeResult
	ProceedInput    = contract.ProceedInput
	ProceedResult   = contract.ProceedResult
	ScheduledInput  = contract.ScheduledInput
	ScheduledResult = contract.ScheduledResult
)

const (
	WorkflowName          = contract.WorkflowName
	ScheduledWorkflowName = contract.ScheduledWorkflowName
	StatusQuery           = contract.StatusQuery
	TypeRotationFailed    = contract.TypeRotationFailed

	RevokeSignal   = contract.RevokeSignal
	ProceedSignal  = contract.ProceedSignal
	RetrySignal    = contract.RetrySignal
	RollbackSignal = contract.RollbackSignal
	RevokeModeNow  = contract.RevokeModeNow

	PhaseInspecting      = contract.PhaseInspecting
	PhaseCreating        = contract.PhaseCreating
	PhaseVerifying       = contract.PhaseVerifying
	PhasePushing         = contract.PhasePushing
	PhaseGrace           = contract.PhaseGrace
	PhaseCheckingIdle    = contract.PhaseCheckingIdle
	PhaseHolding         = contract.PhaseHolding
	PhaseDeactivating    = contract.PhaseDeactivating
	PhaseWaitingToDelete = contract.PhaseWaitingToDelete
	PhaseDeleting        = contract.PhaseDeleting
	PhaseRollingBack     = contract.PhaseRollingBack
	PhaseRevoking        = contract.PhaseRevoking
	PhaseCancelling      = contract.PhaseCancelling
	PhaseRolledBack      = contract.PhaseRolledBack
	PhaseDone            = contract.PhaseDone
	PhaseFailed          = contract.PhaseFailed
	PhaseCancelled       = contract.PhaseCancelled

	TargetPending   = contract.TargetPending
	TargetPushing   = contract.TargetPushing
	TargetConfirmed = contract.TargetConfirmed
	TargetFailed    = contract.TargetFailed

	RevocationPending     = contract.RevocationPending
	RevocationAccepted    = contract.RevocationAccepted
	RevocationDeactivated = contract.RevocationDeactivated
	RevocationDone        = contract.RevocationDone
	RevocationRejected    = contract.RevocationRejected
	RevocationFailed      = contract.RevocationFailed

	SkippedAlreadyRunning = contract.SkippedAlreadyRunning

	maxTimeline    = contract.MaxTimeline
	maxNotices     = contract.MaxNotices
	maxRevocations = contract.MaxRevocations
	maxOperatorLen = contract.MaxOperatorLen
)

// Notifications (internal/contract/notify.go).
type (
	Notification = contract.Notification
	NotifyInput  = contract.NotifyInput
	NotifyResult = contract.NotifyResult
)

const (
	NotifyWorkflowName = contract.NotifyWorkflowName
	TypeNotifyFailed   = contract.TypeNotifyFailed
)
