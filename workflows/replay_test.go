package workflows

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// recordedHistories are histories of real rotations (on a dev server, into
// the emulators; record them with TestRecordHistory in tests/, which also
// says how). They must replay against the current code: a change that
// breaks running rotations fails here and needs workflow.GetVersion. Keep
// every version's histories; a new generation is added next to them.
var recordedHistories = []struct{ name, file string }{
	// Recorded before the explicit-state code: they replay through
	// legacy_rotate.go.
	{"v0: before search attributes", "rotate_access_key.v0.history.json"},
	{"v1: search attributes upserted", "rotate_access_key.v1.history.json"},
	// The explicit-state code, one history per operator path.
	{"v2 plain: a complete rotation", "rotate_access_key.v2.plain.history.json"},
	{"v2 revoke-old: old key revoked in the grace period", "rotate_access_key.v2.revoke-old.history.json"},
	{"v2 revoke-now: old key revoked with mode now during the pushes", "rotate_access_key.v2.revoke-now.history.json"},
	{"v2 revoke-new: new key revoked in the grace period and replaced", "rotate_access_key.v2.revoke-new.history.json"},
	{"v2 revoke-start: revoke with no rotation running starts one", "rotate_access_key.v2.revoke-start.history.json"},
	{"v2 hold-retry: revoked old key and a failed target hold, retry ends it", "rotate_access_key.v2.hold-retry.history.json"},
	{"v2 notify: hold-retry with a webhook told of each event (Notify child workflows)", "rotate_access_key.v2.notify.history.json"},
	{"v2 rollback: rolled back while waiting to delete", "rotate_access_key.v2.rollback.history.json"},
	{"v2 cancel: cancelled in the grace period", "rotate_access_key.v2.cancel.history.json"},
	{"v2 scheduled-proceed: a schedule's child, proceeded through both waits", "rotate_access_key.v2.scheduled-proceed.history.json"},
	// PushToTarget for every kind, and notifications.
	{"v3 plain: a complete rotation", "rotate_access_key.v3.plain.history.json"},
	{"v3 revoke-old: old key revoked in the grace period", "rotate_access_key.v3.revoke-old.history.json"},
	{"v3 revoke-now: old key revoked with mode now during the pushes", "rotate_access_key.v3.revoke-now.history.json"},
	{"v3 revoke-new: new key revoked in the grace period and replaced", "rotate_access_key.v3.revoke-new.history.json"},
	{"v3 revoke-start: revoke with no rotation running starts one", "rotate_access_key.v3.revoke-start.history.json"},
	{"v3 hold-retry: revoked old key and a failed target hold, retry ends it", "rotate_access_key.v3.hold-retry.history.json"},
	{"v3 notify: hold-retry with a webhook told of each event", "rotate_access_key.v3.notify.history.json"},
	{"v3 rollback: rolled back while waiting to delete", "rotate_access_key.v3.rollback.history.json"},
	{"v3 cancel: cancelled in the grace period", "rotate_access_key.v3.cancel.history.json"},
	{"v3 scheduled-proceed: a schedule's child, proceeded through both waits", "rotate_access_key.v3.scheduled-proceed.history.json"},
	// The targets' read-only preflight before the first key.
	{"v4 plain: a complete rotation", "rotate_access_key.v4.plain.history.json"},
	{"v4 revoke-old: old key revoked in the grace period", "rotate_access_key.v4.revoke-old.history.json"},
	{"v4 revoke-now: old key revoked with mode now during the pushes", "rotate_access_key.v4.revoke-now.history.json"},
	{"v4 revoke-new: new key revoked in the grace period and replaced", "rotate_access_key.v4.revoke-new.history.json"},
	{"v4 revoke-start: revoke with no rotation running starts one", "rotate_access_key.v4.revoke-start.history.json"},
	{"v4 hold-retry: revoked old key and a failed target hold, retry ends it", "rotate_access_key.v4.hold-retry.history.json"},
	{"v4 notify: hold-retry with a webhook told of each event", "rotate_access_key.v4.notify.history.json"},
	{"v4 rollback: rolled back while waiting to delete", "rotate_access_key.v4.rollback.history.json"},
	{"v4 cancel: cancelled in the grace period", "rotate_access_key.v4.cancel.history.json"},
	{"v4 scheduled-proceed: a schedule's child, proceeded through both waits", "rotate_access_key.v4.scheduled-proceed.history.json"},
	// v5: one all-changes marker for every change before it; up to 8
	// pushes at once; a wait of zero leaves KeyrotorPhase alone.
	{"v5 plain: a complete rotation", "rotate_access_key.v5.plain.history.json"},
	{"v5 no-waits: a complete rotation with no grace period and no wait before the delete", "rotate_access_key.v5.no-waits.history.json"},
	{"v5 revoke-old: old key revoked in the grace period", "rotate_access_key.v5.revoke-old.history.json"},
	{"v5 revoke-now: old key revoked with mode now during the pushes", "rotate_access_key.v5.revoke-now.history.json"},
	{"v5 revoke-new: new key revoked in the grace period and replaced", "rotate_access_key.v5.revoke-new.history.json"},
	{"v5 revoke-start: revoke with no rotation running starts one", "rotate_access_key.v5.revoke-start.history.json"},
	{"v5 hold-retry: revoked old key and a failed target hold, retry ends it", "rotate_access_key.v5.hold-retry.history.json"},
	{"v5 notify: hold-retry with a webhook told of each event", "rotate_access_key.v5.notify.history.json"},
	{"v5 rollback: rolled back while waiting to delete", "rotate_access_key.v5.rollback.history.json"},
	{"v5 cancel: cancelled in the grace period", "rotate_access_key.v5.cancel.history.json"},
	{"v5 scheduled-proceed: a schedule's child, proceeded through both waits", "rotate_access_key.v5.scheduled-proceed.history.json"},
	{"v5 batches: 120 targets in batches, the new key revoked while the first pushes", "rotate_access_key.v5.batches.history.json"},
	{"v5 old-key-gone: the old key deleted from outside before the idle check", "rotate_access_key.v5.old-key-gone.history.json"},
	// More than 100 targets: PushBatch children, the first stopped by a
	// revoke of the new key, and that batch's own history.
	{"v4 batches: 120 targets in batches, the new key revoked while the first pushes", "rotate_access_key.v4.batches.history.json"},
	{"push batch v0: a batch stopped by a revoke", "push_batch.v0.batches.history.json"},
	// ScheduledRotation, the workflow a schedule starts.
	{"scheduled v0 started: the rotation started as a child", "scheduled_rotation.v0.started.history.json"},
	{"scheduled v0 skipped: a rotation was already running", "scheduled_rotation.v0.skipped.history.json"},
}

