// Package preflight checks, before anything is rotated, that keyrotor's AWS
// credentials may do what a rotation does, in every configured account and
// on every configured user.
//
// Only harmless calls are made: sts:GetCallerIdentity (after sts:AssumeRole
// when the account has a roleArn), iam:ListAccessKeys and iam:GetUser on each
// user, and iam:SimulatePrincipalPolicy for the actions that change
// something (CreateAccessKey, UpdateAccessKey, DeleteAccessKey), which are
// never called. iam:GetUser and iam:SimulatePrincipalPolicy are not part of
// the rotator's policy; when they are refused the check says what it could
// not find out instead of failing.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// Actions are the IAM actions a rotation calls on a user, in that order.
var Actions = []string{
	"iam:ListAccessKeys",
	"iam:CreateAccessKey",
	"iam:UpdateAccessKey",
	"iam:DeleteAccessKey",
	"iam:GetAccessKeyLastUsed",
}

const listAction = "iam:ListAccessKeys"

// IAM is the part of the IAM client the check calls.
type IAM interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput, optFns ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// STS is the part of the STS client the check calls.
type STS interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Clients returns an account's IAM and STS clients, signed with the
// rotator's credentials: those the worker uses, with the account's role
// assumed when it has one.
type Clients func(ctx context.Context, account string) (IAM, STS, error)

// FromAWS gives the check the worker's own per-account configuration, so
// that it exercises the same credentials, role and endpoints.
func FromAWS(a *clients.AWS) Clients {
	return func(_ context.Context, account string) (IAM, STS, error) {
		cfg, err := a.Config(account)
		if err != nil {
			return nil, nil, err
		}
		return iam.NewFromConfig(cfg), sts.NewFromConfig(cfg), nil
	}
}

// NewAWSClients builds clients for cfg's accounts as the worker does, with
// clients.NewAWS: the SDK's default chain (AWS_PROFILE, AWS_ENDPOINT_URL_IAM,
// instance roles, ...), which optFns may override.
func NewAWSClients(ctx context.Context, cfg *config.Config, optFns ...func(*awsconfig.LoadOptions) error) (Clients, error) {
	a, err := clients.NewAWSForConfig(ctx, cfg, optFns...)
	if err != nil {
		return nil, err
	}
	return FromAWS(a), nil
}

// Check checks every account of cfg and every user rotated in it. Problems
// found in AWS are in the Report, not in the error, which is only returned
// when ctx ends before the check is complete.
func Check(ctx context.Context, cfg *config.Config, newClients Clients) (*Report, error) {
	return check(ctx, cfg, cfg.Rotations, true, newClients)
}

// CheckRotations checks only what rots need: the accounts they are in and,
// in each, their users (a dry run's check).
func CheckRotations(ctx context.Context, cfg *config.Config, rots []model.Rotation, newClients Clients) (*Report, error) {
	return check(ctx, cfg, rots, false, newClients)
}

