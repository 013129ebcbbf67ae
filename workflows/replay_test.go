package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The recorded history of a real rotation (five targets, on a dev server;
// re-record with TestRecordHistory in tests/) must replay against the
// current code: a change that breaks running rotations fails here and needs
// workflow.GetVersion.
func TestReplayRecordedRotation(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(RotateAccessKey, workflow.RegisterOptions{Name: WorkflowName})
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/rotate_access_key.history.json"))
}
