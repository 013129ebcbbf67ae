// Package metrics is what the worker tells its monitoring: keyrotor's own
// Prometheus metrics, the Temporal SDK's worker metrics, and the /metrics,
// /healthz and /readyz endpoints (Serve).
//
// Where each number comes from, and why there:
//
//   - Rotations started, completed, failed, rolled back (and cancelled),
//     and revoke requests: a workflow inbound interceptor on the worker
//     (Interceptor). It sees each rotation's input, its result and its
//     revoke signals and updates, and counts only what the SDK runs for
//     the first time, never what it replays from history (after a worker
//     restart or a cache eviction), so a rotation counts once. The workflow
//     code never touches a metric: it stays deterministic.
//   - Pushes and rate-limit waits: the push activities, through
//     activities.Metrics, which this package implements.
//   - Key ages: the IAM activities, which list the user's keys with their
//     CreateDate (Keys).
//   - Which rotations hold, and when each last completed: Temporal's
//     visibility store, read by the KeyrotorPhase search attribute every
//     poll interval (Watch). Every worker reads the same store, so these
//     gauges agree across workers and are right again at once after a
//     restart.
//   - The rotation policy: the worker's configuration (Configure).
//   - The oldest active key of each account, any user's: a periodic audit
//     (WatchOptions.Audit, every AuditEvery), which lists every user's
//     keys; too costly to run on every scrape.
//
// Nothing here imports the workflows or the activities: worker/compose
// wires this package to them.
package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Names of keyrotor's own metrics. Alert rules use them: keep them stable.
const (
	RotationsStarted    = "keyrotor_rotations_started_total"        // counter{account}
	RotationsCompleted  = "keyrotor_rotations_completed_total"      // counter{account}: ended done
	RotationsFailed     = "keyrotor_rotations_failed_total"         // counter{account}
	RotationsRolledBack = "keyrotor_rotations_rolled_back_total"    // counter{account}
	RotationsCancelled  = "keyrotor_rotations_cancelled_total"      // counter{account}
	RotationsHolding    = "keyrotor_rotations_holding"              // gauge{account,user}: 1 while the rotation holds
	Pushes              = "keyrotor_pushes_total"                   // counter{provider,kind,outcome}: push attempts
	RateLimitWaits      = "keyrotor_rate_limit_waits_total"         // counter{provider}
	QuotaWaits          = "keyrotor_quota_waits_total"              // counter{provider,how}: calls that waited for their turn on the quota
	QuotaWaitSeconds    = "keyrotor_quota_wait_seconds_total"       // counter{provider}: time calls waited in place for their turn
	Revocations         = "keyrotor_revocations_total"              // counter{mode}: revoke requests received
	OldestKeyAge        = "keyrotor_oldest_key_age_seconds"         // gauge{account,user}: age of the oldest active key
	RotationPolicy      = "keyrotor_rotation_policy_seconds"        // gauge{account,user}: the policy's every
	SinceLastRotation   = "keyrotor_seconds_since_last_rotation"    // gauge{account,user}: since the last rotation completed
	AccountOldestKeyAge = "keyrotor_account_oldest_key_age_seconds" // gauge{account}: oldest active key of any user, from the periodic audit
)

// Revocation modes, the values of the mode label of Revocations.
const (
	ModeDefault = "default" // revoke once the replacement is confirmed everywhere
	ModeNow     = "now"     // deactivate at once
	ModeInvalid = "invalid" // a payload the rotation rejects
)

// unknownAccount labels a rotation of an account the worker's configuration
// does not list (the rotation is refused), so that whoever can start a
// workflow cannot invent label values.
const unknownAccount = "unknown"

// Metrics holds keyrotor's metrics and the worker's readiness. It
// implements activities.Metrics. A nil *Metrics is not valid: build one
// with New.
type Metrics struct {
	registry *prometheus.Registry
	sdk      client.MetricsHandler
	now      func() time.Time

	started, completed, failed, rolledBack, cancelled *prometheus.CounterVec
	pushes, rateLimitWaits, revocations               *prometheus.CounterVec
	quotaWaits, quotaWaitSeconds                      *prometheus.CounterVec
	policy                                            *prometheus.GaugeVec

	mu         sync.Mutex
	configured map[rotationKey]model.Rotation // by lower-case user: IAM names ignore case
	accounts   map[string]bool
	oldestKey  map[rotationKey]time.Time // creation of the oldest active key
	keysSeen   map[rotationKey]time.Time // when the IAM steps last reported the keys
	endedHere  map[rotationKey]string    // the run ID of the last rotation run that ended on this worker
	lastDone   map[rotationKey]time.Time // when the last rotation completed
	holding    map[rotationKey]bool      // from the last visibility poll
	polled     bool                      // a visibility poll succeeded
	// accountOldest is, per account the last audit read in full, the
	// creation of its oldest active key (zero: it has none).
	accountOldest map[string]time.Time

	ready readiness
}

