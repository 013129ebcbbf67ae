package metrics

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/internal/contract"
)

// Interceptor counts rotations and revoke requests as the worker runs
// them (see the package comment). dc decodes revoke signals' payloads
// (the codec's data converter) for their mode; signals reach interceptors
// still encoded.
//
// It counts only when workflow.IsReplaying is false: the first time the
// worker runs that part of a rotation. When a worker restarts or evicts a
// rotation from its cache, the next one replays the history up to where it
// stands, and the replayed start, signals and updates are not counted
// again. A workflow task that fails and runs again (a crash in the middle
// of one) can count twice: these counters are at least once. Counting
// never changes what the workflow does, so its code stays deterministic
// and free of metrics.
func (m *Metrics) Interceptor(dc converter.DataConverter) interceptor.WorkerInterceptor {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	return &workerInterceptor{m: m, dc: dc}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	m  *Metrics
	dc converter.DataConverter
}

func (w *workerInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	if workflow.GetInfo(ctx).WorkflowType.Name != contract.WorkflowName {
		return next
	}
	return &rotationInterceptor{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, m: w.m, dc: w.dc}
}

// rotationInterceptor watches one run of RotateAccessKey.
type rotationInterceptor struct {
	interceptor.WorkflowInboundInterceptorBase
	m  *Metrics
	dc converter.DataConverter
}

func (i *rotationInterceptor) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	var account, user string
	if len(in.Args) > 0 {
		if ri, ok := in.Args[0].(contract.RotateInput); ok {
			account, user = ri.Names()
		}
	}
	if !workflow.IsReplaying(ctx) {
		i.m.started.WithLabelValues(i.m.accountLabel(account)).Inc()
	}
	res, err := i.Next.ExecuteWorkflow(ctx, in)
	if !workflow.IsReplaying(ctx) {
		if c := i.m.outcome(res, err); c != nil {
			i.m.rotationEnded(c, account, user, workflow.GetInfo(ctx).WorkflowExecution.RunID, time.Now())
		}
	}
	return res, err
}

// outcome is the counter of a rotation's ending (nil: not an ending).
func (m *Metrics) outcome(res any, err error) *prometheus.CounterVec {
	switch {
	case err == nil:
		if r, ok := res.(contract.RotateResult); ok && r.Status.Phase == contract.PhaseRolledBack {
			return m.rolledBack
		}
		return m.completed
	case temporal.IsCanceledError(err):
		return m.cancelled
	case workflow.IsContinueAsNewError(err):
		return nil
	}
	return m.failed
}

// HandleSignal counts revoke signals, by mode.
func (i *rotationInterceptor) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	if in.SignalName == contract.RevokeSignal && !workflow.IsReplaying(ctx) {
		i.m.revocations.WithLabelValues(i.signalMode(in)).Inc()
	}
	return i.Next.HandleSignal(ctx, in)
}

// ExecuteUpdate counts revoke updates the rotation accepted, by mode. (A
// revoke update its validator rejects never reaches here.)
func (i *rotationInterceptor) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	if in.Name == contract.RevokeSignal && !workflow.IsReplaying(ctx) {
		mode := ModeInvalid
		if len(in.Args) > 0 {
			if ri, ok := in.Args[0].(contract.RevokeInput); ok {
				mode = revokeMode(ri.Mode)
			}
		}
		i.m.revocations.WithLabelValues(mode).Inc()
	}
	return i.Next.ExecuteUpdate(ctx, in)
}

// signalMode reads the mode of a revoke signal's payload, which is
// optional JSON, as the workflow reads it.
func (i *rotationInterceptor) signalMode(in *interceptor.HandleSignalInput) string {
	if len(in.Arg.GetPayloads()) == 0 {
		return ModeDefault
	}
	var raw json.RawMessage
	if err := i.dc.FromPayloads(in.Arg, &raw); err != nil {
		return ModeInvalid
	}
	if len(raw) == 0 || string(raw) == "null" {
		return ModeDefault
	}
	// Decoded as the workflow decodes it: unknown fields are an error.
	var ri contract.RevokeInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ri); err != nil {
		return ModeInvalid
	}
	return revokeMode(ri.Mode)
}

// revokeMode is the mode label of a revoke request's mode.
func revokeMode(mode string) string {
	switch mode {
	case "":
		return ModeDefault
	case contract.RevokeModeNow:
		return ModeNow
	}
	return ModeInvalid
}
