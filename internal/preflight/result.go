package preflight

import "fmt"

// Status is the outcome of checking one action.
type Status string

const (
	StatusOK      Status = "ok"      // the rotator may call the action
	StatusMissing Status = "missing" // it may not: a rotation would fail
	StatusUnknown Status = "unknown" // the check could not tell; Reason says why
)

// ActionResult is the check of one action on one user.
type ActionResult struct {
	Action string `json:"action"` // e.g. "iam:CreateAccessKey"
	Status Status `json:"status"`
	Reason string `json:"reason"` // one line
}

// UserReport is the check of one configured IAM user.
type UserReport struct {
	Name    string         `json:"name"`
	ARN     string         `json:"arn,omitempty"`
	Problem string         `json:"problem,omitempty"` // e.g. the user does not exist; Actions is then empty
	Actions []ActionResult `json:"actions,omitempty"`
}

// AccountReport is the check of one configured AWS account.
type AccountReport struct {
	Name    string       `json:"name"`
	RoleARN string       `json:"roleArn,omitempty"`
	Caller  string       `json:"caller,omitempty"`  // the rotator's identity in the account
	Problem string       `json:"problem,omitempty"` // why no user could be checked
	Users   []UserReport `json:"users,omitempty"`
}

// Report is the result of Check.
type Report struct {
	Accounts []AccountReport `json:"accounts"`
}

// Missing lists, one line each, what stops a rotation: accounts the rotator
// cannot act in, users that do not exist, actions it may not call.
func (r *Report) Missing() []string {
	var out []string
	for _, a := range r.Accounts {
		if a.Problem != "" {
			out = append(out, fmt.Sprintf("account %s: %s", a.Name, a.Problem))
		}
		for _, u := range a.Users {
			if u.Problem != "" {
				out = append(out, fmt.Sprintf("account %s: %s", a.Name, u.Problem))
			}
			for _, res := range u.Actions {
				if res.Status == StatusMissing {
					out = append(out, fmt.Sprintf("account %s, user %s: %s", a.Name, u.Name, res.Action))
				}
			}
		}
	}
	return out
}

// Unknown counts the actions the check could not decide.
func (r *Report) Unknown() int {
	n := 0
	for _, a := range r.Accounts {
		for _, u := range a.Users {
			for _, res := range u.Actions {
				if res.Status == StatusUnknown {
					n++
				}
			}
		}
	}
	return n
}

// TargetReport is the read-only check of one configured target: whether
// the worker's connection reaches it and may write it.
type TargetReport struct {
	Account string `json:"account"`
	User    string `json:"user"`
	Target  string `json:"target"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail"`
}
