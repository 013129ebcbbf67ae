package operator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// FleetSummary is `starter status --summary`: where the configured
// rotations stand, counted by phase and by account, the oldest key, and the
// holds that need an operator.
type FleetSummary struct {
	Users   int `json:"users"`   // configured rotations counted
	Running int `json:"running"` // of them, with a running rotation
	// ByPhase counts the users by the phase of their latest rotation
	// ("never run" for none in visibility).
	ByPhase   map[string]int   `json:"byPhase"`
	ByAccount []AccountSummary `json:"byAccount"`
	OldestKey *OldestKey       `json:"oldestKey,omitempty"`
	Holds     []Hold           `json:"holds"`
	// Problems are what could not be read (a status query that timed out…).
	Problems []string `json:"problems,omitempty"`
}

// AccountSummary is one account's line of the summary.
type AccountSummary struct {
	Account string         `json:"account"`
	Users   int            `json:"users"`
	Running int            `json:"running"`
	ByPhase map[string]int `json:"byPhase"`
}

// OldestKey is the oldest access key the summary knows of.
type OldestKey struct {
	Account   string    `json:"account"`
	User      string    `json:"user"`
	KeyID     string    `json:"keyId"`
	CreatedAt time.Time `json:"createdAt"`
	// From says where it was seen: "running rotation" (the key it
	// replaces) or "last rotation" (the key a closed rotation left active).
	From string `json:"from"`
}

// Hold is a rotation holding for an operator.
type Hold struct {
	Account    string   `json:"account"`
	User       string   `json:"user"`
	WorkflowID string   `json:"workflowId"`
	Reason     string   `json:"reason"`
	Resolve    []string `json:"resolve"` // the commands that end it
}

// UserState is what the summary knows of one configured rotation: its
// latest run in visibility and, when it could be read, its status.
type UserState struct {
	Rotation model.Rotation
	Running  bool
	Phase    contract.Phase // "" when never run
	Status   *contract.Status
}

// NeverRunPhase is the ByPhase key of users without a rotation.
const NeverRunPhase = "never run"

// Summarize reads the latest rotation of every given configured rotation
// from visibility, then the statuses (the status query of running ones; the
// result of closed ones, from their history), and aggregates them.
// configPath is put in the commands that resolve holds.
//
// Visibility counts cannot do this: the dev server (and Temporal's SQL
// visibility) group only by ExecutionStatus, and the summary counts each
// user's latest run, not every run in retention. One list of the task
// queue's rotations is enough.
func Summarize(ctx context.Context, c client.Client, namespace, taskQueue string, rotations []model.Rotation, configPath string) FleetSummary {
	states := make([]UserState, len(rotations))
	byID := map[string]int{}
	for i, r := range rotations {
		states[i] = UserState{Rotation: r}
		byID[r.WorkflowID()] = i
	}
	var problems []string
	latest := map[string]execution{}
	q := fmt.Sprintf("WorkflowType = %s AND TaskQueue = %s", quote(contract.WorkflowName), quote(taskQueue))
	if accounts := accountsOf(rotations); len(accounts) == 1 {
		q += " AND KeyrotorAccount = " + quote(accounts[0])
	}
	err := listExecutions(ctx, c, namespace, q, func(e execution) {
		if _, ok := byID[e.workflowID]; !ok {
			return
		}
		if prev, ok := latest[e.workflowID]; !ok || e.running || (!prev.running && e.started.After(prev.started)) {
			latest[e.workflowID] = e
		}
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	for id, e := range latest {
		i := byID[id]
		states[i].Running, states[i].Phase = e.running, e.phase
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := readStatus(ctx, c, e)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if e.running {
					problems = append(problems, err.Error())
				}
				return
			}
			states[i].Status = &st
			if st.Phase != "" {
				states[i].Phase = st.Phase
			}
		}()
	}
	wg.Wait()
	s := Aggregate(states, configPath)
	slices.Sort(problems)
	s.Problems = append(problems, s.Problems...)
	return s
}

