package operator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Schedules: one Temporal Schedule per configured rotation, with the ID
// rotate/<account>/<user>. Sync makes the namespace match the config; the
// other functions are the day-to-day operations on one schedule.
//
// Ownership: keyrotor creates its schedules with the memo ManagedMemoKey.
// Sync only updates or deletes schedules that carry it, and only deletes
// those on the config's task queue (the queue is one keyrotor deployment:
// another config sharing the namespace keeps its schedules).
//
// Change detection: the hash of the desired spec, policies and action is
// written into the action's static details. The schedule memo would be the
// natural place, but UpdateSchedule (as the Go SDK exposes it) cannot change
// a schedule's memo, and the action's details are updated with the schedule
// and decoded by the SDK with the client's own data converter, whatever
// codec it uses.

// ManagedMemoKey marks a schedule as keyrotor's (value true).
const ManagedMemoKey = "keyrotor-managed"

// specHashLabel starts the line of the action's details that holds the hash.
const specHashLabel = "keyrotor-spec-hash: "

// specVersion is part of the hash: bump it when the way a schedule is built
// changes, so the next sync updates every schedule.
const specVersion = 1

// ChangeKind says what Sync did (or, in a dry run, would do) to a schedule.
type ChangeKind string

// The changes Sync reports.
const (
	Created   ChangeKind = "created"
	Updated   ChangeKind = "updated"
	Deleted   ChangeKind = "deleted"
	Unchanged ChangeKind = "unchanged"
	// Conflict: a schedule with the rotation's ID exists but keyrotor did
	// not create it; it is left alone and Sync returns an error.
	Conflict ChangeKind = "conflict"
)

// ScheduleChange is one line of Sync's report.
type ScheduleChange struct {
	ScheduleID string     `json:"scheduleId"`
	Kind       ChangeKind `json:"kind"`
	Detail     string     `json:"detail,omitempty"` // the desired timing, or why
	DryRun     bool       `json:"dryRun,omitempty"` // nothing was changed
}

// ScheduleID is the ID of a rotation's schedule: the rotation's workflow ID.
func ScheduleID(r model.Rotation) string { return r.WorkflowID() }

// desiredSchedule is what the config asks for one rotation.
type desiredSchedule struct {
	id     string
	spec   client.ScheduleSpec
	action *client.ScheduleWorkflowAction
	hash   string
	timing string // human description of spec
	// selector names the selector that found the user, "" for a rotation
	// the file names.
	selector string
}

func newDesiredSchedule(taskQueue string, r model.Rotation) desiredSchedule {
	d := desiredSchedule{id: ScheduleID(r), spec: scheduleSpec(r.Policy), timing: timing(r.Policy)}
	d.action = &client.ScheduleWorkflowAction{
		// The schedule appends a timestamp to this ID; ScheduledRotation
		// then starts the rotation itself under rotate/<account>/<user>.
		ID:            "scheduled/" + r.Account + "/" + r.User,
		Workflow:      contract.ScheduledWorkflowName,
		Args:          []any{contract.ScheduledInput{Rotation: r}},
		TaskQueue:     taskQueue,
		StaticSummary: "scheduled rotation of the access key of IAM user " + r.User + " in account " + r.Account,
	}
	d.hash = specHash(d.spec, d.action, r)
	d.action.StaticDetails = "Started by the keyrotor schedule " + d.id + ".\n" + specHashLabel + d.hash
	return d
}

// scheduleSpec turns the policy into Temporal's spec: a cron expression when
// the policy has one, else an interval of every (no offset); jitter spreads
// a fleet's rotations so they do not all start in the same minute.
func scheduleSpec(p model.RotationPolicy) client.ScheduleSpec {
	spec := client.ScheduleSpec{Jitter: p.Jitter}
	if p.Cron != "" {
		spec.CronExpressions = []string{p.Cron}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: p.Every}}
	}
	return spec
}

func timing(p model.RotationPolicy) string {
	s := "every " + p.Every.String()
	if p.Cron != "" {
		s = "cron " + p.Cron
	}
	if p.Jitter > 0 {
		s += ", jitter " + p.Jitter.String()
	}
	return s
}

