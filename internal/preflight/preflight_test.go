package preflight_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/preflight"
	"github.com/keyrotor/keyrotor/internal/report"
)

// rotatorActions is the rotator's policy plus what the check itself uses.
var rotatorActions = append(slices.Clone(preflight.Actions), "iam:GetUser", "iam:SimulatePrincipalPolicy")

// without returns rotatorActions minus the given actions.
func without(drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(rotatorActions), func(a string) bool { return slices.Contains(drop, a) })
}

// statuses is the expected status of every action of preflight.Actions, in order.
type statuses [5]preflight.Status

var allOK = statuses{preflight.StatusOK, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK}

func TestCheck(t *testing.T) {
	const user = "ci"
	tests := []struct {
		name string
		// setup seeds the emulator and returns the rotator's key and the
		// account's roleArn ("" for none).
		setup        func(e *awsemu.Emulator) (id string, secret model.Secret, roleARN string)
		user         string
		want         statuses // nil-equivalent zero value when the user or account has a problem
		wantProblem  string   // in the account's or the user's Problem
		wantMissing  []string
		wantInReason string // in some action's reason
	}{
		{
			name: "full rights",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddAdmin()
				return id, s, ""
			},
			want: allOK,
		},
		{
			name: "exact policy",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddPrincipal("rotator", rotatorActions...)
				return id, s, ""
			},
			want: allOK,
		},
		{
			name: "lacking CreateAccessKey",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddPrincipal("rotator", without("iam:CreateAccessKey")...)
				return id, s, ""
			},
			want:         statuses{preflight.StatusOK, preflight.StatusMissing, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK},
			wantMissing:  []string{"account prod, user ci: iam:CreateAccessKey"},
			wantInReason: "implicitDeny for arn:aws:iam::123456789012:user/rotator on arn:aws:iam::123456789012:user/keyrotor/ci",
		},
		{
			name: "lacking ListAccessKeys",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddPrincipal("rotator", without("iam:ListAccessKeys")...)
				return id, s, ""
			},
			want:         statuses{preflight.StatusMissing, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK},
			wantMissing:  []string{"account prod, user ci: iam:ListAccessKeys"},
			wantInReason: "is not authorized to perform: iam:ListAccessKeys",
		},
		{
			name: "lacking SimulatePrincipalPolicy",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddPrincipal("rotator", without("iam:SimulatePrincipalPolicy")...)
				return id, s, ""
			},
			want:         statuses{preflight.StatusOK, preflight.StatusUnknown, preflight.StatusUnknown, preflight.StatusUnknown, preflight.StatusUnknown},
			wantInReason: "not checked: iam:SimulatePrincipalPolicy is not allowed for arn:aws:iam::123456789012:user/rotator",
		},
		{
			// Without GetUser the user's path is guessed, so a denial is not conclusive.
			name: "lacking GetUser and CreateAccessKey",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddPrincipal("rotator", without("iam:GetUser", "iam:CreateAccessKey")...)
				return id, s, ""
			},
			want:         statuses{preflight.StatusOK, preflight.StatusUnknown, preflight.StatusOK, preflight.StatusOK, preflight.StatusOK},
			wantInReason: "the user's path is a guess",
		},
		{
			name: "unknown user",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddAdmin()
				return id, s, ""
			},
			user:        "ghost",
			wantProblem: "user ghost does not exist",
			wantMissing: []string{"account prod: user ghost does not exist"},
		},
		{
			name: "role lacking DeleteAccessKey",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				role := "arn:aws:iam::" + e.AccountID() + ":role/ops/keyrotor"
				e.AddRoleAllowing(role, without("iam:DeleteAccessKey")...)
				id, s := e.AddPrincipal("rotator", "sts:AssumeRole")
				return id, s, role
			},
			want:         statuses{preflight.StatusOK, preflight.StatusOK, preflight.StatusOK, preflight.StatusMissing, preflight.StatusOK},
			wantMissing:  []string{"account prod, user ci: iam:DeleteAccessKey"},
			wantInReason: "implicitDeny for arn:aws:iam::123456789012:role/ops/keyrotor on",
		},
		{
			name: "role that cannot be assumed",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddAdmin()
				return id, s, "arn:aws:iam::" + e.AccountID() + ":role/absent"
			},
			wantProblem: "cannot assume arn:aws:iam::123456789012:role/absent: AccessDenied: User: arn:aws:iam::123456789012:user/keyrotor-admin is not authorized to perform: sts:AssumeRole",
			wantMissing: []string{"account prod: cannot assume arn:aws:iam::123456789012:role/absent"},
		},
		{
			name: "deactivated rotator key",
			setup: func(e *awsemu.Emulator) (string, model.Secret, string) {
				id, s := e.AddAdmin()
				if err := e.SetKeyStatus(id, model.KeyInactive); err != nil {
					panic(err)
				}
				return id, s, ""
			},
			wantProblem: "cannot authenticate with the rotator's credentials: InvalidClientTokenId",
			wantMissing: []string{"account prod: cannot authenticate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := awsemu.New()
			srv := httptest.NewServer(e.Handler())
			t.Cleanup(srv.Close)
			e.AddUserWithPath(user, "/keyrotor/")
			id, secret, roleARN := tt.setup(e)
			name := tt.user
			if name == "" {
				name = user
			}
			cfg := &config.Config{
				Accounts:  []config.Account{{Name: "prod", Region: "eu-west-1", RoleARN: roleARN}},
				Rotations: []model.Rotation{{Account: "prod", User: name}},
			}

			rep := check(t, cfg, srv.URL, id, secret)

			text := reportText(t, rep)
			t.Logf("report:\n%s", text)
			if strings.Contains(text, secret.Reveal()) || strings.Contains(strings.Join(rep.Missing(), "\n"), secret.Reveal()) {
				t.Fatalf("the report reveals the rotator's secret:\n%s", text)
			}
			if len(rep.Accounts) != 1 {
				t.Fatalf("%d accounts in the report", len(rep.Accounts))
			}
			acct := rep.Accounts[0]
			problem := acct.Problem
			if len(acct.Users) == 1 {
				problem += acct.Users[0].Problem
			}
			if tt.wantProblem == "" && problem != "" || !strings.Contains(problem, tt.wantProblem) {
				t.Fatalf("problem = %q, want %q\n%s", problem, tt.wantProblem, text)
			}
			if tt.wantProblem == "" {
				checkStatuses(t, acct, tt.want, text)
			}
			checkMissing(t, rep.Missing(), tt.wantMissing)
			if tt.wantInReason != "" && !strings.Contains(text, tt.wantInReason) {
				t.Errorf("no reason contains %q:\n%s", tt.wantInReason, text)
			}
		})
	}
}

