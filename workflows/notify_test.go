package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// fakeReceiver records what the Notify workflows delivered, and fails the
// first failFirst calls of every delivery, as a receiver that is down would.
type fakeReceiver struct {
	mu        sync.Mutex
	failFirst int
	attempts  map[string]int // delivery/channel → attempts
	delivered []activities.SendNotificationInput
}

func (f *fakeReceiver) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
	env.RegisterActivity(notifierActs)
	env.OnActivity(notifierActs.SendNotification, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendNotificationInput) (activities.SendNotificationResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			k := in.Notification.Delivery + "|" + in.Channel
			f.attempts[k]++
			if f.attempts[k] <= f.failFirst {
				return activities.SendNotificationResult{Status: 503}, temporal.NewApplicationError("503 from the receiver", "ReceiverUnavailable")
			}
			f.delivered = append(f.delivered, in)
			return activities.SendNotificationResult{Status: 204}, nil
		})
}

// events lists the delivered events of channel, in order.
func (f *fakeReceiver) events(channel string) []model.NotifyEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []model.NotifyEvent
	for _, d := range f.delivered {
		if d.Channel == channel {
			out = append(out, d.Notification.Event)
		}
	}
	return out
}

func TestRotationNotifiesItsChannels(t *testing.T) {
	errUnauthorized := temporal.NewNonRetryableApplicationError("gitlab acme: 401 Unauthorized", activities.TypeUnauthorized, nil)
	tests := []struct {
		name     string
		pushFail map[string]error
		routes   []model.NotifyRoute
		want     map[string][]model.NotifyEvent // channel → events delivered
	}{{
		name:   "a rotation that completes tells every channel that wants it, once",
		routes: []model.NotifyRoute{{Channel: "all", Events: model.NotifyEvents}, {Channel: "failures", Events: []model.NotifyEvent{model.EventFailed, model.EventTargetFailed}}},
		want:   map[string][]model.NotifyEvent{"all": {model.EventCompleted}, "failures": nil},
	}, {
		name:     "a failed target and the failed rotation",
		pushFail: map[string]error{"gitlab group acme": errUnauthorized},
		routes:   []model.NotifyRoute{{Channel: "all", Events: model.NotifyEvents}, {Channel: "failures", Events: []model.NotifyEvent{model.EventFailed}}},
		want: map[string][]model.NotifyEvent{
			"all":      {model.EventTargetFailed, model.EventFailed},
			"failures": {model.EventFailed},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			f := newFakeAccount(t, 5, model.KeyActive)
			for k, v := range tc.pushFail {
				f.pushFail[k] = v
			}
			f.register(env)
			recv := &fakeReceiver{failFirst: 2, attempts: map[string]int{}}
			recv.register(env)
			r := testRotation(5)
			r.Policy.GracePeriod, r.Policy.DeleteAfter = time.Hour, time.Hour
			r.Notify = tc.routes
			executeRotation(env, r)
			s, _ := finalStatus(t, env)
			for ch, want := range tc.want {
				require.ElementsMatch(t, want, recv.events(ch), "channel %s; timeline %v", ch, s.Timeline)
			}
			// Every delivery carries the rotation, the key IDs and its own ID.
			seen := map[string]bool{}
			for _, d := range recv.delivered {
				n := d.Notification
				require.Equal(t, "prod", n.Account)
				require.Equal(t, "ci-deployer", n.User)
				require.NotEmpty(t, n.WorkflowID)
				require.True(t, strings.HasPrefix(n.Delivery, "notify/rotate/prod/ci-deployer/"), n.Delivery)
				require.NotEmpty(t, n.OldKeyID)
				require.Len(t, n.Targets, 5)
				require.False(t, seen[n.Delivery+d.Channel], "delivered twice: %s to %s", n.Delivery, d.Channel)
				seen[n.Delivery+d.Channel] = true
			}
		})
	}
}

// A receiver that never takes the event fails its Notify workflow, never
// the rotation.
func TestFailingReceiverDoesNotFailTheRotation(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 2, model.KeyActive)
	f.register(env)
	recv := &fakeReceiver{failFirst: 1 << 30, attempts: map[string]int{}}
	recv.register(env)
	r := testRotation(2)
	r.Notify = []model.NotifyRoute{{Channel: "down", Events: model.NotifyEvents}}
	executeRotation(env, r)
	s, err := finalStatus(t, env)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, s.Phase)
}

// Holding tells the channels why, and the exact commands that resolve it.
func TestHoldingNotificationSaysHowToResolveIt(t *testing.T) {
	env := newEnv(t)
	f := newFakeAccount(t, 1, model.KeyActive)
	f.lastUsed = func(now time.Time) *time.Time { return &now } // the old key is always in use
	f.register(env)
	recv := &fakeReceiver{attempts: map[string]int{}}
	recv.register(env)
	r := testRotation(1)
	r.Policy.IdleChecks, r.Policy.IdleRecheck = 1, time.Minute
	r.Notify = []model.NotifyRoute{{Channel: "ops", Events: []model.NotifyEvent{model.EventHolding}}}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(ProceedSignal, nil) }, 3*24*time.Hour)
	executeRotation(env, r)
	_, _ = finalStatus(t, env)
	require.Equal(t, []model.NotifyEvent{model.EventHolding}, recv.events("ops"))
	n := recv.delivered[0].Notification
	require.Contains(t, n.Reason, "send proceed")
	require.Contains(t, n.Resolve, "starter proceed --account prod --user ci-deployer")
	require.Contains(t, n.Resolve, "temporal workflow signal --workflow-id rotate/prod/ci-deployer --name proceed")
}
