package activities

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// channelsOf is a worker configuration with the given channels for every
// rotation.
type channelsOf []model.NotifyChannel

func (c channelsOf) NotifyChannel(_, _, name string) (model.NotifyChannel, error) {
	for _, ch := range c {
		if ch.Name == name {
			return ch, nil
		}
	}
	return model.NotifyChannel{}, errors.New("no such channel " + name)
}

// receiver is a webhook endpoint that answers status for its first calls,
// then 204, and records the bodies with their headers.
type receiver struct {
	mu       sync.Mutex
	failWith []int
	calls    int
	bodies   [][]byte
	headers  []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	rc.calls++
	if rc.calls <= len(rc.failWith) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(rc.failWith[rc.calls-1])
		return
	}
	rc.bodies = append(rc.bodies, body)
	rc.headers = append(rc.headers, r.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

func testNotification() contract.Notification {
	return contract.Notification{
		Event: model.EventHolding, Delivery: "notify/rotate/prod/ci-deployer/run-1/3",
		Account: "prod", User: "ci-deployer", WorkflowID: "rotate/prod/ci-deployer", RunID: "run-1",
		Summary: "holding: an operator is needed", Reason: "old key AKIAOLD was used after the push",
		Resolve:  []string{"starter proceed --account prod --user ci-deployer"},
		OldKeyID: "AKIAOLD", NewKeyID: "AKIANEW",
		Targets: []contract.TargetStatus{{Target: "github acme/api", State: contract.TargetConfirmed}},
	}
}

func TestSendNotificationSignsAndRetries(t *testing.T) {
	rc := &receiver{failWith: []int{503, 429}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	const key = model.Secret("webhook-signing-key")
	n := NewNotifier(channelsOf{{Name: "sec", Kind: model.NotifyWebhook, URL: model.Secret(srv.URL + "/hook"), Signing: key}}, "https://temporal.example.com/", nil)
	in := SendNotificationInput{Channel: "sec", Notification: testNotification()}

	// The first two calls fail as the receiver answers: 503 is left to
	// Temporal's retries, 429 waits for the receiver's Retry-After.
	_, err := n.SendNotification(context.Background(), in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.False(t, app.NonRetryable())
	require.Contains(t, err.Error(), "notify channel sec (webhook): the receiver answered 503")
	_, err = n.SendNotification(context.Background(), in)
	require.ErrorAs(t, err, &app)
	require.Equal(t, TypeRateLimited, app.Type())
	require.Equal(t, "7s", app.NextRetryDelay().String())
	res, err := n.SendNotification(context.Background(), in)
	require.NoError(t, err)
	require.Equal(t, 204, res.Status)

	require.Len(t, rc.bodies, 1)
	body, h := rc.bodies[0], rc.headers[0]
	// The receiver checks the signature the way GitHub's docs describe.
	require.True(t, hmac.Equal([]byte(Sign(key, body)), []byte(h.Get(HeaderSignature))), "signature %s", h.Get(HeaderSignature))
	require.True(t, strings.HasPrefix(h.Get(HeaderSignature), "sha256="))
	require.NotEqual(t, Sign("another key", body), h.Get(HeaderSignature))
	require.Equal(t, "holding", h.Get(HeaderEvent))
	require.Equal(t, in.Notification.Delivery, h.Get(HeaderDelivery))
	var got contract.Notification
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "AKIANEW", got.NewKeyID)
	require.Equal(t, "https://temporal.example.com/namespaces/default/workflows/rotate%2Fprod%2Fci-deployer/run-1/history", got.Link)
	require.Equal(t, in.Notification.Resolve, got.Resolve)
}

func TestSendNotificationSlackAndTeams(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := NewNotifier(channelsOf{
		{Name: "chat", Kind: model.NotifySlack, URL: model.Secret(srv.URL + "/services/T/B/x")},
		{Name: "teams", Kind: model.NotifyTeams, URL: model.Secret(srv.URL + "/webhookb2/x")},
	}, "https://temporal.example.com", nil)
	for _, ch := range []string{"chat", "teams"} {
		_, err := n.SendNotification(context.Background(), SendNotificationInput{Channel: ch, Notification: testNotification()})
		require.NoError(t, err)
	}
	var slack struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(rc.bodies[0], &slack))
	require.Equal(t, "keyrotor: ci-deployer in prod: holding: an operator is needed", slack.Text)
	require.Len(t, slack.Blocks, 3)
	require.Contains(t, string(rc.bodies[0]), "starter proceed --account prod --user ci-deployer")
	require.Empty(t, rc.headers[0].Get(HeaderSignature), "Slack is not signed")

	var teams struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Actions []struct {
					URL string `json:"url"`
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(rc.bodies[1], &teams))
	require.Equal(t, "message", teams.Type)
	require.Equal(t, "application/vnd.microsoft.card.adaptive", teams.Attachments[0].ContentType)
	require.Equal(t, "AdaptiveCard", teams.Attachments[0].Content.Type)
	require.Contains(t, teams.Attachments[0].Content.Actions[0].URL, "/workflows/rotate%2Fprod%2Fci-deployer/run-1/history")
}

func TestSendNotificationErrors(t *testing.T) {
	tests := []struct {
		status   int
		wantType string
		final    bool
	}{
		{401, TypeUnauthorized, true},
		{403, TypeUnauthorized, true},
		{404, TypeNotFound, true},
		{410, TypeNotFound, true},
		{400, TypeUnprocessable, true},
		{408, "ReceiverUnavailable", false},
		{500, "ReceiverUnavailable", false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(&receiver{failWith: []int{tc.status}})
			defer srv.Close()
			url := srv.URL + "/services/T0000/B0000/SECRETPATHTOKEN"
			n := NewNotifier(channelsOf{{Name: "chat", Kind: model.NotifySlack, URL: model.Secret(url)}}, "", nil)
			_, err := n.SendNotification(context.Background(), SendNotificationInput{Channel: "chat", Notification: testNotification()})
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			require.Equal(t, tc.wantType, app.Type())
			require.Equal(t, tc.final, app.NonRetryable())
			require.NotContains(t, err.Error(), "SECRETPATHTOKEN", "a Slack URL is a credential")
		})
	}
	// A receiver that cannot be reached: retried, and the URL not quoted.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T0000/B0000/SECRETPATHTOKEN"
	srv.Close()
	n := NewNotifier(channelsOf{{Name: "chat", Kind: model.NotifySlack, URL: model.Secret(url)}}, "", nil)
	_, err := n.SendNotification(context.Background(), SendNotificationInput{Channel: "chat", Notification: testNotification()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "notify channel chat")
	require.NotContains(t, err.Error(), "SECRETPATHTOKEN")
	// A channel the worker does not have.
	_, err = n.SendNotification(context.Background(), SendNotificationInput{Channel: "other", Notification: testNotification()})
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, TypeNotConfigured, app.Type())
}
