package awsemu

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestAWSEmulatorPrincipalPermissions(t *testing.T) {
	e, url := start(t)
	e.AddUserWithPath("ci", "/keyrotor/")
	id, secret := e.AddPrincipal("rotator", "iam:ListAccessKeys", "IAM:getaccesskeylastused")
	c := iamWith(url, id, secret)
	ctx := context.Background()
	user := aws.String("ci")

	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"listed action", func() error {
			_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: user})
			return err
		}, ""},
		{"listed action, other case", func() error {
			_, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(accessKeyPrefix + randomID(16))})
			return err
		}, "NoSuchEntity"},
		{"unlisted action", func() error {
			_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
			return err
		}, "AccessDenied"},
		{"simulate needs its own permission", func() error {
			_, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(e.UserARN("rotator")), ActionNames: []string{"iam:ListAccessKeys"},
			})
			return err
		}, "AccessDenied"},
		{"GetCallerIdentity needs no permission", func() error {
			_, err := stsWith(url, id, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorCode(tt.call()); got != tt.wantCode {
				t.Fatalf("error code = %q, want %q", got, tt.wantCode)
			}
		})
	}

	_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("want HTTP 403, got %v", err)
	}
	want := "User: " + e.UserARN("rotator") + " is not authorized to perform: iam:CreateAccessKey on resource: " + e.UserARN("ci")
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q\ndoes not contain %q", err.Error(), want)
	}
	if len(e.Keys("ci")) != 0 {
		t.Errorf("a refused CreateAccessKey created a key")
	}
}

func TestAWSEmulatorSimulatePrincipalPolicy(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	ciARN := e.AddUserWithPath("ci", "/keyrotor/")
	e.AddPrincipal("partial", "iam:ListAccessKeys")
	e.AddPrincipal("iam-all", "iam:*")
	selfID, selfSecret := e.AddPrincipal("self-check", "iam:SimulatePrincipalPolicy")
	fullRole := "arn:aws:iam::" + e.AccountID() + ":role/ops/keyrotor"
	e.AddRole(fullRole)
	narrowRole := "arn:aws:iam::" + e.AccountID() + ":role/narrow"
	e.AddRoleAllowing(narrowRole, "iam:DeleteAccessKey")
	ctx := context.Background()
	actions := []string{"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"}

	tests := []struct {
		name     string
		client   *iam.Client
		source   string
		want     []string // decision per action
		wantCode string
	}{
		{"admin about itself", iamWith(url, adminID, adminSecret), e.UserARN("keyrotor-admin"),
			[]string{"allowed", "allowed", "allowed", "allowed"}, ""},
		{"partial principal", iamWith(url, adminID, adminSecret), e.UserARN("partial"),
			[]string{"allowed", "implicitDeny", "implicitDeny", "implicitDeny"}, ""},
		{"service wildcard", iamWith(url, adminID, adminSecret), e.UserARN("iam-all"),
			[]string{"allowed", "allowed", "allowed", "allowed"}, ""},
		{"principal allowed to simulate", iamWith(url, selfID, selfSecret), e.UserARN("self-check"),
			[]string{"implicitDeny", "implicitDeny", "implicitDeny", "implicitDeny"}, ""},
		{"admin role", iamWith(url, adminID, adminSecret), fullRole,
			[]string{"allowed", "allowed", "allowed", "allowed"}, ""},
		{"narrow role", iamWith(url, adminID, adminSecret), narrowRole,
			[]string{"implicitDeny", "implicitDeny", "implicitDeny", "allowed"}, ""},
		{"unknown user", iamWith(url, adminID, adminSecret), "arn:aws:iam::" + e.AccountID() + ":user/nobody", nil, "NoSuchEntity"},
		{"unknown role", iamWith(url, adminID, adminSecret), "arn:aws:iam::" + e.AccountID() + ":role/nobody", nil, "NoSuchEntity"},
		{"session ARN", iamWith(url, adminID, adminSecret), "arn:aws:sts::" + e.AccountID() + ":assumed-role/keyrotor/s", nil, "InvalidInput"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.client.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(tt.source), ActionNames: actions, ResourceArns: []string{ciARN},
			})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if len(out.EvaluationResults) != len(actions) {
				t.Fatalf("%d results, want %d", len(out.EvaluationResults), len(actions))
			}
			for i, r := range out.EvaluationResults {
				if aws.ToString(r.EvalActionName) != actions[i] || aws.ToString(r.EvalResourceName) != ciARN || string(r.EvalDecision) != tt.want[i] {
					t.Errorf("result %d: %s on %s: %s, want %s on %s: %s", i,
						aws.ToString(r.EvalActionName), aws.ToString(r.EvalResourceName), r.EvalDecision, actions[i], ciARN, tt.want[i])
				}
			}
		})
	}

	// Without ResourceArns the resource is "*"; without ActionNames the call is invalid.
	admin := iamWith(url, adminID, adminSecret)
	out, err := admin.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(e.UserARN("partial")), ActionNames: []string{"iam:ListAccessKeys"},
	})
	if err != nil || len(out.EvaluationResults) != 1 || aws.ToString(out.EvaluationResults[0].EvalResourceName) != "*" ||
		out.EvaluationResults[0].EvalDecision != types.PolicyEvaluationDecisionTypeAllowed {
		t.Errorf("default resource: %+v, %v", out, err)
	}
}

