package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Recorded histories of real rotations (five targets, on a dev server;
// record one with TestRecordHistory in tests/) must replay against the
// current code: a change that breaks running rotations fails here and needs
// workflow.GetVersion. Keep every version's history.
func TestReplayRecordedRotations(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"v0: before search attributes", "testdata/rotate_access_key.v0.history.json"},
		{"v1: search attributes upserted", "testdata/rotate_access_key.v1.history.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(RotateAccessKey, workflow.RegisterOptions{Name: WorkflowName})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, tc.file))
		})
	}
}