// readStatus is a running rotation's status query, or a closed one's final
// status from its history (no worker needed).
func readStatus(ctx context.Context, c client.Client, e execution) (contract.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if e.running {
		return Status(ctx, c, e.workflowID)
	}
	st, err := Wait(ctx, c, Started{WorkflowID: e.workflowID, RunID: e.runID})
	if st.User != "" {
		return st, nil
	}
	return st, err
}

func accountsOf(rotations []model.Rotation) []string {
	var out []string
	for _, r := range rotations {
		if !slices.Contains(out, r.Account) {
			out = append(out, r.Account)
		}
	}
	return out
}

// Aggregate counts the users' states: by phase, by account, the oldest key
// and the holds. It is pure.
func Aggregate(states []UserState, configPath string) FleetSummary {
	s := FleetSummary{ByPhase: map[string]int{}, Holds: []Hold{}}
	accounts := map[string]*AccountSummary{}
	for _, u := range states {
		r := u.Rotation
		a := accounts[r.Account]
		if a == nil {
			a = &AccountSummary{Account: r.Account, ByPhase: map[string]int{}}
			accounts[r.Account] = a
		}
		phase := string(u.Phase)
		if phase == "" {
			phase = NeverRunPhase
		}
		s.Users++
		a.Users++
		s.ByPhase[phase]++
		a.ByPhase[phase]++
		if u.Running {
			s.Running++
			a.Running++
		}
		if u.Status == nil {
			if u.Running && u.Phase == contract.PhaseHolding {
				s.Holds = append(s.Holds, hold(r, "", configPath))
			}
			continue
		}
		if u.Running && u.Phase == contract.PhaseHolding {
			s.Holds = append(s.Holds, hold(r, u.Status.HeldReason, configPath))
		}
		if k := activeOldest(u); k != nil && (s.OldestKey == nil || k.CreatedAt.Before(s.OldestKey.CreatedAt)) {
			s.OldestKey = k
		}
	}
	for _, a := range accounts {
		s.ByAccount = append(s.ByAccount, *a)
	}
	slices.SortFunc(s.ByAccount, func(x, y AccountSummary) int { return strings.Compare(x.Account, y.Account) })
	slices.SortFunc(s.Holds, func(x, y Hold) int { return strings.Compare(x.WorkflowID, y.WorkflowID) })
	return s
}

// activeOldest is the user's oldest key still in use: the key a running
// rotation replaces, the new key a rotation that ended done left, or the
// old key of a rotation that ended otherwise (it stays active).
func activeOldest(u UserState) *OldestKey {
	st := u.Status
	k := &OldestKey{Account: u.Rotation.Account, User: u.Rotation.User, From: "running rotation"}
	switch {
	case u.Running && st.OldKeyCreatedAt != nil:
		k.KeyID, k.CreatedAt = st.OldKeyID, *st.OldKeyCreatedAt
	case u.Running:
		return nil
	case st.Phase == contract.PhaseDone && st.NewKeyCreatedAt != nil:
		k.KeyID, k.CreatedAt, k.From = st.NewKeyID, *st.NewKeyCreatedAt, "last rotation"
	case st.OldKeyCreatedAt != nil:
		k.KeyID, k.CreatedAt, k.From = st.OldKeyID, *st.OldKeyCreatedAt, "last rotation"
	default:
		return nil
	}
	return k
}

// hold describes a holding rotation and the commands that end it: retry
// when targets failed (the reason says so), proceed always.
func hold(r model.Rotation, reason, configPath string) Hold {
	h := Hold{Account: r.Account, User: r.User, WorkflowID: r.WorkflowID(), Reason: reason}
	actions := []string{contract.ProceedSignal}
	if strings.Contains(reason, "retry") {
		actions = []string{contract.RetrySignal, contract.ProceedSignal}
	}
	cfg := ""
	if configPath != "" {
		cfg = " --config " + configPath
	}
	for _, a := range actions {
		h.Resolve = append(h.Resolve, fmt.Sprintf("starter %s%s --account %s --user %s", a, cfg, r.Account, r.User))
	}
	return h
}
