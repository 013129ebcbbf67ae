package awsemu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// ListUsers pages through the users sorted by name, filters by path
// prefix, refuses a bad MaxItems, and is authorized on "*" (it supports no
// resource-level permission).
func TestAWSEmulatorListUsersPages(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	e.AddUserWithPath("Zed", "/ci/")
	e.AddUserWithPath("alice", "/people/")
	e.AddUserWithPath("bob", "/ci/")
	admin := iamWith(url, adminID, adminSecret)
	ctx := context.Background()

	var names []string
	pages := 0
	p := iam.NewListUsersPaginator(admin, &iam.ListUsersInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
			if aws.ToString(u.Arn) != e.UserARN(aws.ToString(u.UserName)) || u.CreateDate == nil || aws.ToString(u.UserId) == "" {
				t.Errorf("user %+v: want its ARN, ID and CreateDate", u)
			}
		}
	}
	if got := strings.Join(names, ","); got != "alice,bob,keyrotor-admin,Zed" || pages != 2 {
		t.Errorf("users = %s in %d pages, want alice,bob,keyrotor-admin,Zed in 2", got, pages)
	}

	out, err := admin.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/ci/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Users) != 2 || out.IsTruncated || aws.ToString(out.Users[1].Path) != "/ci/" {
		t.Errorf("PathPrefix /ci/: %+v", out.Users)
	}
	if _, err := admin.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)}); errorCode(err) != "ValidationError" {
		t.Errorf("MaxItems 1001: %v, want ValidationError", err)
	}
	if _, err := admin.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("!")}); errorCode(err) != "ValidationError" {
		t.Errorf("bad Marker: %v, want ValidationError", err)
	}

	// A policy scoped to a user path cannot grant ListUsers: it is
	// evaluated on "*".
	scopedID, scopedSecret := e.AddPrincipalWithPolicy("scoped", Statement{
		Actions: []string{"iam:ListUsers"}, Resources: []string{"arn:aws:iam::" + e.AccountID() + ":user/*"},
	})
	_, err = iamWith(url, scopedID, scopedSecret).ListUsers(ctx, &iam.ListUsersInput{})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:ListUsers on resource: *") {
		t.Errorf("scoped ListUsers: %v, want AccessDenied on *", err)
	}
	listerID, listerSecret := e.AddPrincipal("lister", "iam:ListUsers")
	if _, err := iamWith(url, listerID, listerSecret).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Errorf("ListUsers allowed on *: %v", err)
	}
}

// GetAccessKeyLastUsed is authorized on the key's owner, as in IAM, so a
// policy scoped to a user path allows it for those users' keys only.
func TestAWSEmulatorLastUsedAuthorizedOnOwner(t *testing.T) {
	e, url := start(t)
	e.AddUserWithPath("ci", "/keyrotor/")
	e.AddUser("person")
	ci, person := mustKey(t, e, "ci"), mustKey(t, e, "person")
	id, secret := e.AddPrincipalWithPolicy("rotator", Statement{
		Actions: []string{"iam:GetAccessKeyLastUsed"}, Resources: []string{"arn:aws:iam::" + e.AccountID() + ":user/keyrotor/*"},
	})
	c := iamWith(url, id, secret)
	ctx := context.Background()
	if _, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(ci.ID)}); err != nil {
		t.Errorf("key of a user under the path: %v", err)
	}
	_, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(person.ID)})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "on resource: "+e.UserARN("person")) {
		t.Errorf("key of another user: %v, want AccessDenied on %s", err, e.UserARN("person"))
	}
}

// SetKeyCreated backdates a key, as ListAccessKeys then shows it.
func TestAWSEmulatorSetKeyCreated(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	e.AddUser("old")
	k := mustKey(t, e, "old")
	when := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := e.SetKeyCreated(k.ID, when); err != nil {
		t.Fatal(err)
	}
	out, err := iamWith(url, adminID, adminSecret).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("old")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(out.AccessKeyMetadata[0].CreateDate); !got.Equal(when.Truncate(time.Second)) {
		t.Errorf("CreateDate = %s, want %s", got, when.Truncate(time.Second))
	}
	if err := e.SetKeyCreated("AKIANOSUCHKEYEXAMPLE", when); err == nil {
		t.Error("an unknown key was backdated")
	}
}
