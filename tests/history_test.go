package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/workflows"
)

// TestRecordHistory records the histories of real rotations, one for every
// operator path, for the replay test in workflows/ (TestReplayRecordedRotations
// replays every file in workflows/testdata/). It only runs when asked:
//
//	KEYROTOR_RECORD_HISTORY_DIR=$PWD/workflows/testdata go test -count=1 -run TestRecordHistory ./tests/
//
// writes, into that directory, rotate_access_key.<recordVersion>.<scenario>.history.json
// for each rotation scenario below and scheduled_rotation.<scheduledVersion>.<scenario>.history.json
// for the scheduled runs (a few seconds each). -run 'TestRecordHistory/revoke-new'
// records one scenario. KEYROTOR_RECORD_HISTORY=FILE records the plain
// rotation alone into FILE.
//
// The files hold decoded payloads and failures (the replay test has no
// payload key). Every access key ID is replaced by a made-up one in AWS's
// documented example form (the first key AKIAIOSFODNN7EXAMPLE, the second
// AKIAI44QH8DHBEXAMPLE, then AKIAJ…EXAMPLE), secrets by AWS's example secret,
// worker identities by a fixed name and stack traces dropped; each file is
// then read back, searched for every secret the emulators handed out
// (the test fails if one is there) and replayed against the current code.
// A recorded history must never carry a secret into git, even an emulator's.
func TestRecordHistory(t *testing.T) {
	dir, file := os.Getenv("KEYROTOR_RECORD_HISTORY_DIR"), os.Getenv("KEYROTOR_RECORD_HISTORY")
	if dir == "" && file == "" {
		t.Skip("set KEYROTOR_RECORD_HISTORY_DIR=DIR to record the scenario histories (or KEYROTOR_RECORD_HISTORY=FILE for the plain rotation)")
	}
	for _, sc := range recordScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			out := func(name string) string { return filepath.Join(dir, name) }
			if dir == "" {
				if sc.name != "plain" {
					t.Skip("KEYROTOR_RECORD_HISTORY records the plain rotation only")
				}
				out = func(string) string { return file }
			}
			var extra string
			if sc.notify {
				extra = notifyReceiverYAML(t)
			}
			rec := newRecorder(t, sc.targets, sc.noSeed, sc.policy, extra, out)
			sc.run(t, rec)
		})
	}
}

// recordVersion and scheduledVersion name the generation of the workflow
// code the histories are recorded with: bump recordVersion when a change to
// RotateAccessKey needed workflow.GetVersion, and record again (keeping the
// older files), so that every generation's histories keep replaying.
const (
	recordVersion    = "v5" // v0, v1: before the explicit-state code; v2: before PushToTarget and notifications; v3: before the preflight; v4: before all-changes
	scheduledVersion = "v0"
)

func rotateFile(scenario string) string {
	return "rotate_access_key." + recordVersion + "." + scenario + ".history.json"
}

func scheduledFile(scenario string) string {
	return "scheduled_rotation." + scheduledVersion + "." + scenario + ".history.json"
}

// recordUser is the IAM user every scenario rotates (one at a time: they
// share its workflow ID).
const recordUser = "ci-deployer"

// ghostGroup is a target whose writes fail for good (404) until the test
// clears the fault.
var ghostGroup = model.Target{Kind: model.GitLabGroup, Group: "ghost", EnvironmentScope: "*", Masked: true}

type recordScenario struct {
	name    string
	targets []model.Target // nil: the demo's five
	noSeed  []model.Target
	policy  model.RotationPolicy
	notify  bool // with a webhook channel for every event
	run     func(t *testing.T, rec *recorder)
}

