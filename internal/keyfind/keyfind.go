// Package keyfind finds who owns a leaked access key ID among the configured
// AWS accounts, so that `starter revoke --key AKIA…` needs nothing else:
//
//  1. the owning AWS account: sts:GetAccessKeyInfo, which answers for any
//     key ID, matched against the configured accounts' IDs (from the
//     roleArn, or sts:GetCallerIdentity for the account without one);
//  2. the IAM user: iam:ListAccessKeys on the users rotated in that account
//     first, then on the others from iam:ListUsers, stopping at the first
//     user that holds the key;
//  3. its status, creation and last use (iam:GetAccessKeyLastUsed), and the
//     configured rotation of that user, if any.
//
// Every call is made with the rotator's credentials (the worker's: the
// SDK's default chain, with the account's role assumed when it has one).
// Find only reads; Deactivate sets a key Inactive and never deletes it.
package keyfind

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

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

// IAM is the part of the IAM client the lookup (and Deactivate) calls.
type IAM interface {
	ListUsers(ctx context.Context, in *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// STS is the part of the STS client the lookup calls.
type STS interface {
	GetAccessKeyInfo(ctx context.Context, in *sts.GetAccessKeyInfoInput, optFns ...func(*sts.Options)) (*sts.GetAccessKeyInfoOutput, error)
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Clients returns a configured account's IAM and STS clients, signed with
// the rotator's credentials.
type Clients func(ctx context.Context, account string) (IAM, STS, error)

// FromAWS gives the lookup the worker's own per-account configuration:
// the same credentials, roles and endpoints.
func FromAWS(a *clients.AWS) Clients {
	return func(_ context.Context, account string) (IAM, STS, error) {
		cfg, err := a.Config(account)
		if err != nil {
			return nil, nil, err
		}
		return iam.NewFromConfig(cfg), sts.NewFromConfig(cfg), nil
	}
}

// NewAWSClients builds clients for cfg's accounts as the worker does
// (clients.NewAWS: the SDK's default chain, which optFns may override).
func NewAWSClients(ctx context.Context, cfg *config.Config, optFns ...func(*awsconfig.LoadOptions) error) (Clients, error) {
	a, err := clients.NewAWSForConfig(ctx, cfg, optFns...)
	if err != nil {
		return nil, err
	}
	return FromAWS(a), nil
}

var keyIDRE = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)

// ValidateKeyID accepts a long-term access key ID: AKIA and 16 letters or
// digits. Temporary credentials (ASIA…) belong to no IAM user's keys: they
// expire on their own and cannot be revoked by key ID.
func ValidateKeyID(id string) error {
	switch {
	case strings.HasPrefix(id, "ASIA"):
		return fmt.Errorf("%s is a temporary access key ID (ASIA…, from STS): it belongs to a role session, not to an IAM user, and cannot be revoked this way; it expires on its own, or revoke the role's active sessions (IAM console: the role's \"Revoke sessions\")", id)
	case !keyIDRE.MatchString(id):
		return fmt.Errorf("%q is not an access key ID: want AKIA followed by 16 upper-case letters or digits (20 characters)", id)
	}
	return nil
}

// Key is what the lookup found: whose key it is, in which state, and the
// rotation that manages it. It holds no secret.
type Key struct {
	ID        string    `json:"accessKeyId"`
	AccountID string    `json:"accountId"` // the AWS account that owns the key
	Account   string    `json:"account"`   // its name in the configuration
	User      string    `json:"user"`      // as IAM spells it
	Status    string    `json:"status"`    // Active or Inactive
	CreatedAt time.Time `json:"createdAt"`
	// LastUsed is nil when the key was never used; LastUsedProblem says
	// why it is unknown when GetAccessKeyLastUsed failed.
	LastUsed        *time.Time `json:"lastUsed,omitempty"`
	LastUsedService string     `json:"lastUsedService,omitempty"`
	LastUsedRegion  string     `json:"lastUsedRegion,omitempty"`
	LastUsedProblem string     `json:"lastUsedProblem,omitempty"`
	// Rotation is the configured rotation of the user; nil when none.
	Rotation *model.Rotation `json:"-"`
	// Calls counts the AWS API calls the lookup made (the SDK's own
	// AssumeRole calls aside).
	Calls int `json:"calls"`
}

// Managed reports whether a configured rotation manages the key's user.
func (k Key) Managed() bool { return k.Rotation != nil }

// NotFoundError is a key ID that no configured account holds.
type NotFoundError struct {
	KeyID     string
	AccountID string // the owner GetAccessKeyInfo named
	// Account is the configured account of AccountID; "" when none is.
	Account string
	// Searched are the configured accounts, "name (ID)", or the users
	// searched in Account.
	Searched []string
	// Unchecked are users whose keys could not be listed, with the reason.
	Unchecked []string
}

func (e *NotFoundError) Error() string {
	if e.Account == "" {
		return fmt.Sprintf("access key %s belongs to AWS account %s, which is not configured; accounts searched: %s",
			e.KeyID, e.AccountID, strings.Join(e.Searched, ", "))
	}
	msg := fmt.Sprintf("access key %s belongs to AWS account %s (account %s), but none of its %d IAM users holds it: it was deleted, or it is the root user's",
		e.KeyID, e.AccountID, e.Account, len(e.Searched))
	if len(e.Unchecked) > 0 {
		msg += fmt.Sprintf("; %d user(s) could not be checked: %s", len(e.Unchecked), strings.Join(e.Unchecked, "; "))
	}
	return msg
}

// Finder looks keys up in cfg's accounts. It caches the accounts' IDs, so
// one Finder serves one run of the command.
type Finder struct {
	cfg     *config.Config
	clients Clients
	ids     map[string]string // configured account name → AWS account ID
}

// New returns a Finder for cfg's accounts.
func New(cfg *config.Config, c Clients) *Finder {
	return &Finder{cfg: cfg, clients: c, ids: map[string]string{}}
}

// Find returns the owner of the key ID. A key that no configured account
// holds is a *NotFoundError; a refused or failed call is an error naming
// the account, the action and, where there is one, the user.
func (f *Finder) Find(ctx context.Context, keyID string) (Key, error) {
	if err := ValidateKeyID(keyID); err != nil {
		return Key{}, err
	}
	if len(f.cfg.Accounts) == 0 {
		return Key{}, errors.New("no AWS account is configured")
	}
	k := Key{ID: keyID}
	owner, err := f.ownerAccountID(ctx, &k)
	if err != nil {
		return Key{}, err
	}
	k.AccountID = owner
	accounts, err := f.accountsWithID(ctx, &k, owner)
	if err != nil {
		return Key{}, err
	}
	if len(accounts) == 0 {
		return Key{}, &NotFoundError{KeyID: keyID, AccountID: owner, Searched: f.described()}
	}
	k.Account = accounts[0]
	iamc, _, err := f.clients(ctx, k.Account)
	if err != nil {
		return Key{}, fmt.Errorf("account %s: AWS clients: %w", k.Account, err)
	}
	meta, err := f.findUser(ctx, &k, iamc, accounts)
	if err != nil {
		return Key{}, err
	}
	k.User = aws.ToString(meta.UserName)
	k.Status = string(meta.Status)
	k.CreatedAt = aws.ToTime(meta.CreateDate)
	f.lastUsed(ctx, &k, iamc)
	for _, r := range f.cfg.Rotations {
		if slices.Contains(accounts, r.Account) && strings.EqualFold(r.User, k.User) {
			k.Account = r.Account
			k.Rotation = &r
			break
		}
	}
	return k, nil
}

// ownerAccountID asks STS which account owns the key, in the first
// account whose credentials work: accounts without a roleArn first (no
// role to assume), then in file order.
func (f *Finder) ownerAccountID(ctx context.Context, k *Key) (string, error) {
	order := slices.Clone(f.cfg.Accounts)
	slices.SortStableFunc(order, func(a, b config.Account) int {
		return boolInt(a.RoleARN != "") - boolInt(b.RoleARN != "")
	})
	var errs []error
	for _, a := range order {
		_, stsc, err := f.clients(ctx, a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: AWS clients: %w", a.Name, err))
			continue
		}
		k.Calls++
		out, err := stsc.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(k.ID)})
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: sts:GetAccessKeyInfo %s: %s", a.Name, k.ID, reason(err)))
			continue
		}
		return aws.ToString(out.Account), nil
	}
	return "", fmt.Errorf("cannot tell which AWS account owns %s: %w", k.ID, errors.Join(errs...))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// accountsWithID returns the configured accounts that are the AWS account