// specTiming is timing read back from a schedule's spec, for a schedule
// whose rotation the file does not name (a discovered user's).
func specTiming(spec *client.ScheduleSpec) string {
	if spec == nil {
		return ""
	}
	p := model.RotationPolicy{Jitter: spec.Jitter}
	switch {
	case len(spec.CronExpressions) > 0:
		p.Cron = spec.CronExpressions[0]
	case len(spec.Intervals) > 0:
		p.Every = spec.Intervals[0].Every
	default:
		return ""
	}
	return timing(p)
}

// overlap is SKIP: a scheduled run only lives until the rotation has
// started (seconds), so an overlap means a starter is stuck (no worker, for
// instance); queueing more behind it would only start them in a burst.
// The one-rotation-per-user rule itself is kept by ScheduledRotation, which
// skips when the rotation is already running however it was started.
const overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP

// specHash identifies everything Sync sets, so that an unchanged config
// changes nothing.
func specHash(spec client.ScheduleSpec, a *client.ScheduleWorkflowAction, r model.Rotation) string {
	data, err := json.Marshal(struct {
		Version   int
		Spec      client.ScheduleSpec
		Overlap   enumspb.ScheduleOverlapPolicy
		ID        string
		Workflow  any
		TaskQueue string
		Summary   string
		Rotation  model.Rotation
	}{specVersion, spec, overlap, a.ID, a.Workflow, a.TaskQueue, a.StaticSummary, r})
	if err != nil {
		panic(err) // plain structs of strings, numbers and slices always marshal
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// currentHash reads the hash Sync wrote into the schedule's action.
func currentHash(d *client.ScheduleDescription) string {
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return ""
	}
	for _, line := range strings.Split(a.StaticDetails, "\n") {
		if h, ok := strings.CutPrefix(line, specHashLabel); ok {
			return h
		}
	}
	return ""
}

func managed(d *client.ScheduleDescription) bool { return d.Memo.GetFields()[ManagedMemoKey] != nil }

func taskQueueOf(d *client.ScheduleDescription) string {
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		return a.TaskQueue
	}
	return ""
}

// describe returns the schedule's description, or nil when it does not exist.
func describe(ctx context.Context, sc client.ScheduleClient, id string) (*client.ScheduleDescription, error) {
	d, err := sc.GetHandle(ctx, id).Describe(ctx)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("describe schedule %s: %w", id, err)
	}
	return d, nil
}

// Sync makes the schedules match cfg: it creates the missing, updates the
// changed, and deletes keyrotor's schedules on cfg's task queue whose
// rotation left the config. With dryRun it only reports what it would do.
// Changes come sorted by schedule ID. A schedule that has a rotation's ID
// but is not keyrotor's is reported as a Conflict and makes the error
// non-nil, after everything else was done.
func Sync(ctx context.Context, c client.Client, cfg *config.Config, dryRun bool) ([]ScheduleChange, error) {
	return SyncDiscovered(ctx, c, cfg, Discovered{}, dryRun)
}

// SelectorMemoKey marks a schedule created for a user a selector found
// (value: the selector's name); the schedule also carries ManagedMemoKey.
const SelectorMemoKey = "keyrotor-selector"

// Discovered is what discovery found for Sync: the rotations of the users
// the config's selectors selected, and what must not be deleted although
// it has no rotation.
type Discovered struct {
	// Rotations of discovered users, each with its selector's name.
	Rotations []DiscoveredRotation
	// Keep are schedule IDs to keep: users a selector still matches but
	// whose targets did not render this time.
	Keep map[string]bool
	// KeepAccounts could not be listed: none of their schedules is
	// deleted, since whether their users are gone is unknown.
	KeepAccounts []string
}

// DiscoveredRotation is one discovered user's rotation.
type DiscoveredRotation struct {
	model.Rotation
	Selector string
}

