package tests

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// Schedule IDs are global to the namespace the tests share, so every test
// here uses its own users (sched-*) and deletes its schedules at the end.

func scheduleID(user string) string { return model.WorkflowID("demo", user) }

// deleteSchedulesAtEnd removes the schedules whatever the test left.
func deleteSchedulesAtEnd(t *testing.T, r *rig, users ...string) {
	t.Cleanup(func() {
		for _, u := range users {
			_ = r.client.ScheduleClient().GetHandle(context.Background(), scheduleID(u)).Delete(context.Background())
		}
	})
}

// rewriteConfig writes a new config over the rig's (same task queue).
func (r *rig) rewriteConfig(users map[string][]model.Target, p model.RotationPolicy) {
	r.t.Helper()
	_, err := r.emu.WriteConfig(filepath.Dir(r.cfgPath), devstack.ConfigSpec{TaskQueue: r.cfg.TaskQueue, Users: users, Policy: p})
	require.NoError(r.t, err)
}

func (r *rig) describeSchedule(id string) (*client.ScheduleDescription, error) {
	return r.client.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
}

func requireNoSchedule(t *testing.T, r *rig, id string) {
	t.Helper()
	_, err := r.describeSchedule(id)
	var nf *serviceerror.NotFound
	require.True(t, errors.As(err, &nf), "schedule %s should not exist: %v", id, err)
}

// waitListed waits until List (eventually consistent) shows the schedule:
// Sync finds schedules to delete through List.
func waitListed(t *testing.T, r *rig, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		it, err := r.client.ScheduleClient().List(context.Background(), client.ScheduleListOptions{})
		if err != nil {
			return false
		}
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return false
			}
			if e.ID == id {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "schedule %s never listed", id)
}

// schedules runs 'starter schedules ARGS... --config <rig config>'.
func (r *rig) schedules(args ...string) (string, int) {
	return r.starter(append([]string{"schedules"}, append(args, "--config", r.cfgPath)...)...)
}

// Sync creates, leaves alone, updates and deletes; a dry run changes nothing;
// a schedule keyrotor did not create is never touched.
func TestSchedulesSync(t *testing.T) {
	users := map[string][]model.Target{"sched-a": devstack.DemoTargets()[:1], "sched-b": devstack.DemoTargets()[4:]}
	r := newRig(t, rigOptions{users: users, noStart: true})
	deleteSchedulesAtEnd(t, r, "sched-a", "sched-b", "sched-foreign")
	a, b, foreign := scheduleID("sched-a"), scheduleID("sched-b"), scheduleID("sched-foreign")

	// Someone else's schedule, on keyrotor's ID pattern and task queue.
	_, err := r.client.ScheduleClient().Create(context.Background(), client.ScheduleOptions{
		ID:     foreign,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 720 * time.Hour}}},
		Action: &client.ScheduleWorkflowAction{Workflow: "SomethingElse", TaskQueue: r.cfg.TaskQueue},
		Paused: true,
	})
	require.NoError(t, err)

	out, code := r.schedules("sync", "--dry-run")
	require.Equal(t, 0, code, out)
	requireChange(t, out, "would be created", a, "")
	require.Contains(t, out, "dry run: nothing changed")
	requireNoSchedule(t, r, a)

	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)
	requireChange(t, out, "created", a, "every 720h0m0s")
	requireChange(t, out, "created", b, "")
	require.Contains(t, out, "2 created, 0 updated, 0 deleted, 0 unchanged")
	requireKeyrotorSchedule(t, r, "sched-a", func(d *client.ScheduleDescription) {
		require.Equal(t, []client.ScheduleIntervalSpec{{Every: 720 * time.Hour}}, d.Schedule.Spec.Intervals)
	})

	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "0 created, 0 updated, 0 deleted, 2 unchanged", "a second sync changes nothing")

	// A new policy: every schedule is updated in place.
	p := fastPolicy()
	p.Cron, p.Jitter = "0 3 * * *", 90*time.Minute
	r.rewriteConfig(users, p)
	out, code = r.schedules("sync", "--dry-run")
	require.Equal(t, 0, code, out)
	requireChange(t, out, "would be updated", a, "cron 0 3 * * *, jitter 1h30m0s")
	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "0 created, 2 updated, 0 deleted, 0 unchanged")
	requireKeyrotorSchedule(t, r, "sched-a", func(d *client.ScheduleDescription) {
		require.Equal(t, 90*time.Minute, d.Schedule.Spec.Jitter)
		require.Empty(t, d.Schedule.Spec.Intervals)
		require.NotEmpty(t, d.Schedule.Spec.Calendars, "the server turns the cron into a calendar")
	})
	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "2 unchanged")

	// sched-b leaves the config: only its schedule goes.
	waitListed(t, r, b)
	waitListed(t, r, foreign)
	r.rewriteConfig(map[string][]model.Target{"sched-a": users["sched-a"]}, p)
	out, code = r.schedules("sync", "--dry-run")
	require.Equal(t, 0, code, out)
	requireChange(t, out, "would be deleted", b, "")
	_, err = r.describeSchedule(b)
	require.NoError(t, err, "a dry run deletes nothing")
	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)
	requireChange(t, out, "deleted", b, "")
	require.Contains(t, out, "0 created, 0 updated, 1 deleted, 1 unchanged")
	require.NotContains(t, out, foreign)
	requireNoSchedule(t, r, b)
	_, err = r.describeSchedule(foreign)
	require.NoError(t, err, "a schedule keyrotor did not create survives")

	// A rotation whose ID is taken by someone else's schedule: reported,
	// left alone, exit status 1.
	r.rewriteConfig(map[string][]model.Target{"sched-a": users["sched-a"], "sched-foreign": users["sched-b"]}, p)
	out, code = r.schedules("sync")
	require.Equal(t, 1, code, out)
	requireChange(t, out, "conflict", foreign, "")
	d, err := r.describeSchedule(foreign)
	require.NoError(t, err)
	require.Equal(t, "SomethingElse", d.Schedule.Action.(*client.ScheduleWorkflowAction).Workflow)
}

