package model

// NotifyEvent is something a rotation tells people about.
type NotifyEvent string

// The events a rotation notifies. Their names are part of the webhook
// payload and of the configuration: keep them stable.
const (
	EventCompleted    NotifyEvent = "completed"    // every target holds the new key and the old one is gone
	EventFailed       NotifyEvent = "failed"       // the rotation ended failed; the status says what was left
	EventHolding      NotifyEvent = "holding"      // the rotation waits for an operator
	EventRevoked      NotifyEvent = "revoked"      // a revocation took effect, or could not
	EventRolledBack   NotifyEvent = "rolledBack"   // the old key is active again
	EventTargetFailed NotifyEvent = "targetFailed" // a target refused the new key after its retries
)

// NotifyEvents are every event, in the order documentation lists them.
var NotifyEvents = []NotifyEvent{EventCompleted, EventFailed, EventHolding, EventRevoked, EventRolledBack, EventTargetFailed}

// NotifyKind is how a channel is reached.
type NotifyKind string

// The channel kinds.
const (
	NotifyWebhook NotifyKind = "webhook" // JSON POST signed with HMAC-SHA256
	NotifySlack   NotifyKind = "slack"   // Slack incoming webhook
	NotifyTeams   NotifyKind = "teams"   // Microsoft Teams incoming webhook (Adaptive Card)
)

// NotifyRoute is what a rotation's workflow knows of a channel: its name
// and the events it wants. The address and signing key stay in the
// worker's configuration (NotifyChannel), so nothing that reaches Temporal
// could be used to post as keyrotor.
type NotifyRoute struct {
	Channel string        `json:"channel"`
	Events  []NotifyEvent `json:"events"`
}

// Wants reports whether the route takes event.
func (r NotifyRoute) Wants(event NotifyEvent) bool {
	for _, e := range r.Events {
		if e == event {
			return true
		}
	}
	return false
}

// NotifyChannel is a configured notification channel, with its secrets.
// It lives in the worker's configuration only.
type NotifyChannel struct {
	Name    string
	Kind    NotifyKind
	URL     Secret // Slack and Teams webhook URLs are credentials themselves
	Signing Secret // webhook: the HMAC-SHA256 key; empty for Slack and Teams
	Events  []NotifyEvent
}

// Route is what the workflow may know of the channel.
func (c NotifyChannel) Route() NotifyRoute {
	return NotifyRoute{Channel: c.Name, Events: append([]NotifyEvent(nil), c.Events...)}
}