// rotationKey names a configured rotation; user is lower case.
type rotationKey struct{ account, user string }

func keyOf(account, user string) rotationKey {
	return rotationKey{account: account, user: strings.ToLower(user)}
}

// New builds the metrics: keyrotor's own, the Go runtime's and the
// process's, and a registry the SDK's worker metrics go to (SDKHandler).
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	byAccount := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"account"})
	}
	m := &Metrics{
		registry:   reg,
		now:        time.Now,
		started:    byAccount(RotationsStarted, "Rotations started (first run of the workflow on a worker)."),
		completed:  byAccount(RotationsCompleted, "Rotations that ended done: the old key deleted, every target on the new key."),
		failed:     byAccount(RotationsFailed, "Rotations that ended failed."),
		rolledBack: byAccount(RotationsRolledBack, "Rotations that ended rolled back on an operator's request."),
		cancelled:  byAccount(RotationsCancelled, "Rotations that ended cancelled."),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Pushes,
			Help: "Push attempts by provider, target kind and outcome (confirmed, retry, failed, cancelled)."},
			[]string{"provider", "kind", "outcome"}),
		rateLimitWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: RateLimitWaits,
			Help: "Answers of a provider (github, gitlab, aws) asking keyrotor to wait."}, []string{"provider"}),
		quotaWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: QuotaWaits,
			Help: "Provider calls that waited for their turn on the credential's quota (the worker's limiter): how=in_place, or handed_off (the push came back later)."},
			[]string{"provider", "how"}),
		quotaWaitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: QuotaWaitSeconds,
			Help: "Seconds provider calls waited in place for their turn on the quota."}, []string{"provider"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Revocations,
			Help: "Revoke requests received (signals, and updates the rotation accepted), by mode (default, now, invalid)."},
			[]string{"mode"}),
		policy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: RotationPolicy,
			Help: "The rotation policy's period in seconds (every, or the longest gap between cron runs)."},
			[]string{"account", "user"}),
		configured: map[rotationKey]model.Rotation{},
		accounts:   map[string]bool{},
		oldestKey:  map[rotationKey]time.Time{},
		keysSeen:   map[rotationKey]time.Time{},
		endedHere:  map[rotationKey]string{},
		lastDone:   map[rotationKey]time.Time{},
	}
	m.ready.init()
	for _, c := range []prometheus.Collector{
		m.started, m.completed, m.failed, m.rolledBack, m.cancelled,
		m.pushes, m.rateLimitWaits, m.revocations, m.policy, m.quotaWaits, m.quotaWaitSeconds,
		stateCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	sdk, err := newSDKHandler(reg)
	if err != nil {
		return nil, err
	}
	m.sdk = sdk
	return m, nil
}

// Registry is where every metric is registered; /metrics serves it.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// SDKHandler is the Temporal SDK's metrics handler (client.Options
// MetricsHandler): the SDK's worker, workflow and activity metrics,
// served on /metrics next to keyrotor's.
func (m *Metrics) SDKHandler() client.MetricsHandler { return m.sdk }

// Configure tells the metrics which rotations the worker's configuration
// holds: their policy gauge, and the account and user labels the other
// gauges may carry. Rotations the configuration does not list get no
// per-user series.
func (m *Metrics) Configure(rotations []model.Rotation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policy.Reset()
	clear(m.configured)
	clear(m.accounts)
	for _, r := range rotations {
		m.configured[keyOf(r.Account, r.User)] = r
		m.accounts[r.Account] = true
		if p := config.PolicyPeriod(r.Policy, m.now()); p > 0 {
			m.policy.WithLabelValues(r.Account, r.User).Set(p.Seconds())
		}
	}
}

// rotation returns the configured rotation of user in account.
func (m *Metrics) rotation(account, user string) (model.Rotation, bool) {
	r, ok := m.configured[keyOf(account, user)]
	return r, ok
}

// accountLabel is account when the configuration lists it (or lists none).
func (m *Metrics) accountLabel(account string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.accounts) == 0 || m.accounts[account] {
		return account
	}
	return unknownAccount
}

