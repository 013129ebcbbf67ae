package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Retry policies live here, next to the calls that use them; each says why.

// IAM calls run as local activities: each is one short, idempotent API call,
// and as local activities they add one marker event to the history instead
// of three activity events plus a workflow task each (see the README's
// history figures). Every IAM activity is safe to run again after a crash
// (CreateAccessKey removes a stray key from a lost attempt), which is what a
// local activity needs.

// iamOptions are for IAM calls that change or read key state. An AWS outage
// must not strand a rotation half way, so they retry without an attempt
// limit; non-retryable errors (no such user, no permission, two active keys)
// stop at once.
func iamOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
}

// verifyOptions retry through IAM's eventual consistency: a new key can be
// refused by STS for several seconds after it was created. About two minutes
// of backoff, then the key is declared broken.
func verifyOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		Summary:             "verify the new key with STS",
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			MaximumAttempts:    9,
		},
	})
}

// pushOptions bound each target's retries: transient errors (5xx, timeouts)
// and rate limits (whose Retry-After the activity passes as NextRetryDelay)
// are retried for a while; a target that still fails is reported as failed
// and the old key stays active, so giving up never breaks a pipeline.
func pushOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    2 * time.Minute,
			MaximumAttempts:    10,
		},
	})
}
