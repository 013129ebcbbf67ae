package operator

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

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

// Describe gathers the overview of one rotation: the latest run and its
// status query, and the schedule.
func Describe(ctx context.Context, c client.Client, r model.Rotation) Overview {
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