func recordScenarios() []recordScenario {
	return []recordScenario{
		{name: "plain", policy: fastPolicy(), run: recordPlain("plain")},
		// No grace period and no wait before the delete: a rotation that
		// never rests between its push and its end.
		{name: "no-waits", policy: zeroWaits(), run: recordPlain("no-waits")},
		{name: "revoke-old", policy: hourPolicy(), run: recordRevokeOld},
		{name: "revoke-now", policy: hourPolicy(), run: recordRevokeNow},
		{name: "revoke-new", policy: hourPolicy(), run: recordRevokeNew},
		{name: "revoke-start", policy: hourPolicy(), run: recordRevokeStart},
		{
			name: "hold-retry", policy: hourPolicy(), run: recordHoldRetry,
			targets: append(devstack.DemoTargets(), ghostGroup),
		},
		{
			name: "notify", policy: hourPolicy(), run: recordNotify, notify: true,
			targets: append(devstack.DemoTargets(), ghostGroup),
		},
		{name: "rollback", policy: hourPolicy(), run: recordRollback},
		{name: "cancel", policy: hourPolicy(), run: recordCancel},
		{name: "scheduled", policy: hourPolicy(), run: recordScheduled},
		{name: "batches", policy: hourPolicy(), run: recordBatches, targets: wideTargets(120)},
		{name: "old-key-gone", policy: goneKeyPolicy(), run: recordOldKeyGone},
	}
}

// goneKeyPolicy leaves the grace period long enough to delete the old key
// from outside, and checks that the old key is idle after it.
func goneKeyPolicy() model.RotationPolicy {
	p := fastPolicy()
	p.GracePeriod, p.DeleteAfter, p.RequireOldKeyIdle = 3*time.Second, 0, true
	return p
}

// old-key-gone: someone deletes the old key during the grace period (or a
// worker died in the task that deleted it): the idle check finds it gone,
// which is idle, and the rotation ends done.
func recordOldKeyGone(t *testing.T, rec *recorder) {
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	require.NoError(t, rec.r.emu.AWS.DeleteKey(rec.r.oldKeys[recordUser].ID))
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.True(t, slices.ContainsFunc(st.Timeline, func(e contract.Event) bool { return strings.Contains(e.Message, "no longer exists") }),
		"the idle check should have found the old key gone: %+v", st.Timeline)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile("old-key-gone"), started)
}

// wideTargets are n GitHub repositories: more than a batch holds.
func wideTargets(n int) []model.Target {
	var out []model.Target
	for i := range n {
		out = append(out, model.Target{Kind: model.GitHubRepository, Repository: fmt.Sprintf("acme/wide-%03d", i)})
	}
	return out
}

// batches: 120 targets, pushed in PushBatch children of 100; the new key
// is revoked while the first batch pushes it, which stops that batch, and
// the replacement is pushed in two more. The first batch's own history is
// recorded too.
func recordBatches(t *testing.T, rec *recorder) {
	// One write of the first batch hangs for 3 s: the revoke lands while
	// the batch pushes.
	rec.r.emu.GitHub.Faults.Add(faults.Rule{Op: "PUT /repos/acme/wide-010/actions/secrets/", Delay: 3 * time.Second, Times: 1})
	started := rec.start(t)
	during := awaitPhase(t, rec.r, started.WorkflowID, contract.PhasePushing)
	rec.noteTargetSecrets()
	leaked := during.NewKeyID
	rv := rec.revoke(t, contract.RevokeInput{AccessKeyID: leaked, Reason: "new key in a log"})
	require.Equal(t, "new", rv.Which)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	rec.request(t, started, contract.ProceedSignal)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseWaitingToDelete)
	rec.request(t, started, contract.ProceedSignal)
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.NotEqual(t, leaked, st.NewKeyID)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile("batches"), started)
	_, _, children := historyOf(context.Background(), t, rec.r, started.WorkflowID, started.RunID)
	require.Len(t, children, 3, "the revoked key's first batch, stopped; two for its replacement")
	rec.write(t, "push_batch.v0.batches.history.json", operator.Started{WorkflowID: children[0].GetWorkflowId(), RunID: children[0].GetRunId()})
}

// --- the scenarios -------------------------------------------------------------

// plain: a complete rotation, every wait one second.
func recordPlain(scenario string) func(t *testing.T, rec *recorder) {
	return func(t *testing.T, rec *recorder) {
		started := rec.start(t)
		st := rec.wait(t, started)
		require.Equal(t, contract.PhaseDone, st.Phase)
		rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
		rec.write(t, rotateFile(scenario), started)
	}
}