// PushAttempt counts the end of one push attempt (activities.Metrics).
func (m *Metrics) PushAttempt(provider, kind, outcome string) {
	m.pushes.WithLabelValues(provider, kind, outcome).Inc()
}

// RateLimitWait counts one answer asking to wait (activities.Metrics).
func (m *Metrics) RateLimitWait(provider string) {
	m.rateLimitWaits.WithLabelValues(provider).Inc()
}

// QuotaWait counts a call that waited for its turn on the quota
// (activities.Metrics).
func (m *Metrics) QuotaWait(provider string, waited time.Duration, handedOff bool) {
	if handedOff {
		m.quotaWaits.WithLabelValues(provider, "handed_off").Inc()
		return
	}
	m.quotaWaits.WithLabelValues(provider, "in_place").Inc()
	m.quotaWaitSeconds.WithLabelValues(provider).Add(waited.Seconds())
}

// Keys records the creation time of the user's oldest active key, from
// the keys an IAM activity just saw (activities.Metrics). A user with no
// active key has no key age.
func (m *Metrics) Keys(account, user string, keys []model.AccessKey) {
	var oldest time.Time
	for _, k := range keys {
		if k.Status == model.KeyActive && !k.CreatedAt.IsZero() && (oldest.IsZero() || k.CreatedAt.Before(oldest)) {
			oldest = k.CreatedAt
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rotation(account, user); !ok {
		return
	}
	k := keyOf(account, user)
	m.keysSeen[k] = m.now()
	if oldest.IsZero() {
		delete(m.oldestKey, k)
		return
	}
	m.oldestKey[k] = oldest
}

// rotationEnded counts the end of run runID of a rotation on this worker;
// c is the counter of its outcome.
func (m *Metrics) rotationEnded(c *prometheus.CounterVec, account, user, runID string, at time.Time) {
	c.WithLabelValues(m.accountLabel(account)).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rotation(account, user); !ok {
		return
	}
	m.endedHere[keyOf(account, user)] = runID
	if c == m.completed {
		m.noteDone(account, user, at)
	}
}

// noteDone records that the rotation completed at at, unless a later
// completion is known. The caller holds mu.
func (m *Metrics) noteDone(account, user string, at time.Time) {
	if _, ok := m.rotation(account, user); !ok {
		return
	}
	k := keyOf(account, user)
	if at.After(m.lastDone[k]) {
		m.lastDone[k] = at
	}
}

// stateCollector reports the gauges that are worked out when scraped:
// ages and times since, from the times recorded, and the holding state
// from the last visibility poll.
type stateCollector struct{ m *Metrics }

var (
	holdingDesc = prometheus.NewDesc(RotationsHolding,
		"1 while the rotation holds (waits for an operator: failed targets while its old key is revoked, or an old key still in use), else 0; from Temporal's visibility.",
		[]string{"account", "user"}, nil)
	oldestKeyDesc = prometheus.NewDesc(OldestKeyAge,
		"Age of the user's oldest active access key, as the IAM activities last saw the keys on this worker (dropped once another worker ended a later run).",
		[]string{"account", "user"}, nil)
	accountOldestDesc = prometheus.NewDesc(AccountOldestKeyAge,
		"Age of the oldest active access key of any IAM user in the account (0 when none), from the worker's periodic audit; absent until an audit read the account in full.",
		[]string{"account"}, nil)
	sinceLastDesc = prometheus.NewDesc(SinceLastRotation,
		"Seconds since the user's last rotation completed (done), from Temporal's visibility (within the namespace's retention) and this worker.",
		[]string{"account", "user"}, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- holdingDesc
	ch <- oldestKeyDesc
	ch <- sinceLastDesc
	ch <- accountOldestDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.configured {
		if m.polled {
			v := 0.0
			if m.holding[k] {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(holdingDesc, prometheus.GaugeValue, v, r.Account, r.User)
		}
		if t, ok := m.oldestKey[k]; ok {
			ch <- prometheus.MustNewConstMetric(oldestKeyDesc, prometheus.GaugeValue, max(now.Sub(t), 0).Seconds(), r.Account, r.User)
		}
		if t, ok := m.lastDone[k]; ok {
			ch <- prometheus.MustNewConstMetric(sinceLastDesc, prometheus.GaugeValue, max(now.Sub(t), 0).Seconds(), r.Account, r.User)
		}
	}
	for account, t := range m.accountOldest {
		age := 0.0
		if !t.IsZero() {
			age = max(now.Sub(t), 0).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(accountOldestDesc, prometheus.GaugeValue, age, account)
	}
}
