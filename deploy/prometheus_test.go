package deploy_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

const alertsFile = "deploy/prometheus/alerts.yml"

// alertMetrics are the series the alerts read: names the worker's
// internal/metrics exports (TestAlertRules checks its source).
var alertMetrics = []string{
	"keyrotor_oldest_key_age_seconds",
	"keyrotor_rotation_policy_seconds",
	"keyrotor_rotations_failed_total",
	"keyrotor_rotations_holding",
	"keyrotor_seconds_since_last_rotation",
}

func loadAlerts(t *testing.T) map[string]rulefmt.RuleNode {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join(root, filepath.FromSlash(alertsFile)))
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	rules := map[string]rulefmt.RuleNode{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert.Value == "" {
				t.Errorf("%s: group %s has a recording rule %s", alertsFile, g.Name, r.Record.Value)
				continue
			}
			rules[r.Alert.Value] = r
		}
	}
	return rules
}

// TestAlertRules parses alerts.yml with Prometheus's own rule parser (which
// also parses every expression and annotation template), and checks the
// alerts, their labels and annotations, and the metric names they read.
func TestAlertRules(t *testing.T) {
	rules := loadAlerts(t)
	want := map[string]time.Duration{
		"KeyrotorRotationHolding":      time.Hour,
		"KeyrotorKeyOlderThanPolicy":   15 * time.Minute,
		"KeyrotorRotationFailed":       0,
		"KeyrotorNoSuccessfulRotation": 15 * time.Minute,
		"KeyrotorMetricsAbsent":        30 * time.Minute,
	}
	var names []string
	used := map[string]bool{}
	for name, r := range rules {
		names = append(names, name)
		if d, ok := want[name]; !ok {
			t.Errorf("unexpected alert %s", name)
		} else if time.Duration(r.For) != d {
			t.Errorf("%s: for %v, want %v", name, time.Duration(r.For), d)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q", name, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: needs summary and description annotations", name)
		}
		expr, err := parser.ParseExpr(r.Expr.Value)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				used[vs.Name] = true
			}
			return nil
		})
	}
	if len(rules) != len(want) {
		t.Errorf("alerts %v, want %d", names, len(want))
	}
	var usedNames []string
	for n := range used {
		usedNames = append(usedNames, n)
	}
	slices.Sort(usedNames)
	if !slices.Equal(usedNames, alertMetrics) {
		t.Errorf("the alerts read %v, want %v", usedNames, alertMetrics)
	}

	// The worker exports them: each is a string constant of internal/metrics.
	dir := filepath.Join(root, "internal", "metrics")
	if _, err := os.Stat(dir); err != nil {
		t.Logf("internal/metrics is not there yet (%v): not checking the metric names against it", err)
		return
	}
	lits := stringLiterals(t, dir)
	for _, name := range alertMetrics {
		if !lits[name] {
			t.Errorf("internal/metrics exports no %s, which the alerts read", name)
		}
	}
}