// check checks the accounts of cfg and the users of rots in each; an
// account none of rots is in is checked only with everyAccount.
func check(ctx context.Context, cfg *config.Config, rots []model.Rotation, everyAccount bool, newClients Clients) (*Report, error) {
	r := &Report{}
	for _, acct := range cfg.Accounts {
		users := usersOf(rots, acct.Name)
		if len(users) == 0 && !everyAccount {
			continue
		}
		r.Accounts = append(r.Accounts, checkAccount(ctx, acct, users, newClients))
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// usersOf lists the users rotated in account, each once, in file order.
// IAM user names are unique without regard to case.
func usersOf(rots []model.Rotation, account string) []string {
	var out []string
	seen := map[string]bool{}
	for _, rot := range rots {
		if rot.Account != account || seen[strings.ToLower(rot.User)] {
			continue
		}
		seen[strings.ToLower(rot.User)] = true
		out = append(out, rot.User)
	}
	return out
}

// checkAccount establishes who the rotator is in the account, then checks
// each user. Without an identity nothing else can be checked.
func checkAccount(ctx context.Context, acct config.Account, users []string, newClients Clients) AccountReport {
	ar := AccountReport{Name: acct.Name, RoleARN: acct.RoleARN}
	iamc, stsc, err := newClients(ctx, acct.Name)
	if err != nil {
		ar.Problem = "cannot build AWS clients: " + reason(err)
		return ar
	}
	who, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		ar.Problem = identityProblem(acct.RoleARN, err)
		return ar
	}
	ar.Caller = aws.ToString(who.Arn)
	src := policySourceOf(acct.RoleARN, ar.Caller)
	for _, u := range users {
		ar.Users = append(ar.Users, checkUser(ctx, iamc, src, aws.ToString(who.Account), u))
	}
	return ar
}

// identityProblem explains a failed GetCallerIdentity. With a roleArn the
// SDK assumes the role lazily, inside this first call, so an AssumeRole
// failure surfaces here and is named as such.
func identityProblem(roleARN string, err error) string {
	if roleARN != "" && failedOperation(err, "AssumeRole") {
		return fmt.Sprintf("cannot assume %s: %s", roleARN, reason(err))
	}
	return "cannot authenticate with the rotator's credentials: " + reason(err)
}

// failedOperation reports whether op is among the SDK operations err
// passed through: a credential provider's call nests inside the call that
// needed the credentials.
func failedOperation(err error, op string) bool {
	for err != nil {
		var oe *smithy.OperationError
		if !errors.As(err, &oe) {
			return false
		}
		if oe.OperationName == op {
			return true
		}
		err = oe.Unwrap()
	}
	return false
}

// policySource is the principal whose policies SimulatePrincipalPolicy
// evaluates.
type policySource struct {
	arn  string // "" when the caller cannot be simulated
	all  bool   // the root user: every action is allowed
	note string // why arn is a guess or missing
}

// policySourceOf names the principal behind the caller. The configured
// roleArn is exact; a session ARN only names its role without the role's
// path, which IAM needs to find it.
func policySourceOf(roleARN, caller string) policySource {
	if roleARN != "" {
		return policySource{arn: roleARN}
	}
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) != 6 {
		return policySource{note: "caller " + caller + " is not an ARN"}
	}
	partition, account, resource := parts[1], parts[4], parts[5]
	switch {
	case parts[2] == "iam" && resource == "root":
		return policySource{all: true, note: "the account's root user may call every action (use an IAM user or role instead)"}
	case parts[2] == "iam" && strings.HasPrefix(resource, "user/"):
		return policySource{arn: caller}
	case parts[2] == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		name, _, _ := strings.Cut(strings.TrimPrefix(resource, "assumed-role/"), "/")
		return policySource{
			arn:  "arn:" + partition + ":iam::" + account + ":role/" + name,
			note: "role path assumed to be /; set roleArn to check a role with a path",
		}
	}
	return policySource{note: "the policies of " + caller + " cannot be simulated"}
}

// checkUser checks one user: ListAccessKeys is called for real, the other
// actions are simulated on the user's ARN.
func checkUser(ctx context.Context, c IAM, src policySource, accountID, name string) UserReport {
	ur := UserReport{Name: name}
	list, exists := checkList(ctx, c, name)
	if !exists {
		ur.Problem = fmt.Sprintf("user %s does not exist", name)
		return ur
	}
	arn, guessed, exists := userARN(ctx, c, src, accountID, name)
	if !exists {
		ur.Problem = fmt.Sprintf("user %s does not exist", name)
		return ur
	}
	ur.ARN = arn
	simulated := simulate(ctx, c, src, arn, guessed)
	for _, action := range Actions {
		res := simulated[action]
		if action == listAction && list.Status != StatusUnknown {
			res = list // the real call is the better witness
		}
		ur.Actions = append(ur.Actions, res)
	}
	return ur
}

// checkList calls ListAccessKeys, which changes nothing. exists is false
// only when IAM says the user does not exist.
func checkList(ctx context.Context, c IAM, name string) (res ActionResult, exists bool) {
	_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(name)})
	switch {
	case err == nil:
		return ActionResult{Action: listAction, Status: StatusOK, Reason: "ListAccessKeys succeeded"}, true
	case isCode(err, "NoSuchEntity"):
		return ActionResult{}, false
	case isCode(err, "AccessDenied"):
		return ActionResult{Action: listAction, Status: StatusMissing, Reason: reason(err)}, true
	}
	return ActionResult{Action: listAction, Status: StatusUnknown, Reason: "ListAccessKeys failed: " + reason(err)}, true
}