// SyncDiscovered is Sync with the rotations discovery found besides the
// file's: their schedules are created and updated like the others, and a
// discovered user's schedule is deleted once no selector finds the user.
func SyncDiscovered(ctx context.Context, c client.Client, cfg *config.Config, d Discovered, dryRun bool) ([]ScheduleChange, error) {
	sc := c.ScheduleClient()
	var changes []ScheduleChange
	wanted := map[string]bool{}
	conflicts := 0
	want := make([]desiredSchedule, 0, len(cfg.Rotations)+len(d.Rotations))
	for _, r := range cfg.Rotations {
		want = append(want, newDesiredSchedule(cfg.TaskQueue, r))
	}
	for _, r := range d.Rotations {
		w := newDesiredSchedule(cfg.TaskQueue, r.Rotation)
		w.selector = r.Selector
		want = append(want, w)
	}
	for _, w := range want {
		wanted[w.id] = true
		ch, err := syncOne(ctx, sc, w, dryRun)
		if err != nil {
			return changes, err
		}
		if ch.Kind == Conflict {
			conflicts++
		}
		changes = append(changes, ch)
	}
	for id := range d.Keep {
		wanted[id] = true
	}
	selected := map[string]bool{}
	stale, err := staleSchedules(ctx, sc, cfg.TaskQueue, wanted, selected)
	if err != nil {
		return changes, err
	}
	for _, id := range stale {
		ch := ScheduleChange{ScheduleID: id, Kind: Deleted, Detail: "its rotation is no longer in the config", DryRun: dryRun}
		if selected[id] {
			ch.Detail = "no selector finds its user any more (gone, moved or untagged)"
		}
		if account, _, ok := strings.Cut(strings.TrimPrefix(id, "rotate/"), "/"); ok && slices.Contains(d.KeepAccounts, account) {
			ch.Kind, ch.Detail = Unchanged, "kept: account "+account+" could not be listed, so whether its user is gone is unknown"
			changes = append(changes, ch)
			continue
		}
		if !dryRun {
			if err := deleteSchedule(ctx, sc, id); err != nil {
				return changes, err
			}
		}
		changes = append(changes, ch)
	}
	slices.SortFunc(changes, func(a, b ScheduleChange) int { return strings.Compare(a.ScheduleID, b.ScheduleID) })
	if conflicts > 0 {
		return changes, fmt.Errorf("%d schedule(s) with a rotation's ID were not created by keyrotor and were left alone; delete or rename them", conflicts)
	}
	return changes, nil
}

// syncOne creates or updates one rotation's schedule. It describes the
// schedule by ID rather than trusting List, which is eventually consistent.
func syncOne(ctx context.Context, sc client.ScheduleClient, want desiredSchedule, dryRun bool) (ScheduleChange, error) {
	ch := ScheduleChange{ScheduleID: want.id, Detail: want.timing, DryRun: dryRun}
	cur, err := describe(ctx, sc, want.id)
	switch {
	case err != nil:
		return ch, err
	case cur == nil:
		ch.Kind = Created
		if !dryRun {
			err = createSchedule(ctx, sc, want)
		}
	case !managed(cur):
		ch.Kind, ch.Detail = Conflict, "exists but was not created by keyrotor (no "+ManagedMemoKey+" memo); left alone"
	case currentHash(cur) == want.hash:
		ch.Kind = Unchanged
	default:
		ch.Kind = Updated
		if !dryRun {
			err = updateSchedule(ctx, sc, want)
		}
	}
	return ch, err
}

func createSchedule(ctx context.Context, sc client.ScheduleClient, want desiredSchedule) error {
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      want.id,
		Spec:    want.spec,
		Action:  want.action,
		Overlap: overlap,
		Memo:    memoOf(want),
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", want.id, err)
	}
	return nil
}

func memoOf(want desiredSchedule) map[string]any {
	memo := map[string]any{ManagedMemoKey: true}
	if want.selector != "" {
		memo[SelectorMemoKey] = want.selector
	}
	return memo
}

// updateSchedule replaces spec, action and policies, and keeps the state:
// a schedule an operator paused stays paused.
func updateSchedule(ctx context.Context, sc client.ScheduleClient, want desiredSchedule) error {
	err := sc.GetHandle(ctx, want.id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := want.spec
			s.Spec = &spec
			s.Action = want.action
			policy := client.SchedulePolicies{Overlap: overlap}
			if s.Policy != nil {
				policy.CatchupWindow, policy.PauseOnFailure = s.Policy.CatchupWindow, s.Policy.PauseOnFailure
			}
			s.Policy = &policy
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", want.id, err)
	}
	return nil
}