func TestReplayRecordedRotations(t *testing.T) {
	for _, tc := range recordedHistories {
		t.Run(tc.name, func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(RotateAccessKey, workflow.RegisterOptions{Name: WorkflowName})
			replayer.RegisterWorkflowWithOptions(ScheduledRotation, workflow.RegisterOptions{Name: ScheduledWorkflowName})
			replayer.RegisterWorkflowWithOptions(PushBatch, workflow.RegisterOptions{Name: PushBatchWorkflowName})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", tc.file)))
		})
	}
}

// Every recorded history in testdata/ is replayed: a newly recorded file
// that nobody added to recordedHistories fails here.
func TestReplayCoversEveryRecordedHistory(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.history.json"))
	require.NoError(t, err)
	var listed []string
	for _, tc := range recordedHistories {
		listed = append(listed, filepath.Join("testdata", tc.file))
	}
	require.ElementsMatch(t, listed, files)
}

// The changes all-changes stands for are frozen: rotations recorded with
// it assume exactly these, at version 1. Adding one here would make those
// rotations take a path they never took.
func TestCoveredChangesAreFrozen(t *testing.T) {
	want := []string{
		"create-as-activity", "explicit-state", "keep-needed-revoked-key", "keep-sent-key-on-cancel",
		"notify", "preflight-targets", "push-batches", "push-to-target",
		"retire-old-for-leaked-new", "revoke-now-while-settling", "sweep-strays-on-fail",
	}
	require.Equal(t, want, slices.Sorted(maps.Keys(coveredChanges)))
}
