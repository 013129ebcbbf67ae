package operator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// fakeRunner runs rotations that end when their release channel closes (or
// after delay), and records how many ran at once.
type fakeRunner struct {
	mu         sync.Mutex
	delay      time.Duration
	block      bool // Wait blocks until ctx ends
	running    map[string]bool
	maxRunning int
	starts     map[string]int
	already    map[string]bool // users whose rotation already runs
	failStart  map[string]bool
	failRun    map[string]bool
	lastDone   map[string]time.Time
	phase      contract.Phase
}

func newFake() *fakeRunner {
	return &fakeRunner{running: map[string]bool{}, starts: map[string]int{}, already: map[string]bool{},
		failStart: map[string]bool{}, failRun: map[string]bool{}, phase: contract.PhasePushing}
}

func (f *fakeRunner) Start(_ context.Context, r model.Rotation) (Started, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts[r.User]++
	if f.failStart[r.User] {
		return Started{}, errors.New("start refused")
	}
	f.running[r.WorkflowID()] = true
	f.maxRunning = max(f.maxRunning, len(f.running))
	return Started{WorkflowID: r.WorkflowID(), RunID: "run-" + r.User, AlreadyRunning: f.already[r.User]}, nil
}

func (f *fakeRunner) Wait(ctx context.Context, s Started) (contract.Status, error) {
	if f.block {
		<-ctx.Done()
		return contract.Status{}, ctx.Err()
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return contract.Status{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, s.WorkflowID)
	user := s.RunID[len("run-"):]
	if f.failRun[user] {
		return contract.Status{User: user, Phase: contract.PhaseFailed, Error: "github acme/x: 404 Not Found"}, errors.New("rotation failed")
	}
	return contract.Status{User: user, Phase: contract.PhaseDone, NewKeyID: "AKIANEW" + user}, nil
}

func (f *fakeRunner) Phases(_ context.Context, ids []string) (map[string]contract.Phase, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]contract.Phase{}
	for _, id := range ids {
		if f.running[id] {
			out[id] = f.phase
		}
	}
	return out, nil
}

func (f *fakeRunner) LastDone(context.Context, []model.Rotation, time.Time) (map[string]time.Time, error) {
	return f.lastDone, nil
}

func fleetOf(n int) []model.Rotation {
	var out []model.Rotation
	for i := range n {
		out = append(out, model.Rotation{Account: []string{"prod", "dev"}[i%2], User: fmt.Sprintf("u%02d", i)})
	}
	return out
}

func TestFleetLimitsConcurrency(t *testing.T) {
	f := newFake()
	f.delay = 5 * time.Millisecond
	f.failRun["u04"] = true
	rots := fleetOf(10)
	var progress []FleetProgress
	var pmu sync.Mutex
	res := RunFleet(context.Background(), f, rots, FleetOptions{MaxConcurrent: 3, Wait: true, Poll: time.Millisecond,
		Progress: func(p FleetProgress) { pmu.Lock(); progress = append(progress, p); pmu.Unlock() }})
	if f.maxRunning > 3 || f.maxRunning < 2 {
		t.Errorf("at most %d ran at once, want 3", f.maxRunning)
	}
	if len(res) != 10 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if r.User != rots[i].User || r.Account != rots[i].Account {
			t.Errorf("result %d is %s/%s, want the order given", i, r.Account, r.User)
		}
		if f.starts[r.User] != 1 {
			t.Errorf("%s started %d times", r.User, f.starts[r.User])
		}
		want := OutcomeDone
		if r.User == "u04" {
			want = OutcomeFailed
		}
		if r.Outcome != want {
			t.Errorf("%s: outcome %q, want %q", r.User, r.Outcome, want)
		}
	}
	if r := res[4]; r.Error != "github acme/x: 404 Not Found" || !r.Failed() {
		t.Errorf("the failed user's line: %+v", r)
	}
	if r := res[0]; r.NewKeyID != "AKIANEWu00" {
		t.Errorf("new key %q", r.NewKeyID)
	}
	final := progress[len(progress)-1]
	if final != (FleetProgress{Total: 10, Done: 9, Failed: 1}) {
		t.Errorf("final progress %+v", final)
	}
}

func TestFleetStartErrorAndAlreadyRunning(t *testing.T) {
	f := newFake()
	f.failStart["u01"] = true
	f.already["u02"] = true
	res := RunFleet(context.Background(), f, fleetOf(3), FleetOptions{MaxConcurrent: 1, Wait: true})
	if res[1].Outcome != OutcomeFailed || res[1].Error != "start refused" {
		t.Errorf("start error: %+v", res[1])
	}
	if !res[2].AlreadyRunning || res[2].Outcome != OutcomeDone {
		t.Errorf("a rotation already running is followed to its end: %+v", res[2])
	}
	if c := CountFleet(res); c.Failed != 1 || c.Done != 2 {
		t.Errorf("counts %+v", c)
	}
}

