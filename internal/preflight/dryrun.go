package preflight

import (
	"fmt"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DryRun is what one user's rotation would do, and whether the rotator may
// do it: `starter rotate --dry-run`. It is made of names and checks only,
// never a key or a secret.
type DryRun struct {
	Account    string `json:"account"`
	User       string `json:"user"`
	WorkflowID string `json:"workflowId"` // the rotation it would start
	// SecretNames are the rotation's two names, before a kind spells them
	// its way (PlannedTarget.Names).
	SecretNames model.SecretNames `json:"secretNames"`
	// Caller is the rotator's identity in the account ("" when it has none).
	Caller string `json:"caller,omitempty"`
	// IAM is the check of the user's key actions. Its Problem also holds
	// an account's problem, which leaves the user unchecked.
	IAM     UserReport      `json:"iam"`
	Targets []PlannedTarget `json:"targets"`
}

// PlannedTarget is what the rotation would write to one target, how the
// write would be confirmed, and the target's read-only check.
type PlannedTarget struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	// Names are what the push writes, as the kind spells them: secret or
	// variable names, JSON fields, data keys.
	Names       model.SecretNames `json:"names"`
	Where       string            `json:"where"`            // what the names are, e.g. "repository Actions secrets"
	Detail      string            `json:"detail,omitempty"` // what else the write sets (scope, visibility, category)
	Restarts    []string          `json:"restarts,omitempty"`
	ConfirmedBy string            `json:"confirmedBy"`
	Access      TargetAccess      `json:"access"`
}

// TargetAccess is a target's read-only check: may the worker write it?
type TargetAccess struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// NewDryRuns puts together, for each of rots, the IAM check of rep
// (CheckRotations) and its planned targets (targets[i] are rots[i]'s).
func NewDryRuns(rots []model.Rotation, rep *Report, targets [][]PlannedTarget) []DryRun {
	out := make([]DryRun, len(rots))
	for i, r := range rots {
		d := DryRun{Account: r.Account, User: r.User, WorkflowID: r.WorkflowID(), SecretNames: r.SecretNames,
			IAM: UserReport{Name: r.User, Problem: "account " + r.Account + " was not checked"}}
		if i < len(targets) {
			d.Targets = targets[i]
		}
		for _, a := range rep.Accounts {
			if a.Name != r.Account {
				continue
			}
			d.Caller = a.Caller
			if a.Problem != "" {
				d.IAM.Problem = "account " + a.Name + ": " + a.Problem
				break
			}
			for _, u := range a.Users {
				if strings.EqualFold(u.Name, r.User) {
					d.IAM = u
				}
			}
		}
		out[i] = d
	}
	return out
}

// Missing lists, one line each, what would stop the rotation: an account
// or user the rotator cannot act on, an IAM action it may not call, a
// target it cannot write.
func (d DryRun) Missing() []string {
	var out []string
	if d.IAM.Problem != "" {
		out = append(out, "IAM: "+d.IAM.Problem)
	}
	for _, a := range d.IAM.Actions {
		if a.Status == StatusMissing {
			out = append(out, fmt.Sprintf("IAM: %s: %s", a.Action, a.Reason))
		}
	}
	for _, t := range d.Targets {
		if !t.Access.OK {
			out = append(out, fmt.Sprintf("target %s: %s", t.Target, t.Access.Detail))
		}
	}
	return out
}

// Unknown counts the IAM actions the check could not decide (reported, not
// failed: the rotator's least-privilege policy does not let it simulate
// its own policy).
func (d DryRun) Unknown() int {
	n := 0
	for _, a := range d.IAM.Actions {
		if a.Status == StatusUnknown {
			n++
		}
	}
	return n
}