// requireChange checks sync's line for one schedule.
func requireChange(t *testing.T, out, verb, id, detail string) {
	t.Helper()
	re := `(?m)^` + regexp.QuoteMeta(verb) + `\s+` + regexp.QuoteMeta(id) + `\s`
	if detail != "" {
		re += `+` + regexp.QuoteMeta(detail)
	}
	require.Regexp(t, re, out)
}

// requireKeyrotorSchedule checks what every keyrotor schedule has, then more.
func requireKeyrotorSchedule(t *testing.T, r *rig, user string, more func(*client.ScheduleDescription)) {
	t.Helper()
	d, err := r.describeSchedule(scheduleID(user))
	require.NoError(t, err)
	require.Contains(t, d.Memo.GetFields(), operator.ManagedMemoKey)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap)
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok)
	require.Equal(t, contract.ScheduledWorkflowName, a.Workflow)
	require.Equal(t, "scheduled/demo/"+user, a.ID)
	require.Equal(t, r.cfg.TaskQueue, a.TaskQueue)
	more(d)
}

// A trigger rotates the key, under the user's fixed workflow ID.
func TestScheduleTriggerRotates(t *testing.T) {
	const user = "sched-t"
	r := newRig(t, rigOptions{users: map[string][]model.Target{user: devstack.DemoTargets()}})
	deleteSchedulesAtEnd(t, r, user)
	out, code := r.schedules("sync")
	require.Equal(t, 0, code, out)

	out, code = r.schedules("trigger", "--user", user)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "schedule "+scheduleID(user)+" triggered")
	run := r.waitScheduledRun(user, 1)
	require.True(t, run.Started, "%+v", run)
	require.Equal(t, model.WorkflowID("demo", user), run.WorkflowID)

	st := r.waitRotation(user)
	require.Equal(t, contract.PhaseDone, st.Phase)
	r.requireRotated(user, st.NewKeyID, devstack.DemoTargets())

	out, code = r.schedules("list", "--user", user)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "started rotation "+model.WorkflowID("demo", user))

	// starter status shows the finished rotation and the next scheduled run.
	out, code = r.starter("status", "--config", r.cfgPath, "--user", user)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "Completed — done")
	require.Contains(t, out, "schedule: next run in")
}