// revoke-old: the old key revoked (update, default mode) during the grace
// period: deactivated and deleted at once, the rotation ends done.
func recordRevokeOld(t *testing.T, rec *recorder) {
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	rv := rec.revoke(t, contract.RevokeInput{Reason: "key printed in build 1234"})
	require.Equal(t, contract.RevocationAccepted, rv.State)
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.Len(t, st.Revocations, 1)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile("revoke-old"), started)
}

// revoke-now: the old key revoked with mode now while the pushes run (one
// GitLab push is held back for a few seconds): it is deactivated in the
// middle of the pushes, and the rotation still completes.
func recordRevokeNow(t *testing.T, rec *recorder) {
	rec.r.emu.GitLab.Faults.Add(faults.Rule{Op: "PUT /api/v4/groups/acme", Delay: 4 * time.Second, Times: 1}) // a slow push, not a slow check
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhasePushing)
	rec.revoke(t, contract.RevokeInput{Mode: contract.RevokeModeNow, Reason: "attacker has it"})
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
	require.True(t, slices.ContainsFunc(st.Timeline, func(e contract.Event) bool {
		return e.Phase == contract.PhasePushing && strings.Contains(e.Message, "at once (mode now)")
	}), "the old key was deactivated while the pushes ran")
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile("revoke-now"), started)
}

// revoke-new: the new key revoked during the grace period (it leaked): a
// third key replaces it, and both earlier keys are deleted.
func recordRevokeNew(t *testing.T, rec *recorder) {
	started := rec.start(t)
	during := awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	rec.noteTargetSecrets() // the leaked key's secret, before it is replaced
	leaked := during.NewKeyID
	rv := rec.revoke(t, contract.RevokeInput{AccessKeyID: leaked, Reason: "new key in a log"})
	require.Equal(t, "new", rv.Which)
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.NotEqual(t, leaked, st.NewKeyID)
	require.NotEqual(t, during.OldKeyID, st.NewKeyID)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	_, err := rec.r.stsWith(leaked, "anything")
	require.Error(t, err, "the leaked key is gone")
	rec.write(t, rotateFile("revoke-new"), started)
}

// revoke-start: a revoke when no rotation runs starts one with the revoke
// in it (update-with-start); the old key goes as soon as the new one is
// pushed, with no waits.
func recordRevokeStart(t *testing.T, rec *recorder) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rv, err := operator.Revoke(ctx, rec.r.client, rec.r.cfg.TaskQueue, rec.rotation(t),
		contract.RevokeInput{Reason: "found in an old artifact", RequestedBy: "ops@example.com"})
	require.NoError(t, err)
	st := rec.wait(t, rv.Started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	require.Equal(t, contract.RevocationDone, st.Revocations[0].State)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile("revoke-start"), rv.Started)
}

// hold-retry: the old key revoked while a target fails for good (its
// GitLab group does not exist; its push is held back a few seconds so the
// revoke lands first): the rotation holds instead of failing. The group is
// created, retry re-pushes it, and the rotation ends done.
func recordHoldRetry(t *testing.T, rec *recorder) { holdRetry(t, rec, "hold-retry") }

// notify: hold-retry with a webhook channel that wants every event: the
// failed target, the revocation, the hold and the completion are told.
func recordNotify(t *testing.T, rec *recorder) { holdRetry(t, rec, "notify") }

func holdRetry(t *testing.T, rec *recorder, scenario string) {
	rec.r.emu.GitLab.Faults.Add(faults.Rule{Op: "PUT /api/v4/groups/ghost", Delay: 4 * time.Second, Times: 1}) // a slow push, not a slow check
	// The group can be read (the preflight passes) but refuses writes
	// until it is "fixed" below.
	rec.r.failGitLabWrites("groups/ghost", faults.Rule{Status: http.StatusNotFound, Body: `{"message":"404 Group Not Found"}`})
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhasePushing)
	rec.revoke(t, contract.RevokeInput{Reason: "key printed in build 1234"})
	held := awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseHolding)
	require.Len(t, held.FailedTargets(), 1)
	require.Equal(t, ghostGroup.String(), held.FailedTargets()[0].Target)

	rec.r.emu.GitLab.Faults.Clear()
	rec.request(t, started, contract.RetrySignal)
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseDone, st.Phase)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)
	rec.write(t, rotateFile(scenario), started)
}