// userARN finds the user's ARN with its path, which a policy scoped to a
// path (user/keyrotor/*) matches on. iam:GetUser is not in the rotator's
// policy; without it the path is guessed as "/".
func userARN(ctx context.Context, c IAM, src policySource, accountID, name string) (arn string, guessed, exists bool) {
	out, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	switch {
	case err == nil && out.User != nil:
		return aws.ToString(out.User.Arn), false, true
	case isCode(err, "NoSuchEntity"):
		return "", false, false
	}
	return "arn:" + partitionOf(src.arn) + ":iam::" + accountID + ":user/" + name, true, true
}

// partitionOf reads an ARN's partition ("aws" when it cannot).
func partitionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 3); len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// simulate evaluates every action on the user's ARN with
// SimulatePrincipalPolicy and returns a result per action. When the
// simulation is impossible or refused, every action is unknown and says why.
func simulate(ctx context.Context, c IAM, src policySource, userARN string, guessed bool) map[string]ActionResult {
	if src.all {
		return everyAction(StatusOK, src.note)
	}
	if src.arn == "" {
		return everyAction(StatusUnknown, "not checked: "+src.note)
	}
	out, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(src.arn),
		ActionNames:     Actions,
		ResourceArns:    []string{userARN},
	})
	switch {
	case isCode(err, "AccessDenied"):
		return everyAction(StatusUnknown, "not checked: iam:SimulatePrincipalPolicy is not allowed for "+src.arn)
	case err != nil:
		return everyAction(StatusUnknown, "not checked: SimulatePrincipalPolicy failed: "+reason(err))
	}
	return decisions(out.EvaluationResults, src, userARN, guessed)
}

// everyAction gives all actions the same status and reason.
func everyAction(s Status, why string) map[string]ActionResult {
	out := make(map[string]ActionResult, len(Actions))
	for _, a := range Actions {
		out[a] = ActionResult{Action: a, Status: s, Reason: why}
	}
	return out
}

// decisions turns evaluation results into action results. An action is ok
// only when every result for it (and every resource-specific result) is
// allowed. A denial on a guessed ARN is only unknown: a policy scoped to
// the user's real path could still allow it.
func decisions(results []types.EvaluationResult, src policySource, userARN string, guessed bool) map[string]ActionResult {
	decided := map[string]types.PolicyEvaluationDecisionType{}
	for _, r := range results {
		action := canonicalAction(aws.ToString(r.EvalActionName))
		for _, d := range resultDecisions(r) {
			if prev, ok := decided[action]; !ok || prev == types.PolicyEvaluationDecisionTypeAllowed {
				decided[action] = d
			}
		}
	}
	out := make(map[string]ActionResult, len(Actions))
	for _, a := range Actions {
		out[a] = decisionResult(a, decided[a], src, userARN, guessed)
	}
	return out
}

// canonicalAction spells an action as Actions does, since IAM compares
// action names without regard to case.
func canonicalAction(name string) string {
	for _, a := range Actions {
		if strings.EqualFold(a, name) {
			return a
		}
	}
	return name
}

// resultDecisions is the overall decision and those per resource.
func resultDecisions(r types.EvaluationResult) []types.PolicyEvaluationDecisionType {
	out := []types.PolicyEvaluationDecisionType{r.EvalDecision}
	for _, rr := range r.ResourceSpecificResults {
		out = append(out, rr.EvalResourceDecision)
	}
	return out
}

// decisionResult explains one simulated decision.
func decisionResult(action string, d types.PolicyEvaluationDecisionType, src policySource, userARN string, guessed bool) ActionResult {
	res := ActionResult{Action: action}
	on := " for " + src.arn + " on " + userARN
	switch {
	case d == "":
		res.Status, res.Reason = StatusUnknown, "SimulatePrincipalPolicy returned no decision"
	case d == types.PolicyEvaluationDecisionTypeAllowed:
		res.Status, res.Reason = StatusOK, "allowed (simulated)"
	case guessed:
		res.Status, res.Reason = StatusUnknown, string(d)+on+", but the user's path is a guess (iam:GetUser is not allowed) and a policy scoped to its real path may allow it"
	default:
		res.Status, res.Reason = StatusMissing, string(d)+on
	}
	if src.note != "" {
		res.Reason += " (" + src.note + ")"
	}
	return res
}

// isCode reports whether err is an AWS error with the given code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// reason is an error on one line. For AWS errors it is "Code: message",
// without the SDK's operation and request-ID wrapping; AWS messages name
// principals and resources, never credentials.
func reason(err error) string {
	var ae smithy.APIError
	msg := err.Error()
	if errors.As(err, &ae) {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return strings.Join(strings.Fields(msg), " ")
}
