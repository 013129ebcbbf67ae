package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// TestRotationHistoryIsLean: what a rotation costs the server, counted in
// its history on the dev server. A rotation of the demo's five targets
// with no waits records one version marker (all-changes stands for every
// earlier change), lists KeyrotorPhase only where it rests (pushing) and
// where it ends (done), schedules all five pushes in one workflow task,
// and completes. (How many workflow tasks it takes depends on when the
// pushes answer and on the machine's load, so it is logged, not held to.)
func TestRotationHistoryIsLean(t *testing.T) {
	r := newRig(t, rigOptions{policy: zeroWaits()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rot, err := r.cfg.Rotation("", "ci-deployer")
	require.NoError(t, err)
	started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	st, err := operator.Wait(ctx, r.client, started)
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, st.Phase)

	var versions, tasks, upserts, pushRounds int
	var phases []string
	lastScheduled := false
	iter := r.client.GetWorkflowHistory(ctx, started.WorkflowID, started.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		scheduled := false
		switch ev.EventType {
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
				versions++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tasks++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			upserts++
			if p, ok := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()[contract.SearchPhase.GetName()]; ok {
				phases = append(phases, string(p.GetData()))
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "PushToTarget" {
				scheduled = true
				if !lastScheduled {
					pushRounds++
				}
			}
		}
		lastScheduled = scheduled
	}
	require.Equal(t, 1, versions, "version markers")
	require.Equal(t, []string{`"pushing"`, `"done"`}, phases, "KeyrotorPhase upserts")
	require.Equal(t, 3, upserts, "upserts: TemporalChangeVersion once, then the two phases")
	require.Equal(t, 1, pushRounds, "the %d pushes are scheduled together", len(devstack.DemoTargets()))
	t.Logf("%d workflow tasks", tasks)
	r.requireRotated("ci-deployer", st.NewKeyID, devstack.DemoTargets())
}
