package discover

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/emulator/awsemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// account is one emulated AWS account served over HTTP, reached with the
// real SDK.
type account struct {
	emu *awsemu.Emulator
	cfg aws.Config
}

func newAccount(t *testing.T, id string) *account {
	t.Helper()
	emu := awsemu.New(awsemu.WithAccountID(id))
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	keyID, secret := emu.AddAdmin()
	return &account{emu: emu, cfg: aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret.Reveal(), ""),
	}}
}

const discoverConfig = `accounts:
  - {name: prod, region: us-east-1}
  - {name: dev, region: us-east-1, roleArn: "arn:aws:iam::210987654321:role/keyrotor"}
github: {token: "${GITHUB_TOKEN}"}
rotations:
  - user: ci-static
    account: prod
    targets: [{github: {repository: acme/static}}]
  - selector: {path: /ci/, tag: {keyrotor: "true"}}
    account: prod
    targets:
      - github: {repository: "acme/{{.Tags.repo}}"}
  - selector: {account: dev, tag: {team: web}}
    targets:
      - github: {repository: "acme-dev/{{.User}}", environment: "{{.Tags.env}}"}
`

func setup(t *testing.T) (*config.Config, *account, *account, Clients) {
	t.Helper()
	cfg, err := config.Parse("k.yaml", []byte(discoverConfig), func(string) (string, bool) { return "t", true })
	if err != nil {
		t.Fatal(err)
	}
	prod, dev := newAccount(t, "123456789012"), newAccount(t, "210987654321")
	clientsOf := func(_ context.Context, a string) (IAM, error) {
		if a == "prod" {
			return iam.NewFromConfig(prod.cfg), nil
		}
		return iam.NewFromConfig(dev.cfg), nil
	}
	return cfg, prod, dev, clientsOf
}

func TestRun(t *testing.T) {
	cfg, prod, dev, clientsOf := setup(t)
	prod.emu.AddUserWithPath("deployer", "/ci/")
	prod.emu.TagUser("deployer", map[string]string{"keyrotor": "true", "repo": "api"})
	prod.emu.AddUserWithPath("untagged", "/ci/")
	prod.emu.AddUserWithPath("elsewhere", "/ops/")
	prod.emu.TagUser("elsewhere", map[string]string{"keyrotor": "true", "repo": "ops"})
	prod.emu.AddUserWithPath("norepo", "/ci/team/")
	prod.emu.TagUser("norepo", map[string]string{"keyrotor": "true"})
	prod.emu.AddUserWithPath("ci-static", "/ci/")
	prod.emu.TagUser("ci-static", map[string]string{"keyrotor": "true", "repo": "other"})
	dev.emu.AddUser("web-ci")
	dev.emu.TagUser("web-ci", map[string]string{"team": "web", "env": "staging"})
	dev.emu.AddUser("deployer") // same name as prod's, another account
	dev.emu.TagUser("deployer", map[string]string{"team": "api"})

	res := Run(context.Background(), cfg, clientsOf)
	var got []string
	for _, f := range res.Rotations {
		got = append(got, f.Account+"/"+f.User+" "+f.Targets[0].String()+" "+f.SelectedBy)
	}
	want := []string{"dev/web-ci github acme-dev/web-ci@staging rotations[2]", "prod/deployer github acme/api rotations[1]"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rotations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Problems) != 1 || res.Problems[0].User != "norepo" || !strings.Contains(res.Problems[0].Msg, `the user has no tag "repo"`) {
		t.Errorf("problems: %+v", res.Problems)
	}
	if !res.Matched[model.WorkflowID("prod", "norepo")] || res.Matched[model.WorkflowID("prod", "ci-static")] || len(res.FailedAccounts) != 0 {
		t.Errorf("matched %v failed %v", res.Matched, res.FailedAccounts)
	}
	if f, ok := res.Lookup("", "WEB-CI"); !ok || f.Account != "dev" {
		t.Errorf("lookup: %+v %v", f, ok)
	}

	// Untagged and deleted users drop out.
	prod.emu.UntagUser("deployer", "keyrotor")
	dev.emu.DeleteUser("web-ci")
	res = Run(context.Background(), cfg, clientsOf)
	if len(res.Rotations) != 0 || res.Matched[model.WorkflowID("prod", "deployer")] {
		t.Errorf("after untag and delete: %+v", res.Rotations)
	}
}

func TestRunDeniedAccount(t *testing.T) {
	cfg, prod, dev, clientsOf := setup(t)
	dev.emu.AddUser("web-ci")
	dev.emu.TagUser("web-ci", map[string]string{"team": "web", "env": "staging"})
	prod.emu.AddUserWithPath("deployer", "/ci/")
	prod.emu.TagUser("deployer", map[string]string{"keyrotor": "true", "repo": "api"})
	// The prod principal may list users but not read their tags.
	id, secret := prod.emu.AddPrincipal("narrow", "iam:ListUsers")
	prod.cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret.Reveal(), "")
	res := Run(context.Background(), cfg, clientsOf)
	if len(res.FailedAccounts) != 1 || res.FailedAccounts[0] != "prod" || len(res.Rotations) != 1 || res.Rotations[0].Account != "dev" {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Problems[0].Msg, "iam:ListUserTags") || !strings.Contains(res.Problems[0].Msg, "AccessDenied") {
		t.Errorf("problem: %v", res.Problems[0].Msg)
	}
}