// rollback: proceed through the grace period, then roll back while the
// deactivated old key waits for deletion: both keys end active.
func recordRollback(t *testing.T, rec *recorder) {
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	rec.request(t, started, contract.ProceedSignal)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseWaitingToDelete)
	rec.request(t, started, contract.RollbackSignal)
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseRolledBack, st.Phase)
	requireActiveKeys(t, rec, st.OldKeyID, st.NewKeyID)
	rec.write(t, rotateFile("rollback"), started)
}

// cancel: the workflow cancelled during the grace period: the new key,
// which every target holds, stays next to the old one.
func recordCancel(t *testing.T, rec *recorder) {
	started := rec.start(t)
	awaitPhase(t, rec.r, started.WorkflowID, contract.PhaseGrace)
	require.NoError(t, rec.r.client.CancelWorkflow(context.Background(), started.WorkflowID, started.RunID))
	st := rec.wait(t, started)
	require.Equal(t, contract.PhaseCancelled, st.Phase)
	requireActiveKeys(t, rec, st.OldKeyID, st.NewKeyID)
	rec.write(t, rotateFile("cancel"), started)
}

// scheduled: a schedule's run starts the rotation as a child (started); a
// second run while it is in its grace period is skipped (skipped). The
// child then proceeds through both waits on operator requests (proceed).
func recordScheduled(t *testing.T, rec *recorder) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rot := rec.rotation(t)
	scheduleID := operator.ScheduleID(rot)
	_, err := operator.Sync(ctx, rec.r.client, rec.r.cfg, false)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = rec.r.client.ScheduleClient().GetHandle(context.Background(), scheduleID).Delete(context.Background())
	})

	require.NoError(t, operator.Trigger(ctx, rec.r.client, rot))
	first, res := scheduledRun(t, rec.r, scheduleID, 1)
	require.True(t, res.Started, "%+v", res)
	child := operator.Started{WorkflowID: res.WorkflowID, RunID: res.RunID}
	rec.cleanupRun(child)
	awaitPhase(t, rec.r, child.WorkflowID, contract.PhaseGrace)

	require.NoError(t, operator.Trigger(ctx, rec.r.client, rot))
	second, res := scheduledRun(t, rec.r, scheduleID, 2)
	require.Equal(t, contract.SkippedAlreadyRunning, res.Skipped)

	rec.request(t, child, contract.ProceedSignal)
	awaitPhase(t, rec.r, child.WorkflowID, contract.PhaseWaitingToDelete)
	rec.request(t, child, contract.ProceedSignal)
	st := rec.wait(t, child)
	require.Equal(t, contract.PhaseDone, st.Phase)
	rec.r.requireRotated(recordUser, st.NewKeyID, rec.targets)

	rec.write(t, scheduledFile("started"), first)
	rec.write(t, scheduledFile("skipped"), second)
	rec.write(t, rotateFile("scheduled-proceed"), child)
}