func deleteSchedule(ctx context.Context, sc client.ScheduleClient, id string) error {
	err := sc.GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) { // already gone: that is what we wanted
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// staleSchedules are keyrotor's schedules on taskQueue that are not wanted.
// List finds the candidates (every page of it); each is then described,
// because List is eventually consistent and does not show the task queue.
// selected is filled with those a selector's discovery created.
func staleSchedules(ctx context.Context, sc client.ScheduleClient, taskQueue string, wanted, selected map[string]bool) ([]string, error) {
	ids, err := managedScheduleIDs(ctx, sc)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if wanted[id] {
			continue
		}
		d, err := describe(ctx, sc, id)
		if err != nil {
			return nil, err
		}
		if d != nil && managed(d) && taskQueueOf(d) == taskQueue {
			if d.Memo.GetFields()[SelectorMemoKey] != nil {
				selected[id] = true
			}
			out = append(out, id)
		}
	}
	return out, nil
}

// managedScheduleIDs lists the IDs of every schedule in the namespace that
// carries keyrotor's memo, following List's pages to the end.
func managedScheduleIDs(ctx context.Context, sc client.ScheduleClient) ([]string, error) {
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if e.Memo.GetFields()[ManagedMemoKey] != nil {
			ids = append(ids, e.ID)
		}
	}
	return ids, nil
}

// --- day-to-day operations ---------------------------------------------------

// Schedule states List reports.
const (
	StateActive     = "active"
	StatePaused     = "paused"
	StateMissing    = "missing"       // in the config, not created yet: run sync
	StateNotManaged = "not managed"   // the ID is taken by a schedule keyrotor did not create
	StateNotInCfg   = "not in config" // keyrotor's, on this task queue, but its rotation left the config: sync deletes it
)

// ScheduleStatus is one line of List.
type ScheduleStatus struct {
	ScheduleID string     `json:"scheduleId"`
	State      string     `json:"state"`
	Note       string     `json:"note,omitempty"`   // e.g. why it was paused
	Timing     string     `json:"timing,omitempty"` // from the config
	NextRun    *time.Time `json:"nextRun,omitempty"`
	LastRun    *time.Time `json:"lastRun,omitempty"`
	LastResult string     `json:"lastResult,omitempty"` // what the last scheduled run did
	// Discovered: `schedules sync` created it for a user a selector found
	// (its rotation is not in the file; a sync removes it once no
	// selector finds the user).
	Discovered bool `json:"discovered,omitempty"`
}

// Filter picks rotations by user and account; empty fields match all.
type Filter struct {
	Account string
	User    string
}

func (f Filter) matches(r model.Rotation) bool {
	return (f.Account == "" || f.Account == r.Account) && (f.User == "" || strings.EqualFold(f.User, r.User))
}

// List reports the schedules of cfg's rotations that match f, and, without
// a filter, keyrotor's schedules on cfg's task queue that sync would delete.
func List(ctx context.Context, c client.Client, cfg *config.Config, f Filter) ([]ScheduleStatus, error) {
	sc := c.ScheduleClient()
	var out []ScheduleStatus
	wanted := map[string]bool{}
	for _, r := range cfg.Rotations {
		id := ScheduleID(r)
		wanted[id] = true
		if !f.matches(r) {
			continue
		}
		st, err := scheduleStatus(ctx, c, id)
		if err != nil {
			return out, err
		}
		st.Timing = timing(r.Policy)
		out = append(out, st)
	}
	if f == (Filter{}) {
		stale, err := staleSchedules(ctx, sc, cfg.TaskQueue, wanted, map[string]bool{})
		if err != nil {
			return out, err
		}
		for _, id := range stale {
			st, err := scheduleStatus(ctx, c, id)
			if err != nil {
				return out, err
			}
			if !st.Discovered {
				st.State = StateNotInCfg
			}
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b ScheduleStatus) int { return strings.Compare(a.ScheduleID, b.ScheduleID) })
	return out, nil
}

