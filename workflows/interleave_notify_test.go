package workflows

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Notifications in the interleaving test: every other schedule's rotation
// has channels, whose receiver fails a third of its calls. Whatever the
// operators and faults do, each event reaches each channel once, the
// rotation's ending is told exactly once, and every revocation that took
// effect (or could not) is told.

// iwWithNotify gives even seeds' rotations two channels. It draws nothing
// from the schedule's generator, so every seed keeps its schedule.
func iwWithNotify(seed int64, r model.Rotation) model.Rotation {
	if seed%2 != 0 {
		return r
	}
	r.Notify = []model.NotifyRoute{
		{Channel: "all", Events: model.NotifyEvents},
		{Channel: "endings", Events: []model.NotifyEvent{model.EventCompleted, model.EventFailed, model.EventRolledBack}},
	}
	return r
}

// iwReceiver is the channels' receiver.
type iwReceiver struct {
	seed       int64
	mu         sync.Mutex
	attempts   map[string]int
	delivered  map[string][]model.NotifyEvent // channel → events, in delivery order
	deliveries map[string]int                 // delivery ID + channel → deliveries
	revoked    map[string]int                 // key ID → revoked events on channel "all"
}

func newIWReceiver(seed int64) *iwReceiver {
	return &iwReceiver{seed: seed, attempts: map[string]int{}, delivered: map[string][]model.NotifyEvent{}, deliveries: map[string]int{}, revoked: map[string]int{}}
}

func (rc *iwReceiver) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
	env.OnActivity(notifierActs.SendNotification, mock.Anything, mock.Anything).Return(rc.send)
}

func (rc *iwReceiver) send(_ context.Context, in activities.SendNotificationInput) (activities.SendNotificationResult, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	k := in.Notification.Delivery + "|" + in.Channel
	rc.attempts[k]++
	// A draw per delivery and attempt, not from a shared generator: the
	// test environment runs activities in any order.
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%d", rc.seed, k, rc.attempts[k])
	if h.Sum64()%3 == 0 {
		return activities.SendNotificationResult{Status: 503}, temporal.NewApplicationError("503 from the receiver", "ReceiverUnavailable")
	}
	rc.deliveries[k]++
	rc.delivered[in.Channel] = append(rc.delivered[in.Channel], in.Notification.Event)
	if rv := in.Notification.Revocation; rv != nil && in.Channel == "all" {
		rc.revoked[rv.AccessKeyID]++
	}
	return activities.SendNotificationResult{Status: 204}, nil
}

// iwCheckNotify checks what the receiver got against how the rotation ended.
func iwCheckNotify(r *iwRun, rc *iwReceiver, res iwResult) []iwViolation {
	if len(r.s.Rotation.Notify) == 0 || !slices.Contains(iwCleanEnds, res.Outcome) {
		return nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []iwViolation
	bad := func(invariant, format string, args ...any) {
		out = append(out, iwViolation{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
	}
	for k, n := range rc.deliveries {
		if n > 1 {
			bad("notified-twice", "%s was delivered %d times", k, n)
		}
	}
	want := map[string]model.NotifyEvent{string(PhaseDone): model.EventCompleted, string(PhaseFailed): model.EventFailed, string(PhaseRolledBack): model.EventRolledBack}[res.Outcome]
	for _, ch := range []string{"all", "endings"} {
		var endings []model.NotifyEvent
		for _, e := range rc.delivered[ch] {
			if e == model.EventCompleted || e == model.EventFailed || e == model.EventRolledBack {
				endings = append(endings, e)
			}
		}
		switch {
		case want == "" && len(endings) > 0:
			bad("ending-notified", "channel %s was told %v, but the rotation ended %s", ch, endings, res.Outcome)
		case want != "" && (len(endings) != 1 || endings[0] != want):
			bad("ending-not-notified", "channel %s was told %v, but the rotation ended %s", ch, endings, res.Outcome)
		}
	}
	took := map[string]int{}
	for _, rv := range res.Status.Revocations {
		if rv.State == RevocationDeactivated || rv.State == RevocationDone || rv.State == RevocationFailed {
			took[rv.AccessKeyID]++
		}
	}
	for id, n := range took {
		if rc.revoked[id] != n {
			bad("revocation-not-notified", "%d revocations of %s ended, %d were told", n, id, rc.revoked[id])
		}
	}
	for id, n := range rc.revoked {
		if took[id] == 0 {
			bad("revocation-notified", "%d revoked events for %s, which no revocation names", n, id)
		}
	}
	return out
}
