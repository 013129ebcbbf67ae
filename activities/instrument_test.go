package activities

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/emulator/githubemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// recordedMetrics is a Metrics that remembers what it was told.
type recordedMetrics struct {
	mu     sync.Mutex
	pushes []string // provider kind outcome
	waits  []string
	keys   [][]model.AccessKey
	quota  []string // provider in_place|handed_off
}

func (m *recordedMetrics) QuotaWait(provider string, _ time.Duration, handedOff bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	how := "in_place"
	if handedOff {
		how = "handed_off"
	}
	m.quota = append(m.quota, provider+" "+how)
}

func (m *recordedMetrics) PushAttempt(provider, kind, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pushes = append(m.pushes, provider+" "+kind+" "+outcome)
}

func (m *recordedMetrics) RateLimitWait(provider string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waits = append(m.waits, provider)
}

func (m *recordedMetrics) Keys(_, _ string, keys []model.AccessKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, slices.Clone(keys))
}

// Every push attempt is counted once with its provider, kind and outcome,
// and every rate-limited answer once; a target the worker does not
// configure is counted as failed, under its kind only when the kind is real.
func TestPushMetrics(t *testing.T) {
	m := &recordedMetrics{}
	gh := newGHEnv(t, nil)
	gh.emu.Faults.Add(githubemu.SecondaryRateLimit("public-key", http.StatusTooManyRequests, time.Second, 1))
	act := gh.activity(t, ghToken, 0, pushConfig(model.SecretNames{}, repoTarget))
	act.opts = newOptions([]Option{WithMetrics(m)})
	if _, err := act.PushGitHubSecret(context.Background(), pushInput(repoTarget)); err != nil {
		t.Fatal(err)
	}
	_, err := act.PushGitHubSecret(context.Background(), pushInput(envTarget))
	if err == nil {
		t.Fatal("an unconfigured target was pushed")
	}
	_, _ = act.PushGitHubSecret(context.Background(), pushInput(model.Target{Kind: "made-up", Repository: "acme/api"}))

	gl := newGitLabTestEnv(t, model.Target{Kind: model.GitLabGroup, Group: "acme"})
	gl.act.opts = newOptions([]Option{WithMetrics(m)})
	if _, err := gl.act.PushGitLabVariable(context.Background(), gitlabInput(model.Target{Kind: model.GitLabGroup, Group: "acme"})); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"github github-repository confirmed",
		"github github-environment failed",
		"github unknown failed",
		"gitlab gitlab-group confirmed",
	}
	if !slices.Equal(m.pushes, want) {
		t.Errorf("pushes %q, want %q", m.pushes, want)
	}
	if !slices.Equal(m.waits, []string{"github"}) {
		t.Errorf("rate-limit waits %q, want one for github", m.waits)
	}
}

// The IAM activities report the user's keys as they leave them: inspect,
// create, deactivate and delete each tell the metrics.
func TestIAMReportsKeys(t *testing.T) {
	env := newIAMEnv(t)
	m := &recordedMetrics{}
	env.act.opts = newOptions([]Option{WithMetrics(m)})
	old := env.seedKey(t, model.KeyActive)
	ctx := context.Background()
	if _, err := env.act.InspectKeys(ctx, InspectKeysInput{Account: iamTestAccount, User: iamTestUser}); err != nil {
		t.Fatal(err)
	}
	created, err := env.act.CreateAccessKey(ctx, CreateAccessKeyInput{Account: iamTestAccount, User: iamTestUser, KnownKeyIDs: []string{old.ID}, NotBefore: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	key := KeyInput{Account: iamTestAccount, User: iamTestUser, AccessKeyID: old.ID}
	if _, err := env.act.DeactivateAccessKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := env.act.DeleteAccessKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	describe := func(keys []model.AccessKey) []string {
		var out []string
		for _, k := range keys {
			name := "old"
			if k.ID == created.Key.ID {
				name = "new"
			}
			if k.CreatedAt.IsZero() {
				name += " (no date)"
			}
			out = append(out, name+" "+k.Status)
		}
		return out
	}
	want := [][]string{
		{"old Active"},
		{"old Active", "new Active"},
		{"old Inactive", "new Active"},
		{"new Active"},
	}
	if len(m.keys) != len(want) {
		t.Fatalf("%d reports, want %d: %v", len(m.keys), len(want), m.keys)
	}
	for i := range want {
		if got := describe(m.keys[i]); !slices.Equal(got, want[i]) {
			t.Errorf("report %d: %q, want %q", i, got, want[i])
		}
	}
}
