package awsemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Statement is one statement of an identity-based policy: it allows (or,
// with Deny, explicitly denies) Actions on Resources. An explicit Deny wins
// over every Allow, and what no statement allows is denied, as in IAM.
type Statement struct {
	Deny bool
	// Actions are "service:Action" patterns, compared without regard to
	// case: "secretsmanager:PutSecretValue", "ssm:Get*", "kms:*", "*".
	Actions []string
	// Resources are ARN patterns with the * and ? wildcards of a policy,
	// compared with regard to case:
	// "arn:aws:secretsmanager:*:123456789012:secret:ci/github-??????",
	// "arn:aws:ssm:eu-west-1:123456789012:parameter/ci/*". None means "*".
	Resources []string
}

// grants is the emulator's stand-in for a principal's identity-based
// policies: a list of statements evaluated the way IAM evaluates them
// (explicit deny, then allow, else implicit deny), without conditions.
type grants struct {
	statements []statement
}

type statement struct {
	deny      bool
	actions   []string // lower-cased patterns
	resources []string // patterns; "*" when the Statement named none
}

// allActions is what administrators (AddAdmin) and AddRole's roles get.
var allActions = grants{statements: []statement{{actions: []string{"*"}, resources: []string{"*"}}}}

// grantsOf builds grants that allow the listed action patterns on every
// resource: "iam:CreateAccessKey", "iam:*" or "*".
func grantsOf(patterns []string) grants { return policyOf([]Statement{{Actions: patterns}}) }

// policyOf builds grants from statements. An action without a service
// prefix is a mistake in the test that wrote it, which would otherwise only
// show up as a puzzling AccessDenied, so it panics.
func policyOf(statements []Statement) grants {
	var g grants
	for _, s := range statements {
		st := statement{deny: s.Deny, resources: s.Resources}
		if len(st.resources) == 0 {
			st.resources = []string{"*"}
		}
		for _, p := range s.Actions {
			if svc, name, ok := strings.Cut(p, ":"); p != "*" && (!ok || svc == "" || name == "") {
				panic(fmt.Sprintf("awsemu: action %q must be written service:Action, e.g. iam:ListAccessKeys", p))
			}
			// IAM compares action names without regard to case.
			st.actions = append(st.actions, strings.ToLower(p))
		}
		g.statements = append(g.statements, st)
	}
	return g
}

// Decisions of SimulatePrincipalPolicy, and of every authorization.
const (
	decisionAllowed      = "allowed"
	decisionImplicitDeny = "implicitDeny"
	decisionExplicitDeny = "explicitDeny"
)

// decide evaluates action ("ssm:PutParameter") on resource (an ARN or "*").
func (g grants) decide(action, resource string) string {
	action = strings.ToLower(action)
	decision := decisionImplicitDeny
	for _, s := range g.statements {
		if !s.matches(action, resource) {
			continue
		}
		if s.deny {
			return decisionExplicitDeny
		}
		decision = decisionAllowed
	}
	return decision
}

func (s statement) matches(action, resource string) bool {
	actionOK := false
	for _, p := range s.actions {
		if wildcardMatch(p, action) {
			actionOK = true
			break
		}
	}
	if !actionOK {
		return false
	}
	for _, p := range s.resources {
		if wildcardMatch(p, resource) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a policy pattern in which * stands for
// any run of characters (slashes and colons included) and ? for one.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// authorize refuses an action the principal's policies do not allow on
// resource, with AWS's message. JSON services answer it as
// AccessDeniedException (see jsonCode).
func authorize(p principal, action, resource string) *apiError {
	switch p.grants.decide(action, resource) {
	case decisionAllowed:
		return nil
	case decisionExplicitDeny:
		return errorf(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy",
			p.arn, action, resource)
	}
	return errAccessDenied(p.arn, action, resource)
}

// AddPrincipal creates an IAM user (path "/") that may call only the listed
// actions ("iam:ListAccessKeys", "sts:AssumeRole", "iam:*", "*") on any
// resource, gives it one active key and returns that key. It stands for a
// rotator whose policy is incomplete: other actions are refused with
// AccessDenied (GetCallerIdentity, which needs no permission, always
// works). Calling it again for the same name replaces the user's grants and
// adds a key.
func (e *Emulator) AddPrincipal(name string, allowed ...string) (id string, secret model.Secret) {
	return e.addPrincipal(name, grantsOf(allowed))
}

// AddPrincipalWithPolicy is AddPrincipal for a user whose policy names
// resources, for least-privilege tests: it may call what the statements
// allow, on the resources they allow it on, and nothing a statement denies.
func (e *Emulator) AddPrincipalWithPolicy(name string, policy ...Statement) (id string, secret model.Secret) {
	return e.addPrincipal(name, policyOf(policy))
}

func (e *Emulator) addPrincipal(name string, g grants) (id string, secret model.Secret) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.addUserLocked(name, "/", g)
	u.grants = g
	k := e.newKeyLocked(u, false)
	return k.id, model.Secret(k.secret)
}

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
		for _, resource := range resources {
			res.EvaluationResults = append(res.EvaluationResults, evaluationResultXML{
				EvalActionName: action, EvalResourceName: resource, EvalDecision: g.decide(action, resource),
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
