package workflows

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInterleavings runs thousands of random rotations against the SDK's
// test environment: random targets and policy, operators sending revoke,
// proceed, retry, rollback, cancel and garbage (as signals and as updates)
// at random moments, and an outside world that fails transiently, for good,
// slowly, or after doing the work (a lost answer). After every schedule it
// checks the safety rules (see iwWorld and iwCheck) and reports each broken
// one with the seed that reproduces it.
//
//	KEYROTOR_INTERLEAVE=1 go test ./workflows -run TestInterleavings -v  # the default batch
//	go test ./workflows -run TestInterleavings -seed=N -v                # one schedule, with its trace
//	make chaos CHAOS_DURATION=10m                                        # for as long as asked
//
// Environment: KEYROTOR_CHAOS_SEED (one seed), KEYROTOR_CHAOS_DURATION (run
// for that long), KEYROTOR_CHAOS_COUNT (how many schedules), KEYROTOR_CHAOS_BASE
// (the first seed of a batch; default from the clock).
func TestInterleavings(t *testing.T) {
	cfg := iwConfigure(t)
	if !cfg.enabled {
		t.Skip("set KEYROTOR_INTERLEAVE=1 (or -seed, KEYROTOR_CHAOS_SEED, KEYROTOR_CHAOS_DURATION) to run the interleaving test")
	}
	if cfg.seed != 0 {
		iwRunOne(t, cfg.seed)
		return
	}
	iwRunBatch(t, cfg)
}

// TestInterleavingRegressions replays, always, the schedules that once broke
// a rule, each with what it found.
func TestInterleavingRegressions(t *testing.T) {
	for _, tc := range []struct {
		seed  int64
		found string
	}{
		{1008, "a revoked new key that every target held was deleted while the idle old key stayed"},
		{1039, "a cancel during the pushes re-scheduled them without end"},
		{1260, "a failing rotation cut off a revoked key every target held"},
		{1547, "a cancelled slow push of a revoked key landed after its replacement (harness)"},
		{1719, "a revoked key's stale push left a target on a deleted key"},
		{3196, "a cancel during create left a stray key (the sweep was not run)"},
		{3256, "a failing rotation deactivated the user's only working key"},
		{3717, "a cancel during inspect re-ran the inspection without end"},
		{871414975599, "a revoke of an already deactivated old key stayed accepted when the rotation failed"},
		{580074502040, "a proceed with unknown fields is still a proceed (harness)"},
		{1004445, "a create cut off by a cancel made its key after the cleanup's sweep"},
		{147082768777, "a cancel during the pushes deactivated a revoked old key that unpushed targets still used"},
		{147082750981, "a failed rotation left the key its lost create made"},
		{147082765381, "a failed verify ended with the revoked only key active and no word why (now: failed, left active, said why)"},
		{327131503599, "a lost push answer: the rotation keeps the revoked old key for the target it cannot vouch for"},
	} {
		t.Run(fmt.Sprintf("seed %d", tc.seed), func(t *testing.T) {
			t.Log(tc.found)
			res := iwRunGuarded(tc.seed)
			for _, v := range res.Violations {
				t.Errorf("seed %d: %s (reproduce: %s)", tc.seed, v, iwReproduce(tc.seed))
			}
		})
	}
}

// iwOnByDefault turns TestInterleavings on in `make test` (go test ./...).
const iwOnByDefault = true

var iwSeedFlag = flag.Int64("seed", 0, "TestInterleavings: run only the schedule of this seed, with its trace")

type iwConfig struct {
	enabled  bool
	seed     int64         // run only this seed
	base     int64         // first seed of a batch
	count    int           // schedules in a batch (when duration is 0)
	budget   time.Duration // a batch stops after this long even if count is not reached
	duration time.Duration // run for this long (chaos)
	workers  int
}

