package awsemu

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// GetAccessKeyInfo names the owning account of any key ID: this
// emulator's keys, another emulator's, a made-up one of a third account,
// a deleted one, and temporary credentials of a role in another account.
func TestAWSEmulatorGetAccessKeyInfo(t *testing.T) {
	e, url := start(t)
	other := New(WithAccountID("210987654321"))
	adminID, adminSecret := e.AddAdmin()
	c := stsWith(url, adminID, adminSecret)
	ctx := context.Background()
	e.AddUser("ci")
	own := mustKey(t, e, "ci")
	other.AddUser("ci")
	foreign := mustKey(t, other, "ci")
	deleted := mustKey(t, e, "ci")
	if _, err := iamWith(url, adminID, adminSecret).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("ci"), AccessKeyId: aws.String(deleted.ID)}); err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::000000000042:role/keyrotor"
	e.AddRole(role)
	assumed, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, id, want string }{
		{"own key", own.ID, DefaultAccountID},
		{"deleted key", deleted.ID, DefaultAccountID},
		{"another emulator's key", foreign.ID, "210987654321"},
		{"made-up key", KeyIDInAccount("999999999999"), "999999999999"},
		{"small account ID", KeyIDInAccount("000000000001"), "000000000001"},
		{"temporary key", aws.ToString(assumed.Credentials.AccessKeyId), "000000000042"},
		{"the caller's own key", adminID, DefaultAccountID},
	} {
		out, err := c.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(tt.id)})
		if err != nil || aws.ToString(out.Account) != tt.want {
			t.Errorf("%s: GetAccessKeyInfo(%s) = %v, %v; want %s", tt.name, tt.id, out, err, tt.want)
		}
	}
	for _, tt := range []struct{ id, code string }{
		{"AKIA", "ValidationError"},
		{"AKIA-ABCDEFGHIJKLMNOP", "ValidationError"},
		{"AKIA" + strings.Repeat("0", 16), "InvalidParameterValue"}, // 0 is not base32
		{"AIDA" + strings.Repeat("A", 16), "InvalidParameterValue"},
	} {
		_, err := c.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(tt.id)})
		if got := errorCode(err); got != tt.code {
			t.Errorf("GetAccessKeyInfo(%q): code %q (%v), want %s", tt.id, got, err, tt.code)
		}
	}
	// It needs sts:GetAccessKeyInfo, unlike GetCallerIdentity.
	id, secret := e.AddPrincipal("reader", "iam:ListUsers")
	_, err = stsWith(url, id, secret).GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(own.ID)})
	if got := errorCode(err); got != "AccessDenied" || !strings.Contains(err.Error(), "sts:GetAccessKeyInfo") {
		t.Errorf("without the permission: %v, want AccessDenied naming sts:GetAccessKeyInfo", err)
	}
}

// ListUsers pages through every user (sorted by name), filters by path,
// and is refused without iam:ListUsers, naming the users' ARN prefix.
func TestAWSEmulatorListUsers(t *testing.T) {
	e, url := start(t)
	adminID, adminSecret := e.AddAdmin()
	for i := range 7 {
		e.AddUserWithPath(fmt.Sprintf("user-%d", i), "/ci/")
	}
	e.AddUser("Zed")
	c := iamWith(url, adminID, adminSecret)
	ctx := context.Background()
	var names []string
	pages := 0
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{MaxItems: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
			if aws.ToString(u.Arn) == "" || aws.ToString(u.UserId) == "" || u.CreateDate == nil {
				t.Errorf("user %s lacks ARN, ID or date: %+v", aws.ToString(u.UserName), u)
			}
		}
	}
	want := "keyrotor-admin user-0 user-1 user-2 user-3 user-4 user-5 user-6 Zed"
	if got := strings.Join(names, " "); got != want || pages != 3 {
		t.Errorf("ListUsers: %d pages: %s; want 3 pages: %s", pages, got, want)
	}
	out, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/ci/")})
	if err != nil || len(out.Users) != 7 || out.IsTruncated {
		t.Errorf("PathPrefix /ci/: %v, %v; want the 7 users, not truncated", out, err)
	}
	if _, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)}); errorCode(err) != "ValidationError" {
		t.Errorf("MaxItems 1001: %v, want ValidationError", err)
	}
	id, secret := e.AddPrincipal("lister", "iam:ListAccessKeys")
	_, err = iamWith(url, id, secret).ListUsers(ctx, &iam.ListUsersInput{})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:ListUsers on resource: *") {
		t.Errorf("without iam:ListUsers: %v", err)
	}
}