// check runs preflight.Check with clients built as the starter builds them, signing
// with the given key against the emulator.
func check(t *testing.T, cfg *config.Config, url, id string, secret model.Secret) *preflight.Report {
	t.Helper()
	ctx := context.Background()
	newClients, err := preflight.NewAWSClients(ctx, cfg,
		awsconfig.WithBaseEndpoint(url),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")),
		awsconfig.WithSharedConfigFiles(nil),
		awsconfig.WithSharedCredentialsFiles(nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := preflight.Check(ctx, cfg, newClients)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func reportText(t *testing.T, rep *preflight.Report) string {
	t.Helper()
	var b strings.Builder
	if err := report.Preflight(&b, rep); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func checkStatuses(t *testing.T, acct preflight.AccountReport, want statuses, text string) {
	t.Helper()
	if len(acct.Users) != 1 || len(acct.Users[0].Actions) != len(preflight.Actions) {
		t.Fatalf("want one user with %d actions:\n%s", len(preflight.Actions), text)
	}
	for i, res := range acct.Users[0].Actions {
		if res.Action != preflight.Actions[i] || res.Status != want[i] || res.Reason == "" {
			t.Errorf("action %d: %s %s (%q), want %s %s with a reason", i, res.Action, res.Status, res.Reason, preflight.Actions[i], want[i])
		}
	}
}

// checkMissing compares Missing's lines with the wanted prefixes.
func checkMissing(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Missing() = %q, want %d line(s) starting %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("Missing()[%d] = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// Several accounts and users: each is checked on its own, duplicates once,
// and an account without rotations is still authenticated.
func TestCheckSeveralAccounts(t *testing.T) {
	e := awsemu.New()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	e.AddUser("a")
	e.AddUserWithPath("b", "/ci/")
	role := "arn:aws:iam::" + e.AccountID() + ":role/keyrotor"
	e.AddRole(role)
	id, secret := e.AddPrincipal("rotator", append(slices.Clone(rotatorActions), "sts:AssumeRole")...)
	cfg := &config.Config{
		Accounts: []config.Account{{Name: "one"}, {Name: "two", RoleARN: role}, {Name: "idle"}},
		Rotations: []model.Rotation{
			{Account: "one", User: "a"}, {Account: "one", User: "b"}, {Account: "one", User: "A"},
			{Account: "two", User: "b"},
		},
	}
	rep := check(t, cfg, srv.URL, id, secret)
	text := reportText(t, rep)
	if m := rep.Missing(); len(m) != 0 || rep.Unknown() != 0 {
		t.Fatalf("Missing() = %q, Unknown() = %d\n%s", m, rep.Unknown(), text)
	}
	var got []string
	for _, a := range rep.Accounts {
		for _, u := range a.Users {
			got = append(got, a.Name+"/"+u.ARN)
		}
	}
	want := []string{"one/" + e.UserARN("a"), "one/" + e.UserARN("b"), "two/" + e.UserARN("b")}
	if !slices.Equal(got, want) {
		t.Errorf("checked %q, want %q\n%s", got, want, text)
	}
	if c := rep.Accounts[1].Caller; c != "arn:aws:sts::"+e.AccountID()+":assumed-role/keyrotor/keyrotor-two" {
		t.Errorf("caller in the role's account: %q", c)
	}
	if !strings.Contains(text, "account idle: as "+e.UserARN("rotator")+"\n  no user is rotated in this account") {
		t.Errorf("idle account:\n%s", text)
	}
}