func TestFleetSkipsRecentlyRotated(t *testing.T) {
	f := newFake()
	at := time.Now().Add(-time.Hour)
	f.lastDone = map[string]time.Time{"rotate/dev/u01": at}
	res := RunFleet(context.Background(), f, fleetOf(3), FleetOptions{Wait: true, SkipRotatedWithin: 2 * time.Hour})
	if res[1].Outcome != OutcomeSkipped || f.starts["u01"] != 0 || res[1].LastRotated == nil {
		t.Errorf("u01 rotated an hour ago: %+v, started %d times", res[1], f.starts["u01"])
	}
	if res[0].Outcome != OutcomeDone || res[2].Outcome != OutcomeDone {
		t.Errorf("the others: %+v", res)
	}
}

// Ctrl-C: nothing more starts, RunFleet returns at once, and the running
// rotations are reported as running.
func TestFleetInterrupted(t *testing.T) {
	f := newFake()
	f.block = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []FleetResult)
	go func() { done <- RunFleet(ctx, f, fleetOf(5), FleetOptions{MaxConcurrent: 2, Wait: true}) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.running)
		f.mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	var res []FleetResult
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunFleet did not return after the interrupt")
	}
	c := CountFleet(res)
	if c.Running != 2 || c.Queued != 3 || len(f.starts) != 2 {
		t.Errorf("counts %+v, %d started", c, len(f.starts))
	}
}

// Without --wait the run returns once the last rotation started.
func TestFleetWithoutWait(t *testing.T) {
	f := newFake()
	f.block = true
	res := RunFleet(context.Background(), f, fleetOf(4), FleetOptions{MaxConcurrent: 10})
	if c := CountFleet(res); c.Running != 4 {
		t.Errorf("counts %+v", c)
	}
}

func TestCountFleetGroupsPhases(t *testing.T) {
	res := []FleetResult{
		{Outcome: OutcomeRunning, Phase: contract.PhaseCreating},
		{Outcome: OutcomeRunning, Phase: contract.PhasePushing},
		{Outcome: OutcomeRunning, Phase: contract.PhaseGrace},
		{Outcome: OutcomeRunning, Phase: contract.PhaseHolding},
		{Outcome: OutcomeRunning, Phase: contract.PhaseDeleting},
		{Outcome: OutcomeDone}, {Outcome: OutcomeFailed}, {Outcome: OutcomeSkipped}, {Outcome: OutcomeNotStarted},
	}
	want := FleetProgress{Total: 9, Queued: 1, Running: 5, Pushing: 2, Waiting: 2, Holding: 1, Done: 1, Failed: 1, Skipped: 1}
	if got := CountFleet(res); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestAggregate(t *testing.T) {
	day := func(n int) *time.Time { t := time.Date(2026, 1, n, 0, 0, 0, 0, time.UTC); return &t }
	states := []UserState{
		{Rotation: model.Rotation{Account: "prod", User: "a"}, Running: true, Phase: contract.PhaseHolding,
			Status: &contract.Status{Phase: contract.PhaseHolding, OldKeyID: "AKIAOLDA", OldKeyCreatedAt: day(5),
				HeldReason: "2 targets failed while the old key is revoked; fix them and send retry, or send proceed to revoke the old key anyway"}},
		{Rotation: model.Rotation{Account: "prod", User: "b"}, Phase: contract.PhaseDone,
			Status: &contract.Status{Phase: contract.PhaseDone, OldKeyID: "AKIAOLDB", OldKeyCreatedAt: day(1), NewKeyID: "AKIANEWB", NewKeyCreatedAt: day(10)}},
		{Rotation: model.Rotation{Account: "dev", User: "c"}, Phase: contract.PhaseFailed,
			Status: &contract.Status{Phase: contract.PhaseFailed, OldKeyID: "AKIAOLDC", OldKeyCreatedAt: day(3)}},
		{Rotation: model.Rotation{Account: "dev", User: "d"}},
		{Rotation: model.Rotation{Account: "dev", User: "e"}, Running: true, Phase: contract.PhaseGrace},
	}
	s := Aggregate(states, "k.yaml")
	if s.Users != 5 || s.Running != 2 {
		t.Errorf("users %d running %d", s.Users, s.Running)
	}
	wantPhases := map[string]int{"holding": 1, "done": 1, "failed": 1, NeverRunPhase: 1, "grace": 1}
	if fmt.Sprint(s.ByPhase) != fmt.Sprint(wantPhases) {
		t.Errorf("by phase %v", s.ByPhase)
	}
	if len(s.ByAccount) != 2 || s.ByAccount[0].Account != "dev" || s.ByAccount[0].Users != 3 || s.ByAccount[0].Running != 1 ||
		s.ByAccount[1].ByPhase["holding"] != 1 {
		t.Errorf("by account %+v", s.ByAccount)
	}
	// b's old key (day 1) is deleted: the oldest in use is c's (day 3).
	if k := s.OldestKey; k == nil || k.KeyID != "AKIAOLDC" || k.From != "last rotation" {
		t.Errorf("oldest key %+v", s.OldestKey)
	}
	if len(s.Holds) != 1 || s.Holds[0].WorkflowID != "rotate/prod/a" ||
		fmt.Sprint(s.Holds[0].Resolve) != "[starter retry --config k.yaml --account prod --user a starter proceed --config k.yaml --account prod --user a]" {
		t.Errorf("holds %+v", s.Holds)
	}
}
