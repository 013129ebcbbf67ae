package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Retry policies live here, next to the calls that use them; each says why.

// IAM calls run as local activities (but CreateAccessKey, see createOptions):
// each is one short, idempotent API call,
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

// createOptions are for CreateAccessKey, which runs as a regular activity,
// unlike the other IAM calls: creating a key is the one IAM call that is
// not idempotent, and the server records a regular activity's result even
// when the worker that ran the workflow task dies. A local activity's
// result lives in the workflow task: a worker killed before the task
// completed loses it, and the key it made can then no longer be told from
// a key someone else made (the next attempt runs with a later NotBefore).
// Same retries as iamOptions; a shorter start-to-close (one IAM call takes
// well under a second), so an attempt lost with a stopped worker is retried
// soon.
func createOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
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

// configOptions are for reading the worker's own configuration: no I/O, so
// a failure is a bug or a missing rotation, and retrying it a few times is
// plenty.
func configOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		Summary:             "read the rotation from the worker's configuration",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
}

// pushOptions give each target a budget of time, not of attempts: outages
// and rate-limit storms last minutes to hours, a rotation has days, and the
// old key keeps every pipeline working meanwhile. The activity retries each
// call in place and waits out short rate limits itself (heartbeating, and
// resuming from its heartbeat details on the next attempt); longer ones come
// back as NextRetryDelay. A target that still fails after budget is reported
// as failed and the old key stays active, so giving up never breaks a
// pipeline. WaitForCancellation: a push that is told to stop (the new key
// was revoked, the rotation cancelled) reports back before the rotation
// moves on, so a revoked key is never written after its replacement.
func pushOptions(ctx workflow.Context, summary string, budget time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: budget,
		StartToCloseTimeout:    10 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		WaitForCancellation:    true,
		Summary:                summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    2 * time.Minute,
		},
	})
}

// preflightOptions are for the targets' read-only checks before the first
// key: a few quick tries, then the rotation goes on without them (an
// outage must not stop a rotation the pushes would ride out).
func preflightOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             "check that every target can be written",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
}