// scheduledRun waits for the schedule's nth run to finish.
func scheduledRun(t *testing.T, r *rig, scheduleID string, n int) (operator.Started, contract.ScheduledResult) {
	t.Helper()
	var run *client.ScheduleWorkflowExecution
	require.Eventually(t, func() bool {
		d, err := r.client.ScheduleClient().GetHandle(context.Background(), scheduleID).Describe(context.Background())
		if err != nil || len(d.Info.RecentActions) < n {
			return false
		}
		run = d.Info.RecentActions[n-1].StartWorkflowResult
		return run != nil
	}, 30*time.Second, 100*time.Millisecond, "the schedule never took action %d", n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := operator.ScheduledRunResult(ctx, r.client, run.WorkflowID, run.FirstExecutionRunID)
	require.NoError(t, err)
	return operator.Started{WorkflowID: run.WorkflowID, RunID: run.FirstExecutionRunID}, res
}

func requireActiveKeys(t *testing.T, rec *recorder, ids ...string) {
	t.Helper()
	var active []string
	for _, k := range rec.r.emu.AWS.Keys(recordUser) {
		if k.Status == model.KeyActive {
			active = append(active, k.ID)
		}
	}
	require.ElementsMatch(t, ids, active)
}

// --- recording -------------------------------------------------------------------

// recorder drives one scenario's rotation and writes its histories. It
// keeps every secret the scenario's emulators handed out, to prove that
// none reaches a file.
type recorder struct {
	r       *rig
	targets []model.Target
	out     func(name string) string

	mu      sync.Mutex
	secrets map[string]string // what the secret is → the secret
}

func newRecorder(t *testing.T, targets, noSeed []model.Target, p model.RotationPolicy, extraYAML string, out func(string) string) *recorder {
	if targets == nil {
		targets = devstack.DemoTargets()
	}
	r := newRig(t, rigOptions{users: map[string][]model.Target{recordUser: targets}, noSeed: noSeed, policy: p, extraYAML: extraYAML})
	codecKey, err := os.ReadFile(codecKeyFile)
	require.NoError(t, err)
	rec := &recorder{r: r, targets: targets, out: out, secrets: map[string]string{
		"old secret access key": r.oldKeys[recordUser].Secret.Reveal(),
		"GitHub token":          r.emu.GitHubToken.Reveal(),
		"GitLab token":          r.emu.GitLabToken.Reveal(),
		"rotator's AWS secret":  r.emu.AdminSecret.Reveal(),
		"payload key":           strings.TrimSpace(string(codecKey)),
	}}
	// Every secret the rotation creates ends up in the targets: watch them
	// for as long as the scenario runs (and once more at its end, in write).
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rec.noteTargetSecrets()
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	return rec
}

// noteTargetSecrets adds the secrets the targets hold now.
func (rec *recorder) noteTargetSecrets() {
	for _, tg := range rec.targets {
		_, secret := rec.r.emu.TargetValues(tg, model.DefaultSecretNames)
		if secret == "" {
			continue
		}
		rec.mu.Lock()
		if !slices.Contains(slices.Collect(maps.Values(rec.secrets)), secret) {
			rec.secrets[fmt.Sprintf("new secret access key %d", len(rec.secrets))] = secret
		}
		rec.mu.Unlock()
	}
}

func (rec *recorder) rotation(t *testing.T) model.Rotation {
	t.Helper()
	rot, err := rec.r.cfg.Rotation("", recordUser)
	require.NoError(t, err)
	return rot
}

// start starts the rotation; the scenario must end it.
func (rec *recorder) start(t *testing.T) operator.Started {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started, err := operator.StartRotation(ctx, rec.r.client, rec.r.cfg.TaskQueue, rec.rotation(t))
	require.NoError(t, err)
	require.False(t, started.AlreadyRunning, "a rotation of %s was left running", recordUser)
	rec.cleanupRun(started)
	return started
}

// cleanupRun terminates the run if a failed scenario left it running, so
// the next scenario can start its own.
func (rec *recorder) cleanupRun(s operator.Started) {
	rec.r.t.Cleanup(func() {
		_ = rec.r.client.TerminateWorkflow(context.Background(), s.WorkflowID, s.RunID, "history recording ended")
	})
}

func (rec *recorder) revoke(t *testing.T, in contract.RevokeInput) contract.Revocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in.RequestedBy = "ops@example.com"
	rv, err := operator.Revoke(ctx, rec.r.client, rec.r.cfg.TaskQueue, rec.rotation(t), in)
	require.NoError(t, err)
	return rv.Revocation
}

func (rec *recorder) request(t *testing.T, s operator.Started, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := operator.Request(ctx, rec.r.client, s.WorkflowID, name, contract.ProceedInput{Reason: "checked", RequestedBy: "ops@example.com"})
	require.NoError(t, err)
}

// wait waits for the run to close and returns its final status, whatever
// the ending (the status query answers for a closed run too).
func (rec *recorder) wait(t *testing.T, s operator.Started) contract.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := rec.r.client.GetWorkflow(ctx, s.WorkflowID, s.RunID).Get(ctx, nil)
	var canceled *temporal.CanceledError
	if err != nil && !errors.As(err, &canceled) {
		require.NoError(t, err)
	}
	v, err := rec.r.client.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: s.WorkflowID, RunID: s.RunID, QueryType: contract.StatusQuery,
	})
	require.NoError(t, err)
	var st contract.Status
	require.NoError(t, v.QueryResult.Get(&st))
	return st
}

