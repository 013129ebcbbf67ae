package awsemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// grants is the emulator's stand-in for identity-based policies: a principal
// may call every action or only the listed ones. Resources are not modelled;
// an allowed action is allowed on every user, which is what the rotator's
// tests need to tell a missing permission from a present one.
type grants struct {
	all     bool
	actions map[string]bool // lower-cased "service:action" or "service:*"
}

// allActions is what administrators (AddAdmin) and AddRole's roles get.
var allActions = grants{all: true}

// grantsOf builds grants from action patterns: "iam:CreateAccessKey",
// "iam:*" or "*". A pattern without a service prefix is a mistake in the
// test that wrote it, which would otherwise only show up as a puzzling
// AccessDenied, so it panics.
func grantsOf(patterns []string) grants {
	g := grants{actions: make(map[string]bool, len(patterns))}
	for _, p := range patterns {
		if p == "*" {
			g.all = true
			continue
		}
		if svc, name, ok := strings.Cut(p, ":"); !ok || svc == "" || name == "" {
			panic(fmt.Sprintf("awsemu: action %q must be written service:Action, e.g. iam:ListAccessKeys", p))
		}
		// IAM compares action names without regard to case.
		g.actions[strings.ToLower(p)] = true
	}
	return g
}

// allows reports whether action ("iam:CreateAccessKey") is granted.
func (g grants) allows(action string) bool {
	if g.all {
		return true
	}
	action = strings.ToLower(action)
	svc, _, _ := strings.Cut(action, ":")
	return g.actions[action] || g.actions[svc+":*"]
}

// AddPrincipal creates an IAM user (path "/") that may call only the listed
// actions ("iam:ListAccessKeys", "sts:AssumeRole", "iam:*", "*"), gives it
// one active key and returns that key. It stands for a rotator whose policy
// is incomplete: other IAM and STS actions are refused with AccessDenied
// (GetCallerIdentity, which needs no permission, always works). Calling it
// again for the same name replaces the user's grants and adds a key.
func (e *Emulator) AddPrincipal(name string, allowed ...string) (id string, secret model.Secret) {
	g := grantsOf(allowed)
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.addUserLocked(name, "/", g)
	u.grants = g
	k := e.newKeyLocked(u, false)
	return k.id, model.Secret(k.secret)
}

// Decisions of SimulatePrincipalPolicy. The emulator has no Deny statements,
// so it never answers explicitDeny.
const (
	decisionAllowed      = "allowed"
	decisionImplicitDeny = "implicitDeny"
)

// simulatePrincipalPolicy evaluates ActionNames on ResourceArns (default
// "*") for the user or role named by PolicySourceArn, one result per
// action and resource.
func (e *Emulator) simulatePrincipalPolicy(_ principal, form url.Values) (any, *apiError) {
	g, aerr := e.policySourceGrants(form.Get("PolicySourceArn"))
	if aerr != nil {
		return nil, aerr
	}
	actionNames := members(form, "ActionNames")
	if len(actionNames) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	resources := members(form, "ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	var res simulatePolicyResult
	for _, action := range actionNames {
		decision := decisionImplicitDeny
		if g.allows(action) {
			decision = decisionAllowed
		}
		for _, resource := range resources {
			res.EvaluationResults = append(res.EvaluationResults, evaluationResultXML{
				EvalActionName: action, EvalResourceName: resource, EvalDecision: decision,
			})
		}
	}
	return res, nil
}

// policySourceGrants finds the user or role a simulation is about. Like
// IAM, it refuses assumed-role session ARNs: the caller must name the role.
func (e *Emulator) policySourceGrants(arn string) (grants, *apiError) {
	if arn == "" {
		return grants{}, errValidation("1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null")
	}
	if r, ok := e.roles[arn]; ok {
		return r.grants, nil
	}
	for _, u := range e.users {
		if u.arn == arn {
			return u.grants, nil
		}
	}
	switch {
	case !strings.HasPrefix(arn, "arn:aws:iam::"):
		return grants{}, errorf(http.StatusBadRequest, "InvalidInput", "Invalid ARN %s: only IAM users, groups and roles can be simulated", arn)
	case strings.Contains(arn, ":role/"):
		return grants{}, errorf(http.StatusNotFound, "NoSuchEntity", "The role with ARN %s cannot be found.", arn)
	default:
		return grants{}, errorf(http.StatusNotFound, "NoSuchEntity", "The user with ARN %s cannot be found.", arn)
	}
}

// members reads a Query-protocol list: Name.member.1, Name.member.2, ...
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+".member."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}