// Temporary credentials act with their role's grants: a narrow role cannot
// create keys, and a principal needs sts:AssumeRole to assume any role.
func TestAWSEmulatorRoleGrants(t *testing.T) {
	e, url := start(t)
	e.AddUser("ci")
	narrow := "arn:aws:iam::" + e.AccountID() + ":role/narrow"
	e.AddRoleAllowing(narrow, "iam:ListAccessKeys")
	id, secret := e.AddPrincipal("assumer", "sts:AssumeRole")
	ctx := context.Background()

	creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsWith(url, id, secret), narrow))
	c := iam.NewFromConfig(sdkConfig(url, creds))
	if _, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ci")}); err != nil {
		t.Fatalf("allowed action: %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci")}); errorCode(err) != "AccessDenied" {
		t.Fatalf("action the role lacks: %v", err)
	}

	otherID, otherSecret := e.AddPrincipal("no-assume", "iam:ListAccessKeys")
	_, err := stsWith(url, otherID, otherSecret).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(narrow), RoleSessionName: aws.String("x")})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:AssumeRole on resource: "+narrow) {
		t.Fatalf("AssumeRole without sts:AssumeRole: %v", err)
	}
}

func TestAWSEmulatorWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "arn:aws:ssm:eu-west-1:1:parameter/ci/key", true},
		{"arn:aws:ssm:*:1:parameter/ci/*", "arn:aws:ssm:eu-west-1:1:parameter/ci/a/b", true},
		{"arn:aws:ssm:*:1:parameter/ci/*", "arn:aws:ssm:eu-west-1:1:parameter/cid", false},
		{"arn:aws:secretsmanager:r:1:secret:ci-??????", "arn:aws:secretsmanager:r:1:secret:ci-AbC123", true},
		{"arn:aws:secretsmanager:r:1:secret:ci-??????", "arn:aws:secretsmanager:r:1:secret:ci-AbC12", false},
		{"arn:aws:secretsmanager:r:1:secret:ci-??????", "arn:aws:secretsmanager:r:1:secret:ci-x-AbC123", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %t, want %t", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// Resource-scoped statements and explicit denies are what
// SimulatePrincipalPolicy answers from, per action and resource, for users
// and roles alike; sessions of such a role are held to them.
func TestAWSEmulatorResourcePolicies(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	ciARN := e.AddUser("ci")
	otherARN := e.AddUser("other")
	policy := []Statement{
		{Actions: []string{"iam:*AccessKey*"}, Resources: []string{ciARN}},
		{Actions: []string{"ssm:PutParameter"}, Resources: []string{"arn:aws:ssm:*:*:parameter/ci/*"}},
		{Deny: true, Actions: []string{"iam:DeleteAccessKey"}},
	}
	e.AddPrincipalWithPolicy("scoped", policy...)
	roleARN := "arn:aws:iam::" + e.AccountID() + ":role/scoped"
	e.AddRoleWithPolicy(roleARN, policy...)
	admin := iamWith(url, adminID, adminSecret)
	ctx := context.Background()
	param := "arn:aws:ssm:eu-west-1:" + e.AccountID() + ":parameter/ci/key"

	tests := []struct {
		action, resource, want string
	}{
		{"iam:CreateAccessKey", ciARN, "allowed"},
		{"iam:CreateAccessKey", otherARN, "implicitDeny"},
		{"iam:ListAccessKeys", ciARN, "allowed"},
		{"iam:DeleteAccessKey", ciARN, "explicitDeny"},
		{"ssm:PutParameter", param, "allowed"},
		{"ssm:PutParameter", "*", "implicitDeny"},
		{"ssm:GetParameter", param, "implicitDeny"},
	}
	for _, source := range []string{e.UserARN("scoped"), roleARN} {
		for _, tt := range tests {
			out, err := admin.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(source), ActionNames: []string{tt.action}, ResourceArns: []string{tt.resource},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out.EvaluationResults[0].EvalDecision); got != tt.want {
				t.Errorf("%s: %s on %s = %s, want %s", source, tt.action, tt.resource, got, tt.want)
			}
		}
	}

	assumerID, assumerSecret := e.AddPrincipal("assumer", "sts:AssumeRole")
	c := iam.NewFromConfig(sdkConfig(url, aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsWith(url, assumerID, assumerSecret), roleARN))))
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci")}); err != nil {
		t.Fatalf("allowed user: %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("other")}); errorCode(err) != "AccessDenied" {
		t.Fatalf("other user: %v", err)
	}
	k := e.Keys("ci")[0]
	_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("ci"), AccessKeyId: aws.String(k.ID)})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:DeleteAccessKey on resource: "+ciARN+" with an explicit deny") {
		t.Fatalf("denied action: %v", err)
	}
}
