package activities

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/ratelimit"
)

// Metrics receives what the activities count, for the worker's metrics
// endpoint (internal/metrics implements it; worker/compose passes it with
// WithMetrics). Without it the activities count nothing and behave the
// same. Only names, kinds and times cross it: never a secret.
type Metrics interface {
	// PushAttempt counts the end of one attempt of a push: provider
	// "github" or "gitlab", kind the target kind, outcome one of the
	// Push* outcomes.
	PushAttempt(provider, kind, outcome string)
	// RateLimitWait counts one answer of provider ("github", "gitlab" or
	// "aws") asking keyrotor to wait.
	RateLimitWait(provider string)
	// Keys reports a user's access keys as an IAM activity just saw them,
	// after its own change (the key ages come from their CreateDate).
	Keys(account, user string, keys []model.AccessKey)
	// QuotaWait reports a call that waited for its turn on provider's
	// quota (the worker's limiter), and how long; handedOff when the wait
	// was too long to sit through and the push came back later.
	QuotaWait(provider string, waited time.Duration, handedOff bool)
}

// The outcomes of a push attempt, as Metrics.PushAttempt counts them.
const (
	PushConfirmed = "confirmed" // the target holds the new key, read back
	PushRetry     = "retry"     // the attempt failed; Temporal tries again (within pushRetryFor)
	PushFailed    = "failed"    // the attempt failed for good (retrying cannot help)
	PushCancelled = "cancelled" // the attempt was cut off (cancel, timeout, the worker stopping)
)

// Option adjusts an activities struct (NewIAM, NewGitHub, NewGitLab).
type Option func(*options)

// WithLimiter paces the pushes' provider calls with l, the limiter of the
// credential they use (one per GitHub token or App installation, per
// GitLab token): every call takes its turn first.
func WithLimiter(l *ratelimit.Limiter) Option {
	return func(o *options) { o.limiter = l }
}

// WithMetrics makes the activities report to m.
func WithMetrics(m Metrics) Option {
	return func(o *options) {
		if m != nil {
			o.metrics = m
		}
	}
}

// options are what every activities struct shares: where it reports.
type options struct {
	metrics Metrics
	limiter *ratelimit.Limiter // nil: calls are not paced
}

func newOptions(opts []Option) options {
	o := options{metrics: noMetrics{}}
	for _, apply := range opts {
		apply(&o)
	}
	return o
}

// m is the metrics, or none for a struct built without its constructor.
func (o options) m() Metrics {
	if o.metrics == nil {
		return noMetrics{}
	}
	return o.metrics
}

type noMetrics struct{}

func (noMetrics) PushAttempt(string, string, string)     {}
func (noMetrics) RateLimitWait(string)                   {}
func (noMetrics) Keys(string, string, []model.AccessKey) {}
func (noMetrics) QuotaWait(string, time.Duration, bool)  {}

// nopLogger is the logger outside an activity (direct calls in tests).
var nopLogger = tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// activityLogger is the logger of every line keyrotor's activities write:
// the SDK's activity logger (it names the WorkflowID, RunID, ActivityType
// and Attempt) with the account, the user and the target the activity
// works on ("iam" for the IAM activities). Only names and key IDs go into
// a line, never a secret.
func activityLogger(ctx context.Context, account, user, target string) tlog.Logger {
	if !activity.IsActivity(ctx) {
		return nopLogger
	}
	return tlog.With(activity.GetLogger(ctx), "account", account, "user", user, "target", target)
}

// pushDone counts and logs the end of one push attempt. The error is the
// one the activity returns: built from status codes and redacted (see
// errors.go), so it is as safe to log as it is to return.
func (o options) pushDone(ctx context.Context, provider string, in PushInput, res PushResult, err error) {
	outcome := pushOutcome(ctx, err)
	o.m().PushAttempt(provider, pushKind(in.Target.Kind, provider), outcome)
	log := activityLogger(ctx, in.Account, in.User, in.Target.String())
	if err == nil {
		log.Info("pushed the new access key", "accessKeyId", in.Key.ID, "calls", res.Calls)
		return
	}
	log.Warn("push attempt failed", "accessKeyId", in.Key.ID, "outcome", outcome, "error", err)
}

// onRateLimit counts and logs a provider's answer asking to wait.
func (o options) onRateLimit(ctx context.Context, provider string, in PushInput) func(time.Duration) {
	return func(wait time.Duration) {
		o.m().RateLimitWait(provider)
		activityLogger(ctx, in.Account, in.User, in.Target.String()).Info("rate limited by the provider", "wait", wait.String())
	}
}

// pushOutcome classifies how a push attempt ended.
func pushOutcome(ctx context.Context, err error) string {
	var ae *temporal.ApplicationError
	switch {
	case err == nil:
		return PushConfirmed
	case ctx.Err() != nil:
		return PushCancelled
	case errors.As(err, &ae) && ae.NonRetryable():
		return PushFailed
	}
	return PushRetry
}

// pushKind is the kind label of a pushed target: its kind when it is one of
// the provider's, else "unknown" (an input the worker refuses), so that
// nobody who can start a workflow can invent label values.
func pushKind(k model.TargetKind, provider string) string {
	if slices.Contains(model.TargetKinds, k) && k.Provider() == provider {
		return string(k)
	}
	return "unknown"
}

// isRateLimited reports an error a provider's rate limit caused.
func isRateLimited(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == TypeRateLimited
}

// paced makes a caller take its turn on the options' limiter before each
// call, reporting the waits to the metrics.
func (o options) paced(c *caller, provider string) *caller {
	if o.limiter != nil {
		c.limiter = o.limiter
		c.onQuotaWait = func(waited time.Duration, handedOff bool) { o.m().QuotaWait(provider, waited, handedOff) }
	}
	return c
}
