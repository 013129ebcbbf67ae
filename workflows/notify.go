package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// notifyChange marks rotations that notify their channels. Rotations that
// ran before it replay without notifications.
const notifyChange = "notify"

var notifierActs *activities.Notifier

// Notify delivers one rotation event to each channel that wants it, each
// channel on its own retries (notifyOptions). It fails, with the result in
// the error's details, when a channel never took the event, so the Web UI
// shows the failed delivery; the rotation that started it never waits for
// it.
func Notify(ctx workflow.Context, in NotifyInput) (NotifyResult, error) {
	type sending struct {
		channel string
		f       workflow.Future
	}
	var all []sending
	for _, ch := range in.Channels {
		f := workflow.ExecuteActivity(notifyOptions(ctx, ch), notifierActs.SendNotification,
			activities.SendNotificationInput{Channel: ch, Notification: in.Notification})
		all = append(all, sending{ch, f})
	}
	var res NotifyResult
	for _, s := range all {
		if err := s.f.Get(ctx, nil); err != nil {
			res.Failed = append(res.Failed, contract.ChannelFailed{Channel: s.channel, Error: message(err)})
			continue
		}
		res.Delivered = append(res.Delivered, s.channel)
	}
	if len(res.Failed) > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d channels did not take the %s event", len(res.Failed), len(in.Channels), in.Notification.Event),
			TypeNotifyFailed, nil, res)
	}
	return res, nil
}

// notifyOptions: a receiver that is down for a while (a Slack outage, a
// redeploy of the webhook's service) still gets the event, for a day; one
// that refuses it (4xx but 408 and 429) is misconfigured and not retried.
// 429 waits as long as the receiver asks.
func notifyOptions(ctx workflow.Context, channel string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: 24 * time.Hour,
		StartToCloseTimeout:    time.Minute,
		Summary:                "notify " + channel,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    15 * time.Minute,
		},
	})
}

// notify queues event for the channels that want it; flush sends what is
// queued. Requests recorded without a workflow context (revocations marked
// in bookkeeping) queue the same way.
func (r *rotation) notify(ev Notification) {
	for _, rt := range r.cfg.Notify {
		if rt.Wants(ev.Event) {
			r.outbox = append(r.outbox, ev)
			return
		}
	}
}

// flush starts one Notify workflow per queued event: a child workflow that
// outlives the rotation (ParentClosePolicy abandon), so a receiver that is
// down never fails or delays the rotation. Its ID is the event's delivery
// ID, unique per rotation run and event: the start is recorded in the rotation's
// history, so a worker crash or replay never sends an event twice.
func (r *rotation) flush(ctx workflow.Context) {
	if len(r.outbox) == 0 {
		return
	}
	dctx := noCancel(ctx) // a cancelled rotation still tells its channels
	if !r.changed(dctx, notifyChange) {
		r.outbox = nil
		return
	}
	info := workflow.GetInfo(dctx).WorkflowExecution
	for _, ev := range r.outbox {
		var channels []string
		for _, rt := range r.cfg.Notify {
			if rt.Wants(ev.Event) {
				channels = append(channels, rt.Channel)
			}
		}
		r.notified++
		// Not the run ID: a replay of a recorded history runs under another
		// one. The rotation's start time tells its runs apart as well (one
		// runs at a time), and is part of the history.
		ev.Delivery = fmt.Sprintf("notify/%s/%s/%d", model.WorkflowID(r.account, r.user),
			r.status.StartedAt.UTC().Format("20060102T150405.000000000Z"), r.notified)
		ev.Account, ev.User, ev.WorkflowID, ev.RunID = r.account, r.user, info.ID, info.RunID
		ev.At, ev.Phase = workflow.Now(dctx), r.status.Phase
		ev.OldKeyID, ev.NewKeyID = r.status.OldKeyID, r.status.NewKeyID
		ev.Targets = append([]TargetStatus(nil), r.status.Targets...)
		cctx := workflow.WithChildOptions(dctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ev.Delivery,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:         fmt.Sprintf("notify %s: %s", ev.Event, ev.Summary),
		})
		f := workflow.ExecuteChildWorkflow(cctx, NotifyWorkflowName, NotifyInput{Notification: ev, Channels: channels})
		r.notifyStarts = append(r.notifyStarts, f.GetChildWorkflowExecution())
		r.event(dctx, fmt.Sprintf("notifying %s: %s", joinNames(channels, "and"), ev.Event))
	}
	r.outbox = nil
}

// flushAndWait sends what is queued and waits until every Notify workflow
// has started: the rotation is about to end, and a child not started by
// then would not be.
func (r *rotation) flushAndWait(ctx workflow.Context) {
	r.flush(ctx)
	dctx := noCancel(ctx)
	for _, f := range r.notifyStarts {
		if err := f.Get(dctx, nil); err != nil {
			// Only a reset run can meet its own delivery ID again: that
			// event was sent already.
			workflow.GetLogger(dctx).Warn("notification not started", "error", err.Error())
		}
	}
	r.notifyStarts = nil
}

// holdResolutions are the exact ways to end a hold with action (proceed,
// retry): the starter, the temporal CLI and the Web UI.
func (r *rotation) holdResolutions(actions ...string) []string {
	var out []string
	for _, a := range actions {
		out = append(out,
			fmt.Sprintf("starter %s --account %s --user %s", a, r.account, r.user),
			fmt.Sprintf("temporal workflow signal --workflow-id %s --name %s", model.WorkflowID(r.account, r.user), a))
	}
	out = append(out, "or in the Web UI: open the rotation and send the signal "+joinNames(actions, "or"))
	return out
}

func joinNames(names []string, conj string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	s := names[0]
	for _, n := range names[1 : len(names)-1] {
		s += ", " + n
	}
	return s + " " + conj + " " + names[len(names)-1]
}

// notifyRevoked queues the revoked event: the revocation took effect (the
// key is deactivated or deleted) or could not.
func (r *rotation) notifyRevoked(rv Revocation) {
	summary := "revoked key " + rv.AccessKeyID + ": " + rv.State
	if rv.State == RevocationFailed {
		summary = "revoke of " + rv.AccessKeyID + " failed: the key is still active"
	}
	r.notify(Notification{Event: model.EventRevoked, Summary: summary, Reason: rv.Error, Revocation: &rv})
}