// A trigger while the user's rotation runs is skipped: no second rotation.
func TestScheduleTriggerSkipsRunningRotation(t *testing.T) {
	const user = "sched-s"
	p := fastPolicy()
	p.GracePeriod = 15 * time.Second // the rotation is still running when the second trigger comes
	r := newRig(t, rigOptions{users: map[string][]model.Target{user: devstack.DemoTargets()}, policy: p})
	deleteSchedulesAtEnd(t, r, user)
	out, code := r.schedules("sync")
	require.Equal(t, 0, code, out)

	out, code = r.schedules("trigger", "--user", user)
	require.Equal(t, 0, code, out)
	first := r.waitScheduledRun(user, 1)
	require.True(t, first.Started, "%+v", first)

	out, code = r.schedules("trigger", "--user", user)
	require.Equal(t, 0, code, out)
	second := r.waitScheduledRun(user, 2)
	require.Equal(t, contract.ScheduledResult{WorkflowID: model.WorkflowID("demo", user), Skipped: contract.SkippedAlreadyRunning}, second)

	desc, err := r.client.DescribeWorkflowExecution(context.Background(), model.WorkflowID("demo", user), "")
	require.NoError(t, err)
	require.Equal(t, first.RunID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "still the first rotation")
	out, code = r.schedules("list", "--user", user)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "skipped: already running")

	st := r.waitRotation(user)
	r.requireRotated(user, st.NewKeyID, devstack.DemoTargets())
}

// Pause and unpause show in list; they need --user.
func TestSchedulesPauseUnpause(t *testing.T) {
	const user = "sched-p"
	r := newRig(t, rigOptions{users: map[string][]model.Target{user: devstack.DemoTargets()[:1]}, noStart: true})
	deleteSchedulesAtEnd(t, r, user)
	out, code := r.schedules("list")
	require.Equal(t, 0, code, out)
	require.Regexp(t, scheduleID(user)+`\s+missing`, out)
	out, code = r.schedules("sync")
	require.Equal(t, 0, code, out)

	out, code = r.schedules("pause", "--user", user, "--note", "change freeze")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "schedule "+scheduleID(user)+" paused")
	out, code = r.schedules("list", "--user", user)
	require.Equal(t, 0, code, out)
	require.Regexp(t, scheduleID(user)+`\s+paused \(change freeze\)`, out)

	out, code = r.schedules("unpause", "--user", user)
	require.Equal(t, 0, code, out)
	out, code = r.schedules("list")
	require.Equal(t, 0, code, out)
	require.Regexp(t, scheduleID(user)+`\s+active\s+every 720h0m0s\s+\d{4}-`, out, "an active schedule shows its next run")

	out, code = r.schedules("pause")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--user is required")
	out, code = r.schedules("trigger", "--user", "nobody")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "nobody")
}

// waitScheduledRun waits for the schedule's nth action (a ScheduledRotation
// run) to finish and returns what it did.
func (r *rig) waitScheduledRun(user string, n int) contract.ScheduledResult {
	r.t.Helper()
	var run *client.ScheduleWorkflowExecution
	require.Eventually(r.t, func() bool {
		d, err := r.describeSchedule(scheduleID(user))
		if err != nil || len(d.Info.RecentActions) < n {
			return false
		}
		run = d.Info.RecentActions[n-1].StartWorkflowResult
		return run != nil
	}, 30*time.Second, 100*time.Millisecond, "the schedule never took action %d", n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := operator.ScheduledRunResult(ctx, r.client, run.WorkflowID, run.FirstExecutionRunID)
	require.NoError(r.t, err)
	return res
}

// waitRotation waits for the user's rotation (started by a schedule) to end.
func (r *rig) waitRotation(user string) contract.Status {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := operator.Wait(ctx, r.client, operator.Started{WorkflowID: model.WorkflowID("demo", user)})
	require.NoError(r.t, err)
	return st
}