// id, in file order. A roleArn names its account; the account without one
// (there is at most one) costs a GetCallerIdentity, made only when no
// roleArn matched.
func (f *Finder) accountsWithID(ctx context.Context, k *Key, id string) ([]string, error) {
	var out []string
	for _, a := range f.cfg.Accounts {
		if a.RoleARN != "" {
			f.ids[a.Name] = roleAccountID(a.RoleARN)
			if f.ids[a.Name] == id {
				out = append(out, a.Name)
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, a := range f.cfg.Accounts {
		if a.RoleARN != "" {
			continue
		}
		got, err := f.callerAccountID(ctx, k, a.Name)
		if err != nil {
			return nil, err
		}
		if got == id {
			out = append(out, a.Name)
		}
	}
	return out, nil
}

// callerAccountID is the account ID of the rotator's credentials in
// account, asked once per Finder.
func (f *Finder) callerAccountID(ctx context.Context, k *Key, account string) (string, error) {
	if id, ok := f.ids[account]; ok {
		return id, nil
	}
	_, stsc, err := f.clients(ctx, account)
	if err != nil {
		return "", fmt.Errorf("account %s: AWS clients: %w", account, err)
	}
	k.Calls++
	who, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("account %s: sts:GetCallerIdentity (to learn the account's ID): %s", account, reason(err))
	}
	f.ids[account] = aws.ToString(who.Account)
	return f.ids[account], nil
}

// described lists every configured account as "name (ID)", with "ID
// unknown" for one whose ID was not needed.
func (f *Finder) described() []string {
	out := make([]string, len(f.cfg.Accounts))
	for i, a := range f.cfg.Accounts {
		id := f.ids[a.Name]
		if id == "" {
			id = "ID unknown"
		}
		out[i] = a.Name + " (" + id + ")"
	}
	return out
}

var roleARNAccount = regexp.MustCompile(`^arn:aws[\w-]*:iam::(\d{12}):role/`)

func roleAccountID(roleARN string) string {
	if m := roleARNAccount.FindStringSubmatch(roleARN); m != nil {
		return m[1]
	}
	return ""
}

// listUsersPage is the largest page IAM's ListUsers returns: fewest calls.
const listUsersPage = 1000

// findUser finds the user holding the key: the users rotated in the
// account first (in file order), then every other user, page by page.
func (f *Finder) findUser(ctx context.Context, k *Key, c IAM, accounts []string) (types.AccessKeyMetadata, error) {
	checked := map[string]bool{} // IAM user names ignore case
	var searched, unchecked []string
	try := func(user string, configured bool) (types.AccessKeyMetadata, bool, error) {
		if checked[strings.ToLower(user)] {
			return types.AccessKeyMetadata{}, false, nil
		}
		checked[strings.ToLower(user)] = true
		k.Calls++
		out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		switch {
		case isCode(err, "NoSuchEntity"):
			return types.AccessKeyMetadata{}, false, nil // a configured user that is gone
		case err != nil && !configured && isCode(err, "AccessDenied"):
			// The rotator's policy may cover only its own users' path.
			unchecked = append(unchecked, user+": "+reason(err))
			return types.AccessKeyMetadata{}, false, nil
		case err != nil:
			return types.AccessKeyMetadata{}, false, fmt.Errorf("account %s, user %s: iam:ListAccessKeys: %s", k.Account, user, reason(err))
		}
		searched = append(searched, user)
		for _, m := range out.AccessKeyMetadata {
			if aws.ToString(m.AccessKeyId) == k.ID {
				return m, true, nil
			}
		}
		return types.AccessKeyMetadata{}, false, nil
	}
	for _, r := range f.cfg.Rotations {
		if !slices.Contains(accounts, r.Account) {
			continue
		}
		if m, ok, err := try(r.User, true); err != nil || ok {
			return m, err
		}
	}
	var marker *string
	for {
		k.Calls++
		page, err := c.ListUsers(ctx, &iam.ListUsersInput{Marker: marker, MaxItems: aws.Int32(listUsersPage)})
		if err != nil {
			return types.AccessKeyMetadata{}, fmt.Errorf("account %s (%s): iam:ListUsers: %s; the key is not held by a configured user (checked: %s), and the account's other users cannot be listed",
				k.Account, k.AccountID, reason(err), listOrNone(searched))
		}
		for _, u := range page.Users {
			if m, ok, err := try(aws.ToString(u.UserName), false); err != nil || ok {
				return m, err
			}
		}
		if !page.IsTruncated || aws.ToString(page.Marker) == "" {
			break
		}
		marker = page.Marker
	}
	return types.AccessKeyMetadata{}, &NotFoundError{KeyID: k.ID, AccountID: k.AccountID, Account: k.Account, Searched: searched, Unchecked: unchecked}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// lastUsed fills in the key's last use. A failure does not fail the
// lookup: it is reported in LastUsedProblem.
func (f *Finder) lastUsed(ctx context.Context, k *Key, c IAM) {
	k.Calls++
	out, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.ID)})
	if err != nil {
		k.LastUsedProblem = "iam:GetAccessKeyLastUsed: " + reason(err)
		return
	}
	if u := out.AccessKeyLastUsed; u != nil && u.LastUsedDate != nil {
		t := *u.LastUsedDate
		k.LastUsed = &t
		k.LastUsedService, k.LastUsedRegion = aws.ToString(u.ServiceName), aws.ToString(u.Region)
	}
}

// Deactivate sets the key Inactive with iam:UpdateAccessKey. It never
// deletes it: whoever owns the user decides that, and an Inactive key can
// be re-activated if something vital turns out to need it.
func (f *Finder) Deactivate(ctx context.Context, k Key) error {
	iamc, _, err := f.clients(ctx, k.Account)
	if err != nil {
		return fmt.Errorf("account %s: AWS clients: %w", k.Account, err)
	}
	_, err = iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(k.User), AccessKeyId: aws.String(k.ID), Status: types.StatusTypeInactive,
	})
	if err != nil {
		return fmt.Errorf("account %s, user %s, key %s: iam:UpdateAccessKey (Inactive): %s", k.Account, k.User, k.ID, reason(err))
	}
	return nil
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// reason is an AWS error's code and message on one line.
func reason(err error) string {
	var ae smithy.APIError
	msg := err.Error()
	if errors.As(err, &ae) {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return strings.Join(strings.Fields(msg), " ")
}