// Default batch: sized for `go test -race` on two cores in about a minute.
const (
	iwDefaultCount      = 6000
	iwDefaultCountShort = 300
	iwDefaultBudget     = 45 * time.Second
	iwDefaultBase       = 1_000_000
)

func iwConfigure(t *testing.T) iwConfig {
	t.Helper()
	cfg := iwConfig{enabled: iwOnByDefault || os.Getenv("KEYROTOR_INTERLEAVE") == "1", seed: *iwSeedFlag,
		count: iwDefaultCount, budget: iwDefaultBudget, workers: runtime.GOMAXPROCS(0)}
	if testing.Short() {
		cfg.count = iwDefaultCountShort
	}
	if v := os.Getenv("KEYROTOR_CHAOS_SEED"); v != "" && cfg.seed == 0 {
		cfg.seed = iwParseInt(t, "KEYROTOR_CHAOS_SEED", v)
	}
	if v := os.Getenv("KEYROTOR_CHAOS_COUNT"); v != "" {
		cfg.count = int(iwParseInt(t, "KEYROTOR_CHAOS_COUNT", v))
		cfg.budget = 0
	}
	if v := os.Getenv("KEYROTOR_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("KEYROTOR_CHAOS_DURATION=%q: %v", v, err)
		}
		cfg.duration, cfg.enabled = d, true
	}
	// The default batch is the same every run, so `make test` is
	// reproducible; chaos runs (and KEYROTOR_CHAOS_COUNT) explore new seeds
	// from the clock.
	cfg.base = iwDefaultBase
	if cfg.duration > 0 || os.Getenv("KEYROTOR_CHAOS_COUNT") != "" {
		cfg.base = time.Now().UnixNano() % 1_000_000_000_000
	}
	if v := os.Getenv("KEYROTOR_CHAOS_BASE"); v != "" {
		cfg.base = iwParseInt(t, "KEYROTOR_CHAOS_BASE", v)
	}
	if cfg.seed != 0 {
		cfg.enabled = true
	}
	return cfg
}

