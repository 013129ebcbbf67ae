package operator

import (
	"context"
	"errors"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Overview is what `starter status` shows for one configured rotation.
type Overview struct {
	WorkflowID string `json:"workflowId"`
	Account    string `json:"account"`
	User       string `json:"user"`
	// Execution is the Temporal status of the latest rotation run
	// ("Running", "Completed", "Failed", …), or "never run".
	Execution string           `json:"execution"`
	RunID     string           `json:"runId,omitempty"`
	ClosedAt  *time.Time       `json:"closedAt,omitempty"`
	Status    *contract.Status `json:"status,omitempty"` // from the status query
	Schedule  *ScheduleInfo    `json:"schedule,omitempty"`
	Problem   string           `json:"problem,omitempty"` // why a part could not be read
}

// ScheduleInfo is the rotation's schedule, when it has one.
type ScheduleInfo struct {
	ID      string     `json:"id"`
	Paused  bool       `json:"paused"`
	NextRun *time.Time `json:"nextRun,omitempty"`
}

// NeverRun is Overview.Execution for a user that was never rotated here.
const NeverRun = "never run"

// DescribeOption adjusts Describe.
type DescribeOption func(*describeOptions)

type describeOptions struct {
	dc converter.DataConverter
	fc converter.FailureConverter
}

// WithConverters lets Describe read the pending pushes' heartbeats and
// last failures (encrypted by the codec), to say which targets wait for a
// provider's quota.
func WithConverters(dc converter.DataConverter, fc converter.FailureConverter) DescribeOption {
	return func(o *describeOptions) { o.dc, o.fc = dc, fc }
}

// Describe gathers the overview of one rotation: the latest run and its
// status query, and the schedule.
func Describe(ctx context.Context, c client.Client, r model.Rotation, opts ...DescribeOption) Overview {
	var do describeOptions
	for _, apply := range opts {
		apply(&do)
	}
	o := Overview{WorkflowID: r.WorkflowID(), Account: r.Account, User: r.User}
	desc, err := c.DescribeWorkflowExecution(ctx, o.WorkflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		o.Execution = NeverRun
	case err != nil:
		o.Problem = err.Error()
	default:
		info := desc.GetWorkflowExecutionInfo()
		o.Execution = info.GetStatus().String() // "Running", "Completed", "Failed", …
		o.RunID = info.GetExecution().GetRunId()
		if ct := info.GetCloseTime(); ct != nil {
			t := ct.AsTime()
			o.ClosedAt = &t
		}
		// A closed rotation answers too, as long as a worker is up.
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, qerr := Status(qctx, c, o.WorkflowID)
		cancel()
		if qerr == nil {
			o.Status = &st
			annotateWaits(o.Status, desc.GetPendingActivities(), do)
		} else if o.Execution == "Running" {
			o.Problem = "status query: " + qerr.Error()
		}
	}
	o.Schedule = scheduleInfo(ctx, c, o.WorkflowID)
	return o
}

func scheduleInfo(ctx context.Context, c client.Client, id string) *ScheduleInfo {
	d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return nil
	}
	si := &ScheduleInfo{ID: id, Paused: d.Schedule.State != nil && d.Schedule.State.Paused}
	if len(d.Info.NextActionTimes) > 0 {
		next := d.Info.NextActionTimes[0]
		si.NextRun = &next
	}
	return si
}

// annotateWaits marks the targets whose push waits for a provider's quota:
// the activity's heartbeat says so while it waits in place, its last
// failure when it handed the wait to Temporal.
func annotateWaits(st *contract.Status, pending []*workflowpb.PendingActivityInfo, o describeOptions) {
	if o.dc == nil {
		return
	}
	waits := map[string]string{}
	for _, pa := range pending {
		if pa.GetHeartbeatDetails() != nil {
			var hb struct {
				Target string `json:"target"`
				Step   string `json:"step"`
			}
			if o.dc.FromPayload(pa.GetHeartbeatDetails().GetPayloads()[0], &hb) == nil && strings.HasPrefix(hb.Step, "waiting for ") {
				waits[hb.Target] = hb.Step
			}
		}
		if f := pa.GetLastFailure(); f != nil && o.fc != nil && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			msg := o.fc.FailureToError(f).Error()
			if target, why, ok := strings.Cut(msg, ": waiting for "); ok {
				why = "waiting for " + strings.SplitN(why, ":", 2)[0]
				if next := pa.GetNextAttemptScheduleTime(); next != nil {
					why += " until " + next.AsTime().UTC().Format("15:04:05Z")
				}
				waits[target] = why
			}
		}
	}
	for i := range st.Targets {
		if w, ok := waits[st.Targets[i].Target]; ok && st.Targets[i].State == contract.TargetPushing {
			st.Targets[i].Waiting = w
		}
	}
}
