package contract

// Names that clients and operators use.
const (
	WorkflowName = "RotateAccessKey"
	StatusQuery  = "status"
	// TypeRotationFailed is the type of the error a failed rotation ends with;
	// its details hold the final Status. A cancelled rotation ends with a
	// CanceledError whose details hold the final Status.
	TypeRotationFailed = "RotationFailed"
)
