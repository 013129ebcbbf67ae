package tests

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// A rolling deploy with Worker Deployments: a rotation that started on
// build v1 stays on v1 after v2 becomes current, even while only v2 polls,
// and finishes on v1 once a v1 worker is back. Worker A takes its version
// from the flags, worker B from the environment.
func TestVersionedRotationStaysOnItsBuild(t *testing.T) {
	r := newRig(t, rigOptions{policy: hourPolicy(), noStart: true})
	// One deployment per test run: the dev server is shared by the tests.
	deployment := "keyrotor-test-" + strings.TrimPrefix(r.cfg.TaskQueue, "keyrotor-test-")

	a := r.versionedWorker(t, []string{"--deployment-name", deployment, "--build-id", "v1"}, nil)
	setCurrentVersion(t, deployment, "v1")
	started := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	// The workflow ID is the same in every test: end whatever is left
	// running (pinned to a version no worker polls any more) if this fails.
	t.Cleanup(func() { _ = r.client.TerminateWorkflow(context.Background(), started.WorkflowID, "", "test over") })
	requirePinned(t, r, started.WorkflowID, deployment, "v1")
	// The query operators would run before retiring v1 finds the rotation.
	require.Eventually(t, func() bool { return countRunningOn(t, r, deployment, "v1") == 1 },
		10*time.Second, 200*time.Millisecond, "the rotation is not listed as running on v1")

	b := r.versionedWorker(t, nil, []string{"KEYROTOR_DEPLOYMENT_NAME=" + deployment, "KEYROTOR_BUILD_ID=v2"})
	setCurrentVersion(t, deployment, "v2")

	// Only v2 polls now. The proceed waits for a v1 worker: v2 never runs
	// a task of the pinned rotation.
	stopWorker(t, a)
	before := completedTasks(t, r, started.WorkflowID)
	proceeded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := operator.Request(ctx, r.client, started.WorkflowID, contract.ProceedSignal, contract.ProceedInput{})
		proceeded <- err
	}()
	time.Sleep(3 * time.Second)
	select {
	case err := <-proceeded:
		t.Fatalf("proceed answered with no v1 worker polling (err %v): the rotation moved off its build", err)
	default:
	}
	require.Equal(t, before, completedTasks(t, r, started.WorkflowID), "a workflow task of the v1 rotation ran while only v2 polled")

	// v1 is back: the rotation goes on, on v1, through both waits.
	r.versionedWorker(t, []string{"--deployment-name", deployment, "--build-id", "v1"}, nil)
	require.NoError(t, <-proceeded)
	awaitPhase(t, r, started.WorkflowID, contract.PhaseWaitingToDelete)
	requestOK(t, r, started.WorkflowID, contract.ProceedSignal)
	final, err := waitFor(t, r, started, time.Minute)
	require.NoError(t, err)
	require.Equal(t, contract.PhaseDone, final.Phase)
	r.requireRotated("ci-deployer", final.NewKeyID, devstack.DemoTargets())
	requirePinned(t, r, started.WorkflowID, deployment, "v1")
	for _, v := range completedTaskVersions(t, r, started.WorkflowID) {
		require.Equal(t, deployment+":v1", v, "every workflow task ran on v1")
	}
	// Nothing is left pinned to v1: it can be drained.
	require.Eventually(t, func() bool { return countRunningOn(t, r, deployment, "v1") == 0 },
		10*time.Second, 200*time.Millisecond, "the finished rotation still counts as running on v1")
	// The upgrade guide's commands for it.
	count := temporalCLI(t, "workflow", "count", "--query",
		fmt.Sprintf("TemporalWorkerDeploymentVersion = '%s:v1' AND ExecutionStatus = 'Running'", deployment))
	require.Contains(t, count, "Total: 0")
	described := temporalCLI(t, "worker", "deployment", "describe-version", "--deployment-name", deployment, "--build-id", "v1")
	t.Logf("describe-version v1:\n%s", described)
	require.Contains(t, described, "Drainage")

	// A new rotation goes to the current version, v2.
	next := startAndAwait(t, r, "ci-deployer", contract.PhaseGrace)
	requirePinned(t, r, next.WorkflowID, deployment, "v2")
	require.NoError(t, r.client.CancelWorkflow(context.Background(), next.WorkflowID, next.RunID))
	_, err = waitFor(t, r, next, time.Minute)
	require.ErrorContains(t, err, "canceled", "the v2 worker ends the cancelled rotation")
	stopWorker(t, b)
}

// versionedWorker starts the worker binary with extra flags and
// environment variables; it is killed when the test ends.
func (r *rig) versionedWorker(t *testing.T, args, env []string) *exec.Cmd {
	t.Helper()
	cmd, _ := r.workerBinary(env, args...)
	return cmd
}

// stopWorker stops a worker process as a deploy would (SIGTERM) and waits
// for it to exit.
func stopWorker(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	_, err := cmd.Process.Wait()
	require.NoError(t, err)
}

// setCurrentVersion makes the version current with the temporal CLI, as
// the upgrade guide says, once its worker polls (until then the server
// refuses: the version has no pollers yet).
func setCurrentVersion(t *testing.T, deployment, buildID string) {
	t.Helper()
	cli, err := devstack.TemporalCLI()
	require.NoError(t, err)
	var out []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = exec.Command(cli, "worker", "deployment", "set-current-version",
			"--deployment-name", deployment, "--build-id", buildID, "--yes",
			"--address", devServer.FrontendHostPort(), "--namespace", "default").CombinedOutput()
		if err == nil {
			return
		}
		if strings.Contains(string(out), "unknown command") || strings.Contains(string(out), "Unimplemented") {
			t.Skipf("this Temporal server does not support Worker Deployments: %s", out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("set-current-version %s %s: %v\n%s", deployment, buildID, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requirePinned checks that the server keeps the rotation pinned to the
// version.
func requirePinned(t *testing.T, r *rig, workflowID, deployment, buildID string) {
	t.Helper()
	d, err := r.client.DescribeWorkflowExecution(context.Background(), workflowID, "")
	require.NoError(t, err)
	vi := d.GetWorkflowExecutionInfo().GetVersioningInfo()
	require.NotNil(t, vi, "no versioning info for %s", workflowID)
	require.Equal(t, enumspb.VERSIONING_BEHAVIOR_PINNED, vi.GetBehavior())
	require.Equal(t, deployment, vi.GetDeploymentVersion().GetDeploymentName())
	require.Equal(t, buildID, vi.GetDeploymentVersion().GetBuildId())
}

// completedTaskVersions is the deployment version ("name:build") of each
// completed workflow task of the rotation.
func completedTaskVersions(t *testing.T, r *rig, workflowID string) []string {
	t.Helper()
	var versions []string
	it := r.client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			v := a.GetDeploymentVersion()
			versions = append(versions, v.GetDeploymentName()+":"+v.GetBuildId())
		}
	}
	require.NotEmpty(t, versions)
	return versions
}

func completedTasks(t *testing.T, r *rig, workflowID string) int {
	t.Helper()
	return len(completedTaskVersions(t, r, workflowID))
}

// countRunningOn counts the running workflows pinned to the version, with
// the visibility query of the upgrade guide.
func countRunningOn(t *testing.T, r *rig, deployment, buildID string) int64 {
	t.Helper()
	q := fmt.Sprintf("TemporalWorkerDeploymentVersion = '%s:%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'",
		deployment, buildID, r.cfg.TaskQueue)
	resp, err := r.client.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: q})
	require.NoError(t, err)
	return resp.GetCount()
}
