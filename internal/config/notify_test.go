package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

const notifyFile = `accounts:
  - {name: prod, region: us-east-1}
github: {token: "${GH}"}
temporal: {uiURL: "https://temporal.example.com/"}
notify:
  - webhook: https://hooks.example.com/keyrotor
    secret: ${HOOK_SECRET}
  - slack: ${SLACK_URL}
    events: [failed, holding]
rotations:
  - user: a
    account: prod
    targets: [{github: {repository: acme/api}}]
  - user: b
    account: prod
    targets: [{github: {repository: acme/web}}]
    notify:
      - name: web-team
        teams: ${TEAMS_URL}
        events: [completed]
`

func TestNotify(t *testing.T) {
	env := map[string]string{"GH": "t", "HOOK_SECRET": "s3cret", "SLACK_URL": "https://hooks.slack.com/services/T/B/x", "TEAMS_URL": "https://example.webhook.office.com/x"}
	cfg, err := Parse("k.yaml", []byte(notifyFile), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Empty(t, cfg.Warnings)
	require.Equal(t, "https://temporal.example.com", cfg.UIURL)
	require.NoError(t, cfg.CheckWorker())

	a, err := cfg.Rotation("prod", "a")
	require.NoError(t, err)
	require.Equal(t, []model.NotifyRoute{
		{Channel: "webhook", Events: model.NotifyEvents},
		{Channel: "slack", Events: []model.NotifyEvent{model.EventFailed, model.EventHolding}},
	}, a.Notify)
	b, err := cfg.Rotation("prod", "b")
	require.NoError(t, err)
	require.Len(t, b.Notify, 3)
	require.Equal(t, model.NotifyRoute{Channel: "web-team", Events: []model.NotifyEvent{model.EventCompleted}}, b.Notify[2])

	hook, err := cfg.NotifyChannel("prod", "a", "webhook")
	require.NoError(t, err)
	require.Equal(t, model.NotifyWebhook, hook.Kind)
	require.Equal(t, "s3cret", hook.Signing.Reveal())
	teams, err := cfg.NotifyChannel("prod", "b", "web-team")
	require.NoError(t, err)
	require.Equal(t, model.NotifyTeams, teams.Kind)
	_, err = cfg.NotifyChannel("prod", "a", "web-team")
	require.ErrorContains(t, err, `the rotation of a in prod has no notify channel "web-team"; its channels: webhook, slack`)

	// Nothing of a channel's address or key reaches the workflow.
	for _, s := range []string{"s3cret", "hooks.slack.com", "webhook.office.com"} {
		require.NotContains(t, strings.Join([]string{a.Digest(), b.Digest()}, ""), s)
	}
}

func TestNotifyErrors(t *testing.T) {
	base := "accounts:\n  - {name: prod, region: us-east-1}\ngithub: {token: t}\nrotations:\n  - {user: u, account: prod, targets: [{github: {repository: a/b}}]}\n"
	tests := []struct{ name, src, want string }{
		{"no kind", "notify:\n  - events: [failed]\n", "k.yaml:7:5: notify[0]: needs exactly one of webhook, slack or teams"},
		{"two kinds", "notify:\n  - {slack: 'https://a.example', teams: 'https://b.example'}\n", "notify[0]: needs exactly one of webhook, slack or teams"},
		{"webhook without secret", "notify:\n  - webhook: https://h.example\n", "notify[0].secret: is required"},
		{"secret on slack", "notify:\n  - {slack: 'https://a.example', secret: x}\n", "notify[0].secret: only a webhook channel is signed"},
		{"plain http", "notify:\n  - {webhook: 'http://h.example', secret: x}\n", "notify[0].webhook: must be an https URL (plain http only to a loopback address)"},
		{"not a URL", "notify:\n  - {slack: 'hooks'}\n", "notify[0].slack: must be an https URL"},
		{"unknown event", "notify:\n  - {slack: 'https://a.example', events: [done]}\n", `notify[0].events[0]: unknown event "done"; events: completed, failed, holding, revoked, rolledBack, targetFailed`},
		{"event twice", "notify:\n  - {slack: 'https://a.example', events: [failed, failed]}\n", `notify[0].events[1]: event "failed" is listed twice`},
		{"two unnamed of a kind", "notify:\n  - {slack: 'https://a.example'}\n  - {slack: 'https://b.example'}\n", `notify[1]: duplicate notify channel "slack": unnamed channels are called after their kind`},
		{"bad name", "notify:\n  - {name: 'a b', slack: 'https://a.example'}\n", `notify[0].name: "a b" is not a channel name`},
		{"bad uiURL", "temporal: {uiURL: 'temporal.example.com'}\n", "temporal.uiURL: must be the Temporal Web UI's http or https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(base+tc.src), nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// A rotation's channel may not take a name the file's channels use.
	_, err := Parse("k.yaml", []byte(base[:strings.Index(base, "rotations:")]+
		"notify:\n  - {slack: 'https://a.example'}\nrotations:\n  - user: u\n    account: prod\n    targets: [{github: {repository: a/b}}]\n    notify: [{slack: 'https://b.example'}]\n"), nil)
	require.ErrorContains(t, err, `rotations[0].notify[0]: duplicate notify channel "slack"`)
}

func TestNotifyPlainTextWarningsAndCheckWorker(t *testing.T) {
	src := "accounts:\n  - {name: prod, region: us-east-1}\ngithub: {token: '${GH}'}\nnotify:\n  - {slack: 'https://hooks.slack.com/services/T/B/x'}\n  - {webhook: 'https://h.example', secret: '${UNSET}'}\nrotations:\n  - {user: u, account: prod, targets: [{github: {repository: a/b}}]}\n"
	cfg, err := Parse("k.yaml", []byte(src), func(k string) (string, bool) { return "t", k == "GH" })
	require.NoError(t, err)
	warnings := strings.Join(cfg.Warnings, "\n")
	require.Contains(t, warnings, "notify[0].slack: the slack webhook URL is a credential written in plain text")
	require.NotContains(t, warnings, "hooks.slack.com")
	require.Contains(t, warnings, "environment variable UNSET is not set")
	require.ErrorContains(t, cfg.CheckWorker(), `webhook channel "webhook" has an empty signing secret`)
}