// TestAlertRulesFire evaluates every alert with Prometheus's query engine
// on made-up series, every minute, as Prometheus's rule manager does: an
// alert fires once its expression has returned the same labels for its
// whole `for`. Two workers export the same series, so each problem must
// alert once, labelled with its account and user.
func TestAlertRulesFire(t *testing.T) {
	rules := loadAlerts(t)
	day := 24 * time.Hour
	const policy = 30 * 24 * 3600
	start := time.Unix(1_700_000_000, 0)
	both := func(name string, base labels.Labels, f func(m int) float64) []series {
		var out []series
		for _, inst := range []string{"worker-a", "worker-b"} {
			b := labels.NewBuilder(base)
			b.Set(labels.MetricName, name)
			b.Set("instance", inst)
			out = append(out, series{b.Labels(), f})
		}
		return out
	}
	user := func(u string) labels.Labels { return labels.FromStrings("account", "prod", "user", u) }
	account := func(a string) labels.Labels { return labels.FromStrings("account", a) }
	policies := append(both("keyrotor_rotation_policy_seconds", user("ok"), constant(policy)),
		both("keyrotor_rotation_policy_seconds", user("late"), constant(policy))...)

	cases := []struct {
		alert  string
		series []series
		at     map[time.Duration][]string // minute offset: users firing then
	}{
		{
			alert: "KeyrotorRotationHolding",
			series: append(both("keyrotor_rotations_holding", user("late"), func(m int) float64 { return b2f(m >= 10) }),
				both("keyrotor_rotations_holding", user("ok"), constant(0))...),
			at: map[time.Duration][]string{30 * time.Minute: nil, 69 * time.Minute: nil, 71 * time.Minute: {"late"}},
		},
		{
			alert: "KeyrotorKeyOlderThanPolicy",
			series: append(append(both("keyrotor_oldest_key_age_seconds", user("late"), func(m int) float64 { return 44*day.Seconds() + float64(m)*3600 }),
				both("keyrotor_oldest_key_age_seconds", user("ok"), constant(3*day.Seconds()))...), policies...),
			// 44 days + m hours passes 1.5 × 30 days at m = 24; fires 15 minutes later.
			at: map[time.Duration][]string{23 * time.Minute: nil, 38 * time.Minute: nil, 40 * time.Minute: {"late"}},
		},
		{
			// A counter per account; the prod account's rotation fails at
			// minute 30, and a worker restarting (its counter starting
			// again at 0) is no failure.
			alert: "KeyrotorRotationFailed",
			series: append(append(both("keyrotor_rotations_failed_total", account("prod"), func(m int) float64 { return b2f(m >= 30) }),
				both("keyrotor_rotations_failed_total", account("dev"), func(m int) float64 { return 3 * b2f(m < 50) })...),
				series{labels.FromStrings(labels.MetricName, "keyrotor_rotations_failed_total", "account", "dev", "instance", "worker-c"), func(m int) float64 {
					if m < 60 {
						return math.NaN()
					}
					return 0
				}}),
			at: map[time.Duration][]string{29 * time.Minute: nil, 31 * time.Minute: {"prod"}, 80 * time.Minute: {"prod"}, 100 * time.Minute: nil},
		},
		{
			alert: "KeyrotorNoSuccessfulRotation",
			series: append(append(both("keyrotor_seconds_since_last_rotation", user("late"), func(m int) float64 { return 44.9*day.Seconds() + float64(m)*60 }),
				both("keyrotor_seconds_since_last_rotation", user("ok"), func(m int) float64 { return day.Seconds() + float64(m)*60 })...), policies...),
			// 44.9 days pass 1.5 × 30 days after 144 minutes; fires 15 minutes later.
			at: map[time.Duration][]string{150 * time.Minute: nil, 160 * time.Minute: {"late"}},
		},
		{
			alert:  "KeyrotorMetricsAbsent",
			series: both("keyrotor_rotations_holding", user("ok"), constant(0)),
			at:     map[time.Duration][]string{29 * time.Minute: nil, 31 * time.Minute: {""}},
		},
		{
			alert:  "KeyrotorMetricsAbsent",
			series: policies,
			at:     map[time.Duration][]string{90 * time.Minute: nil},
		},
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, c := range cases {
		r, ok := rules[c.alert]
		if !ok {
			t.Errorf("no alert %s", c.alert)
			continue
		}
		var end time.Duration
		for at := range c.at {
			end = max(end, at)
		}
		firing := evalAlert(t, engine, memStorage{start: start, series: c.series}, r, start, end)
		for at, want := range c.at {
			got := firing[at]
			if !slices.Equal(got, want) {
				t.Errorf("%s after %v: firing for users %q, want %q", c.alert, at, got, want)
			}
		}
	}
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// evalAlert evaluates r's expression every minute from start to start+end
// and returns, for each minute, the users (label "user", else "account")
// it fires for: an
// output series fires once it has been returned at every evaluation for
// r.For. Each firing series must carry account and user and nothing that
// differs between workers.
func evalAlert(t *testing.T, engine *promql.Engine, q storage.Queryable, r rulefmt.RuleNode, start time.Time, end time.Duration) map[time.Duration][]string {
	t.Helper()
	activeSince := map[string]time.Time{}
	out := map[time.Duration][]string{}
	perInstance := false
	for at := time.Duration(0); at <= end; at += time.Minute {
		ts := start.Add(at)
		qry, err := engine.NewInstantQuery(context.Background(), q, nil, r.Expr.Value, ts)
		if err != nil {
			t.Fatalf("%s: %v", r.Alert.Value, err)
		}
		res := qry.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%s at %v: %v", r.Alert.Value, at, res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			t.Fatalf("%s: %v", r.Alert.Value, err)
		}
		now := map[string]bool{}
		for _, s := range vec {
			if s.Metric.Has("instance") && !perInstance {
				perInstance = true
				t.Errorf("%s: alerts per worker instance (%v): it would fire once per worker", r.Alert.Value, s.Metric)
			}
			key := s.Metric.String()
			now[key] = true
			if _, ok := activeSince[key]; !ok {
				activeSince[key] = ts
			}
			if ts.Sub(activeSince[key]) >= time.Duration(r.For) {
				who := s.Metric.Get("user")
				if who == "" {
					who = s.Metric.Get("account")
				}
				out[at] = append(out[at], who)
			}
		}
		for k := range activeSince {
			if !now[k] {
				delete(activeSince, k)
			}
		}
		sort.Strings(out[at])
		qry.Close()
	}
	return out
}

// series is a made-up series with one sample a minute: f(minute).
type series struct {
	labels labels.Labels
	f      func(minute int) float64
}

// memStorage serves made-up series to the query engine, from two hours
// before start to four hours after.
type memStorage struct {
	start  time.Time
	series []series
}

func (m memStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	return memQuerier{m: m, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	m          memStorage
	mint, maxt int64
}

func (q memQuerier) Select(_ context.Context, sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range q.m.series {
		match := true
		for _, m := range ms {
			if !m.Matches(s.labels.Get(m.Name)) {
				match = false
			}
		}
		if !match {
			continue
		}
		var samples []chunks.Sample
		for minute := -120; minute <= 240; minute++ {
			ts := q.m.start.Add(time.Duration(minute) * time.Minute).UnixMilli()
			if ts < q.mint || ts > q.maxt {
				continue
			}
			v := s.f(minute)
			if math.IsNaN(v) {
				continue
			}
			samples = append(samples, fsample{t: ts, f: v})
		}
		if len(samples) > 0 {
			out = append(out, storage.NewListSeries(s.labels, samples))
		}
	}
	if sortSeries {
		sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	}
	return &listSeriesSet{series: out, i: -1}
}

func (memQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memQuerier) Close() error { return nil }

type listSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *listSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *listSeriesSet) At() storage.Series                { return s.series[s.i] }
func (s *listSeriesSet) Err() error                        { return nil }
func (s *listSeriesSet) Warnings() annotations.Annotations { return nil }

// fsample is a float sample.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }
