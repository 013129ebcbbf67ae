package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Webhook headers, after GitHub's: the event, a delivery ID that is the
// same on every retry (receivers drop repeats by it), and an HMAC-SHA256
// of the body keyed with the channel's secret.
const (
	HeaderEvent     = "X-Keyrotor-Event"
	HeaderDelivery  = "X-Keyrotor-Delivery"
	HeaderSignature = "X-Keyrotor-Signature-256" // "sha256=" + hex
)

// notifyRequestTimeout bounds one POST: a receiver that hangs fails the
// attempt, and the Notify workflow's retry policy tries again later.
const notifyRequestTimeout = 15 * time.Second

// NotifyChannels is the worker's configuration of notification channels:
// the only source of where events go and with which key they are signed.
// *config.Config implements it.
type NotifyChannels interface {
	NotifyChannel(account, user, name string) (model.NotifyChannel, error)
}

// Notifier holds the activity that delivers a rotation's events to
// webhooks, Slack and Microsoft Teams.
type Notifier struct {
	channels NotifyChannels
	uiURL    string // the Temporal Web UI, for links; "" for none
	http     *http.Client
}

// NewNotifier returns the notification activity. uiURL is the Temporal Web
// UI's address (temporal.uiURL); hc nil uses a client with a 15 s timeout.
func NewNotifier(channels NotifyChannels, uiURL string, hc *http.Client) *Notifier {
	if hc == nil {
		hc = &http.Client{Timeout: notifyRequestTimeout}
	}
	return &Notifier{channels: channels, uiURL: strings.TrimSuffix(uiURL, "/"), http: hc}
}

// SendNotificationInput is one event for one channel of the rotation.
type SendNotificationInput struct {
	Channel      string                `json:"channel"`
	Notification contract.Notification `json:"notification"`
}

// SendNotificationResult says how the receiver answered.
type SendNotificationResult struct {
	Status int `json:"status"`
}