// keyIDPattern matches an access key ID anywhere in a string.
var keyIDPattern = regexp.MustCompile(`AKIA[A-Z0-9]{16}`)

// fakeKeyID is the made-up key ID for the ith key of a history: AWS's two
// documented examples, then more of the same form.
func fakeKeyID(i int) string {
	switch i {
	case 0:
		return "AKIAIOSFODNN7EXAMPLE"
	case 1:
		return "AKIAI44QH8DHBEXAMPLE"
	}
	return fmt.Sprintf("AKIAJ%02dQ3ZN5WEXAMPLE", i)
}

// write fetches the run's history, decodes and scrubs it, writes it to
// name, and checks the file: no secret, no real key ID, and it replays.
func (rec *recorder) write(t *testing.T, name string, s operator.Started) {
	t.Helper()
	rec.noteTargetSecrets()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var h historypb.History
	iter := rec.r.client.GetWorkflowHistory(ctx, s.WorkflowID, s.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	// The replay test has no payload key: payloads and failures are
	// stored decoded.
	decodePayloads(t, h.ProtoReflect())
	decodeFailures(h.ProtoReflect())

	// Each distinct key ID gets its own made-up one: the key the user had
	// first, then the others in the order the history names them.
	realIDs := []string{rec.r.oldKeys[recordUser].ID}
	inHistory := map[string]bool{}
	for _, ev := range h.Events {
		var found []string
		rewrite(ev.ProtoReflect(), func(_ protoreflect.FieldDescriptor, s string) string {
			found = append(found, keyIDPattern.FindAllString(s, -1)...)
			return s
		})
		slices.Sort(found)
		for _, id := range found {
			inHistory[id] = true
			if !slices.Contains(realIDs, id) {
				realIDs = append(realIDs, id)
			}
		}
	}
	var pairs []string
	for i, id := range realIDs {
		pairs = append(pairs, id, fakeKeyID(i))
	}
	rec.mu.Lock()
	secrets := maps.Clone(rec.secrets)
	rec.mu.Unlock()
	for _, secret := range secrets {
		pairs = append(pairs, secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	}
	rep := strings.NewReplacer(pairs...)
	rewrite(h.ProtoReflect(), func(fd protoreflect.FieldDescriptor, s string) string {
		if fd.Name() == "identity" && s != "" {
			return "keyrotor-recorder" // pid@host of the client or worker
		}
		return rep.Replace(s)
	})

	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	require.NoError(t, err)
	// Checked in a scratch file first: a file that fails never lands
	// where it could be committed.
	scratch := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(scratch, data, 0o644))
	requireScrubbed(t, scratch, secrets, realIDs)
	requireReplays(t, scratch)
	path := rec.out(name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	t.Logf("recorded %d events naming %d keys into %s", len(h.Events), len(inHistory), path)
}

// requireScrubbed reads the written file back and fails if it holds any of
// the secrets, in any form or any leakWindow characters of one, anywhere
// (the file's text, and every string and payload decoded from it), or a key
// ID that is not a made-up one. It never prints what it found, only what it
// was.
func requireScrubbed(t *testing.T, path string, secrets map[string]string, realIDs []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var h historypb.History
	require.NoError(t, temporalproto.CustomJSONUnmarshalOptions{}.Unmarshal(data, &h))
	var decoded strings.Builder
	rewrite(h.ProtoReflect(), func(_ protoreflect.FieldDescriptor, s string) string {
		decoded.WriteString(s)
		decoded.WriteByte('\n')
		return s
	})
	for where, text := range map[string]string{"the file": string(data), "the decoded history": decoded.String()} {
		for what, secret := range secrets {
			for _, form := range secretForms(secret) {
				if strings.Contains(text, form) {
					t.Errorf("%s %s holds the %s", filepath.Base(path), where, what)
				}
			}
			for i := 0; i+leakWindow <= len(secret); i++ {
				if strings.Contains(text, secret[i:i+leakWindow]) {
					t.Errorf("%s %s holds %d characters of the %s (from offset %d)", filepath.Base(path), where, leakWindow, what, i)
					break
				}
			}
		}
		for _, id := range realIDs {
			if strings.Contains(text, id) {
				t.Errorf("%s %s holds a real key ID", filepath.Base(path), where)
			}
		}
		for _, id := range keyIDPattern.FindAllString(text, -1) {
			if !strings.HasSuffix(id, "EXAMPLE") {
				t.Errorf("%s %s holds a key ID that is not a made-up one", filepath.Base(path), where)
			}
		}
	}
	require.NotContains(t, decoded.String(), codec.EncodingEncrypted, "an encrypted payload is left")
	require.NotContains(t, decoded.String(), "Encoded failure", "an encoded failure is left")
	require.False(t, t.Failed(), "%s is not scrubbed", filepath.Base(path))
}

// requireReplays replays the written file against the current workflow
// code, as the replay test in workflows/ will.
func requireReplays(t *testing.T, path string) {
	t.Helper()
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: contract.WorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.ScheduledRotation, workflow.RegisterOptions{Name: contract.ScheduledWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.PushBatch, workflow.RegisterOptions{Name: workflows.PushBatchWorkflowName})
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, path))
}

