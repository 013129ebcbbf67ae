package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// A user whose key lives in 1,000 places: one rotation writes and confirms
// every one, and its history stays far inside Temporal's limits (events,
// size, pending activities).
func TestRotationToAThousandTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 targets: not in -short")
	}
	const n = 1000
	targets := make([]model.Target, 0, n)
	for i := range n {
		if i%2 == 0 {
			targets = append(targets, model.Target{Kind: model.GitHubRepository, Repository: fmt.Sprintf("acme/svc-%04d", i)})
		} else {
			targets = append(targets, model.Target{Kind: model.GitLabProject, Project: fmt.Sprintf("acme/svc-%04d", i)})
		}
	}
	r := newRig(t, rigOptions{users: map[string][]model.Target{"wide": targets}})
	rot, err := r.cfg.Rotation("", "wide")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	st, err := operator.Wait(ctx, r.client, started)
	require.NoError(t, err)
	t.Logf("1,000 targets: %s", time.Since(t0).Round(100*time.Millisecond))
	r.requireRotated("wide", st.NewKeyID, targets)

	events, size, children := historyOf(ctx, t, r, started.WorkflowID, started.RunID)
	t.Logf("the rotation's history: %d events, %d KiB; %d push batches", events, size/1024, len(children))
	// Temporal warns at 10,240 events and 10 MiB, and fails a workflow at
	// 51,200 events or 50 MiB; pushing one target is 3 events or more.
	require.Less(t, events, 500)
	require.Less(t, size, 2<<20)
	require.Len(t, children, n/100, "one child per 100 targets")
	for _, c := range children {
		ev, sz, _ := historyOf(ctx, t, r, c.GetWorkflowId(), c.GetRunId())
		require.Less(t, ev, 2000, c.GetWorkflowId())
		require.Less(t, sz, 2<<20, c.GetWorkflowId())
		if c == children[0] {
			t.Logf("a batch's history: %d events, %d KiB", ev, sz/1024)
		}
	}
}

// historyOf counts a workflow's history events and bytes, and lists the
// child workflows it started.
func historyOf(ctx context.Context, t *testing.T, r *rig, id, runID string) (events, size int, children []*commonpb.WorkflowExecution) {
	t.Helper()
	iter := r.client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		events++
		size += ev.Size()
		if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			children = append(children, a.GetWorkflowExecution())
		}
	}
	return events, size, children
}