func scheduleStatus(ctx context.Context, c client.Client, id string) (ScheduleStatus, error) {
	st := ScheduleStatus{ScheduleID: id}
	d, err := describe(ctx, c.ScheduleClient(), id)
	switch {
	case err != nil:
		return st, err
	case d == nil:
		st.State = StateMissing
		return st, nil
	case !managed(d):
		st.State = StateNotManaged
		return st, nil
	}
	st.Discovered = d.Memo.GetFields()[SelectorMemoKey] != nil
	st.Timing = specTiming(d.Schedule.Spec)
	st.State = StateActive
	if d.Schedule.State != nil && d.Schedule.State.Paused {
		st.State = StatePaused
	}
	if d.Schedule.State != nil {
		st.Note = d.Schedule.State.Note
	}
	if len(d.Info.NextActionTimes) > 0 && st.State == StateActive {
		next := d.Info.NextActionTimes[0]
		st.NextRun = &next
	}
	if n := len(d.Info.RecentActions); n > 0 {
		last := d.Info.RecentActions[n-1]
		at := last.ActualTime
		st.LastRun = &at
		st.LastResult = runResult(ctx, c, last.StartWorkflowResult)
	}
	return st, nil
}

// runResult describes what a scheduled run did: started the rotation, or
// skipped it, or how it ended otherwise.
func runResult(ctx context.Context, c client.Client, run *client.ScheduleWorkflowExecution) string {
	if run == nil {
		return ""
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.FirstExecutionRunID)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_"), "_", " "))
	}
	res, err := ScheduledRunResult(ctx, c, run.WorkflowID, run.FirstExecutionRunID)
	if err != nil {
		return "completed"
	}
	if res.Started {
		return "started rotation " + res.WorkflowID + " (run " + res.RunID + ")"
	}
	return "skipped: " + res.Skipped
}

// ScheduledRunResult waits for a scheduled run (a ScheduledRotation
// workflow) and returns what it did.
func ScheduledRunResult(ctx context.Context, c client.Client, workflowID, runID string) (contract.ScheduledResult, error) {
	var res contract.ScheduledResult
	if err := c.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res); err != nil {
		return res, fmt.Errorf("scheduled run %s: %w", workflowID, err)
	}
	return res, nil
}

// managedSchedule finds the schedule of a configured rotation and checks it
// is keyrotor's, so the operations below never act on someone else's.
func managedSchedule(ctx context.Context, c client.Client, r model.Rotation) (client.ScheduleHandle, error) {
	id := ScheduleID(r)
	d, err := describe(ctx, c.ScheduleClient(), id)
	switch {
	case err != nil:
		return nil, err
	case d == nil:
		return nil, fmt.Errorf("schedule %s does not exist; run 'starter schedules sync' first", id)
	case !managed(d):
		return nil, fmt.Errorf("schedule %s was not created by keyrotor; leaving it alone", id)
	}
	return c.ScheduleClient().GetHandle(ctx, id), nil
}

// Pause stops the rotation's schedule from starting runs (a trigger still
// works); note says why, for whoever lists the schedules next.
func Pause(ctx context.Context, c client.Client, r model.Rotation, note string) error {
	h, err := managedSchedule(ctx, c, r)
	if err != nil {
		return err
	}
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
		return fmt.Errorf("pause schedule %s: %w", h.GetID(), err)
	}
	return nil
}

// Unpause resumes the rotation's schedule.
func Unpause(ctx context.Context, c client.Client, r model.Rotation, note string) error {
	h, err := managedSchedule(ctx, c, r)
	if err != nil {
		return err
	}
	if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
		return fmt.Errorf("unpause schedule %s: %w", h.GetID(), err)
	}
	return nil
}

// Trigger takes the schedule's action now, as
// 'temporal schedule trigger --schedule-id rotate/<account>/<user>' does: a
// scheduled run starts, and starts the rotation unless one is running.
func Trigger(ctx context.Context, c client.Client, r model.Rotation) error {
	h, err := managedSchedule(ctx, c, r)
	if err != nil {
		return err
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return fmt.Errorf("trigger schedule %s: %w", h.GetID(), err)
	}
	return nil
}
