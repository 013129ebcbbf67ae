package preflight_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/preflight"
)

// A dry run puts each rotation's IAM check and targets together, and lists
// what would stop it: an account problem, a missing action, a target that
// cannot be written. Unknown actions are counted, not failed.
func TestNewDryRuns(t *testing.T) {
	rots := []model.Rotation{
		{Account: "demo", User: "ci-deployer", SecretNames: model.DefaultSecretNames},
		{Account: "demo", User: "Web"},
		{Account: "ops", User: "ops-bot"},
	}
	rep := &preflight.Report{Accounts: []preflight.AccountReport{
		{Name: "demo", Caller: "arn:aws:iam::1:user/rotator", Users: []preflight.UserReport{
			{Name: "ci-deployer", ARN: "arn:aws:iam::1:user/ci-deployer", Actions: []preflight.ActionResult{
				{Action: "iam:ListAccessKeys", Status: preflight.StatusOK},
				{Action: "iam:CreateAccessKey", Status: preflight.StatusUnknown},
			}},
			{Name: "web", ARN: "arn:aws:iam::1:user/web", Actions: []preflight.ActionResult{
				{Action: "iam:CreateAccessKey", Status: preflight.StatusMissing, Reason: "implicitDeny"},
			}},
		}},
		{Name: "ops", Problem: "cannot assume arn:aws:iam::2:role/r: AccessDenied"},
	}}
	targets := [][]preflight.PlannedTarget{
		{{Target: "github acme/api", Access: preflight.TargetAccess{OK: true}}},
		{{Target: "github acme/gone", Access: preflight.TargetAccess{Detail: "404 Not Found"}}},
	}
	runs := preflight.NewDryRuns(rots, rep, targets)
	require.Len(t, runs, 3)

	require.Equal(t, "rotate/demo/ci-deployer", runs[0].WorkflowID)
	require.Equal(t, "arn:aws:iam::1:user/rotator", runs[0].Caller)
	require.Empty(t, runs[0].Missing())
	require.Equal(t, 1, runs[0].Unknown())

	require.Equal(t, "arn:aws:iam::1:user/web", runs[1].IAM.ARN, "user names match without regard to case")
	require.Equal(t, []string{"IAM: iam:CreateAccessKey: implicitDeny", "target github acme/gone: 404 Not Found"}, runs[1].Missing())

	require.Equal(t, []string{"IAM: account ops: cannot assume arn:aws:iam::2:role/r: AccessDenied"}, runs[2].Missing())
	require.Empty(t, runs[2].Targets)
}
