package compose

import (
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/metrics"
	"github.com/keyrotor/keyrotor/workflows"
)

// The metrics interceptor counts what a worker runs, not what it replays:
// replaying the recorded rotations (every operator path, revokes
// included) through it counts nothing, and changes nothing in the replay.
func TestReplayCountsNothing(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "workflows", "testdata", "rotate_access_key.*.history.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
			Interceptors: []interceptor.WorkerInterceptor{m.Interceptor(nil)},
		})
		if err != nil {
			t.Fatal(err)
		}
		replayer.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: contract.WorkflowName})
		if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "keyrotor_rotations_") && f.GetName() != metrics.Revocations {
			continue
		}
		for _, s := range f.GetMetric() {
			if v := s.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s %v = %v after replays only", f.GetName(), s.GetLabel(), v)
			}
		}
	}
}