// decodePayloads decrypts every payload in the message in place.
func decodePayloads(t *testing.T, m protoreflect.Message) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		out, err := codec.NewCodec(codecKeys).Decode([]*commonpb.Payload{p})
		require.NoError(t, err)
		proto.Reset(p)
		proto.Merge(p, out[0])
		return
	}
	eachMessage(m, func(m protoreflect.Message) { decodePayloads(t, m) })
}

// decodeFailures puts the message of every failure back in clear (the
// clients encode a failure's message and stack trace into a payload, which
// decodePayloads decrypted) and drops the stack traces: they name the
// recording machine's paths and play no part in a replay.
func decodeFailures(m protoreflect.Message) {
	if f, ok := m.Interface().(*failurepb.Failure); ok {
		converter.DecodeCommonFailureAttributes(converter.GetDefaultDataConverter(), f)
		f.EncodedAttributes, f.StackTrace = nil, ""
	}
	eachMessage(m, decodeFailures)
}

// eachMessage calls f for every message directly inside m.
func eachMessage(m protoreflect.Message, f func(protoreflect.Message)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				f(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				f(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			f(v.Message())
		}
		return true
	})
}

// rewrite passes every string and bytes field of a message, payload data
// included, through f (payloads are JSON, so replacing a key ID or a secret
// by another keeps them valid).
func rewrite(m protoreflect.Message, f func(protoreflect.FieldDescriptor, string) string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				switch {
				case fd.Message() != nil:
					rewrite(l.Get(i).Message(), f)
				case fd.Kind() == protoreflect.StringKind:
					l.Set(i, protoreflect.ValueOfString(f(fd, l.Get(i).String())))
				case fd.Kind() == protoreflect.BytesKind:
					l.Set(i, protoreflect.ValueOfBytes([]byte(f(fd, string(l.Get(i).Bytes())))))
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				switch {
				case fd.MapValue().Message() != nil:
					rewrite(mv.Message(), f)
				case fd.MapValue().Kind() == protoreflect.StringKind:
					v.Map().Set(k, protoreflect.ValueOfString(f(fd, mv.String())))
				case fd.MapValue().Kind() == protoreflect.BytesKind:
					v.Map().Set(k, protoreflect.ValueOfBytes([]byte(f(fd, string(mv.Bytes())))))
				}
				return true
			})
		case fd.Message() != nil:
			rewrite(v.Message(), f)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(f(fd, v.String())))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte(f(fd, string(v.Bytes())))))
		}
		return true
	})
}

// notifyReceiverYAML starts a webhook receiver that takes every delivery
// and returns the notify section that points at it.
func notifyReceiverYAML(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return "notify:\n  - webhook: " + srv.URL + "\n    secret: recorder-signing-key\n"
}