func iwParseInt(t *testing.T, name, v string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func iwReproduce(seed int64) string {
	return fmt.Sprintf("go test ./workflows -run TestInterleavings -seed=%d -v", seed)
}

// iwRunOne runs one schedule and prints everything about it.
func iwRunOne(t *testing.T, seed int64) {
	s := newIWSchedule(seed)
	t.Logf("schedule %s", s)
	res := iwRunGuarded(seed)
	if res.Outcome == "hang" {
		buf := make([]byte, 1<<22)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
	for _, line := range res.Trace {
		t.Logf("world %s", line)
	}
	for _, e := range res.Status.Timeline {
		t.Logf("timeline +%s [%s] %s", e.At.Sub(res.Start), e.Phase, e.Message)
	}
	for _, n := range res.Status.Notices {
		t.Logf("notice %s", n)
	}
	for _, rv := range res.Status.Revocations {
		t.Logf("revocation %+v", rv)
	}
	t.Logf("outcome %s (phase %s) %s; %d keys left; updates %d (%d without handler), signals %d; ran %s",
		res.Outcome, res.Phase, res.Detail, res.KeysLeft, res.Updates, res.Unknown, res.Signals, res.Elapsed.Round(time.Millisecond))
	for _, v := range res.Violations {
		t.Errorf("seed %d: %s", seed, v)
	}
}

// iwHangAfter is how long (wall clock) one schedule may take. The test
// environment can wedge (a workflow or harness deadlock): the schedule is
// then abandoned, its goroutines leaked, and reported.
const iwHangAfter = 15 * time.Second

func iwRunGuarded(seed int64) iwResult {
	done := make(chan iwResult, 1)
	go func() { done <- runIWSchedule(newIWSchedule(seed)) }()
	select {
	case r := <-done:
		return r
	case <-time.After(iwHangAfter):
		return iwResult{Seed: seed, Outcome: "hang", Elapsed: iwHangAfter,
			Violations: []iwViolation{{Invariant: "hang", Detail: fmt.Sprintf("the schedule did not finish within %s of wall time", iwHangAfter)}}}
	}
}

// iwTally gathers the results of a batch.
type iwTally struct {
	mu        sync.Mutex
	runs      int
	outcomes  map[string]int
	twoKeys   map[string]int // schedules that ended with two keys, by outcome
	held      int            // schedules an operator round found holding
	updates   int
	unknown   int
	signals   int
	slowest   iwResult
	broken    map[string][]int64 // invariant -> seeds
	firstSeen map[string]string  // invariant -> first violation
}

func (y *iwTally) add(r iwResult) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.runs++
	y.outcomes[r.Outcome]++
	if r.KeysLeft == 2 {
		y.twoKeys[r.Outcome]++
	}
	if r.Held > 0 {
		y.held++
	}
	y.updates += r.Updates
	y.unknown += r.Unknown
	y.signals += r.Signals
	if r.Elapsed > y.slowest.Elapsed {
		y.slowest = iwResult{Seed: r.Seed, Elapsed: r.Elapsed}
	}
	seen := map[string]bool{}
	for _, v := range r.Violations {
		if seen[v.Invariant] {
			continue
		}
		seen[v.Invariant] = true
		y.broken[v.Invariant] = append(y.broken[v.Invariant], r.Seed)
		if _, ok := y.firstSeen[v.Invariant]; !ok {
			y.firstSeen[v.Invariant] = fmt.Sprintf("seed %d: %s", r.Seed, v)
		}
	}
}

// iwRunBatch runs schedules on every core until the count, the budget or
// the duration is reached, then prints the tally and fails for every
// broken rule.
func iwRunBatch(t *testing.T, cfg iwConfig) {
	began := time.Now()
	deadline := began.Add(cfg.budget)
	if cfg.duration > 0 {
		deadline = began.Add(cfg.duration)
	}
	y := &iwTally{outcomes: map[string]int{}, twoKeys: map[string]int{}, broken: map[string][]int64{}, firstSeen: map[string]string{}}
	seeds := make(chan int64)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				y.add(iwRunGuarded(seed))
			}
		}()
	}
	for i := int64(0); cfg.duration > 0 || i < int64(cfg.count); i++ {
		if (cfg.duration > 0 || cfg.budget > 0) && time.Now().After(deadline) {
			break
		}
		seeds <- cfg.base + i
	}
	close(seeds)
	wg.Wait()
	elapsed := time.Since(began)

	t.Logf("%d schedules (seeds %d…) on %d workers in %s (%.1f/s); slowest: seed %d, %s",
		y.runs, cfg.base, cfg.workers, elapsed.Round(time.Millisecond), float64(y.runs)/elapsed.Seconds(), y.slowest.Seed, y.slowest.Elapsed.Round(time.Millisecond))
	if cfg.duration == 0 && y.runs < cfg.count {
		t.Logf("stopped at the %s budget before %d schedules", cfg.budget, cfg.count)
	}
	t.Logf("outcomes: %s", iwCounts(y.outcomes))
	t.Logf("ended with two keys: %s", iwCounts(y.twoKeys))
	t.Logf("held for an operator: %d schedules; operator requests: %d updates (%d had no handler and went as signals), %d signals", y.held, y.updates, y.unknown, y.signals)
	var invariants []string
	for inv := range y.broken {
		invariants = append(invariants, inv)
	}
	sort.Strings(invariants)
	for _, inv := range invariants {
		seeds := y.broken[inv]
		sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
		shown := seeds[:min(len(seeds), 8)]
		t.Errorf("%s: broken in %d of %d schedules, seeds %v\n  first: %s\n  reproduce: %s",
			inv, len(seeds), y.runs, shown, y.firstSeen[inv], iwReproduce(seeds[0]))
	}
}

func iwCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