// SendNotification posts the event to the channel, which it looks up in the
// worker's configuration by the rotation and the channel's name. A 2xx
// answer is delivery; 408, 429 and 5xx are retried (after the receiver's
// Retry-After); other 4xx answers are final: the channel is misconfigured.
func (n *Notifier) SendNotification(ctx context.Context, in SendNotificationInput) (SendNotificationResult, error) {
	ev := in.Notification
	ch, err := n.channels.NotifyChannel(ev.Account, ev.User, in.Channel)
	if err != nil {
		return SendNotificationResult{}, nonRetryable(TypeNotConfigured, "notify channel "+in.Channel+": "+err.Error(), nil)
	}
	ev.Link = n.link(ctx, ev)
	body, err := notificationBody(ch.Kind, ev)
	if err != nil {
		return SendNotificationResult{}, nonRetryable(TypeValidation, "notify channel "+ch.Name+": "+err.Error(), nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL.Reveal(), bytes.NewReader(body))
	if err != nil {
		// url.Error quotes the URL, which for Slack and Teams is a credential.
		return SendNotificationResult{}, nonRetryable(TypeValidation, "notify channel "+ch.Name+": the URL is not valid", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyrotor")
	req.Header.Set(HeaderEvent, string(ev.Event))
	req.Header.Set(HeaderDelivery, ev.Delivery)
	if ch.Kind == model.NotifyWebhook {
		req.Header.Set(HeaderSignature, Sign(ch.Signing, body))
	}
	log := activityLogger(ctx, ev.Account, ev.User, "notify/"+ch.Name)
	resp, err := n.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL
		}
		log.Warn("notification not delivered", "event", ev.Event, "delivery", ev.Delivery, "error", err.Error())
		return SendNotificationResult{}, fmt.Errorf("notify channel %s: %w", ch.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res := SendNotificationResult{Status: resp.StatusCode}
	if err := notifyAnswer(ch, resp, time.Now()); err != nil {
		log.Warn("notification refused", "event", ev.Event, "delivery", ev.Delivery, "status", resp.StatusCode)
		return res, err
	}
	log.Info("notification delivered", "event", ev.Event, "delivery", ev.Delivery, "status", resp.StatusCode)
	return res, nil
}

// notifyAnswer classifies the receiver's answer. The body is not quoted: a
// receiver may echo anything.
func notifyAnswer(ch model.NotifyChannel, resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	msg := fmt.Sprintf("notify channel %s (%s): the receiver answered %d %s", ch.Name, ch.Kind, code, http.StatusText(code))
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests:
		return rateLimited(msg, providerWait(resp.Header, now), nil)
	case code == http.StatusRequestTimeout || code >= 500:
		return retryable("ReceiverUnavailable", msg, nil)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nonRetryable(TypeUnauthorized, msg+": check the channel's URL and signing secret", nil)
	case code == http.StatusNotFound || code == http.StatusGone:
		return nonRetryable(TypeNotFound, msg+": the webhook does not exist (any more)", nil)
	default:
		return nonRetryable(TypeUnprocessable, msg, nil)
	}
}

// Sign is the webhook signature header's value for body: "sha256=" and the
// hex HMAC-SHA256 keyed with the channel's secret. Receivers compute the
// same over the raw body and compare in constant time.
func Sign(key model.Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// link is the rotation's page in the Temporal Web UI.
func (n *Notifier) link(ctx context.Context, ev contract.Notification) string {
	if n.uiURL == "" || ev.WorkflowID == "" {
		return ""
	}
	ns := "default"
	if activity.IsActivity(ctx) {
		ns = activity.GetInfo(ctx).Namespace
	}
	l := n.uiURL + "/namespaces/" + url.PathEscape(ns) + "/workflows/" + url.PathEscape(ev.WorkflowID)
	if ev.RunID != "" {
		l += "/" + url.PathEscape(ev.RunID)
	}
	return l + "/history"
}

// notificationBody is what the channel's kind takes: the notification
// itself for a webhook, a message for Slack, an Adaptive Card for Teams.
func notificationBody(kind model.NotifyKind, ev contract.Notification) ([]byte, error) {
	switch kind {
	case model.NotifyWebhook:
		return json.Marshal(ev)
	case model.NotifySlack:
		return json.Marshal(slackMessage(ev))
	case model.NotifyTeams:
		return json.Marshal(teamsMessage(ev))
	}
	return nil, fmt.Errorf("unknown channel kind %q", kind)
}

// notificationLines are the facts a chat message shows, in order.
func notificationLines(ev contract.Notification) [][2]string {
	var lines [][2]string
	add := func(k, v string) {
		if v != "" {
			lines = append(lines, [2]string{k, v})
		}
	}
	add("Reason", ev.Reason)
	add("Target", ev.Target)
	add("Old key", ev.OldKeyID)
	add("New key", ev.NewKeyID)
	if rv := ev.Revocation; rv != nil {
		add("Revoked key", rv.AccessKeyID+" ("+rv.State+")")
	}
	var targets []string
	for _, t := range ev.Targets {
		targets = append(targets, t.Target+": "+string(t.State))
	}
	add("Targets", strings.Join(targets, ", "))
	add("Left", ev.Left)
	add("Resolve", strings.Join(ev.Resolve, "\n"))
	return lines
}

func title(ev contract.Notification) string {
	return fmt.Sprintf("keyrotor: %s in %s: %s", ev.User, ev.Account, ev.Summary)
}

// slackMessage is an incoming-webhook message: text for notifications and
// clients without blocks, and blocks with the facts and the link.
// https://api.slack.com/messaging/webhooks
func slackMessage(ev contract.Notification) map[string]any {
	var b strings.Builder
	for _, l := range notificationLines(ev) {
		if strings.Contains(l[1], "\n") {
			fmt.Fprintf(&b, "*%s*\n```%s```\n", l[0], l[1])
			continue
		}
		fmt.Fprintf(&b, "*%s*: %s\n", l[0], l[1])
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(title(ev), 150)}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(b.String(), 3000)}},
	}
	if ev.Link != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{
			{"type": "mrkdwn", "text": "<" + ev.Link + "|Open the rotation in Temporal>"},
		}})
	}
	return map[string]any{"text": title(ev), "blocks": blocks}
}

// teamsMessage is a message with an Adaptive Card, what Teams' incoming
// webhooks (the Workflows ones, and the older connectors) take.
// https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
func teamsMessage(ev contract.Notification) map[string]any {
	var facts []map[string]any
	for _, l := range notificationLines(ev) {
		facts = append(facts, map[string]any{"title": l[0], "value": l[1]})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []map[string]any{
			{"type": "TextBlock", "text": title(ev), "weight": "Bolder", "wrap": true},
			{"type": "FactSet", "facts": facts},
		},
	}
	if ev.Link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "Open in Temporal", "url": ev.Link}}
	}
	return map[string]any{
		"type":        "message",
		"attachments": []map[string]any{{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}},
	}
}
