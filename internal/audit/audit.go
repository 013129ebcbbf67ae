// Package audit lists every IAM user's access keys in every configured
// account and judges each key against the policy: older than the maximum
// age, or active and unused for longer than the limit. It also says
// whether keyrotor manages the key (its user is in a configured rotation).
//
// It only reads: iam:ListUsers (paginated), iam:ListAccessKeys per user and
// iam:GetAccessKeyLastUsed per key, through a narrow client per account.
// Throttling is retried with backoff; any other failure is recorded as a
// Problem naming the account, the user or key, and the action, and the
// audit goes on with the rest.
package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The IAM actions the audit calls.
const (
	ActionListUsers            = "iam:ListUsers"
	ActionListAccessKeys       = "iam:ListAccessKeys"
	ActionGetAccessKeyLastUsed = "iam:GetAccessKeyLastUsed"
	actionAssumeRole           = "sts:AssumeRole"
)

// DefaultUnusedFor is how long an active key may go unused by default.
const DefaultUnusedFor = 30 * 24 * time.Hour

// IAM is the part of the IAM client the audit calls: reads only.
type IAM interface {
	ListUsers(ctx context.Context, in *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// Clients returns an account's IAM client.
type Clients func(ctx context.Context, account string) (IAM, error)

// FromAWS reaches every account as the worker does: its region, and its
// roleArn assumed with the rotator's credentials.
func FromAWS(a *clients.AWS) Clients {
	return func(_ context.Context, account string) (IAM, error) {
		cfg, err := a.Config(account)
		if err != nil {
			return nil, err
		}
		return iam.NewFromConfig(cfg), nil
	}
}

// Options say what the audit reads and how it judges.
type Options struct {
	// Accounts limits the audit to these accounts (all configured ones
	// when empty).
	Accounts []string
	// Now is the time ages are measured at (time.Now when zero).
	Now time.Time
	// MaxAge, when positive, is the age every key must stay under. When 0,
	// a managed user's keys get their rotation's period (policy every, or
	// a cron's longest gap) and the others the file's policy period.
	MaxAge time.Duration
	// UnusedFor is how long an active key may go unused (since its last
	// use, or since its creation when never used); 0 turns the check off.
	UnusedFor time.Duration
	// SkipLastUsed leaves out GetAccessKeyLastUsed: creation dates only,
	// one ListAccessKeys per user (the worker's key-age gauge).
	SkipLastUsed bool
	// Retry is how throttled calls are retried (DefaultRetry when zero).
	Retry Retry
	// OnThrottle, when set, hears of every throttled answer.
	OnThrottle func()
	// pageSize is ListUsers' MaxItems (1000 when 0).
	pageSize int32
	// sleep waits between retries (tests); a timer honouring ctx when nil.
	sleep func(ctx context.Context, d time.Duration) error
}

// Retry is how throttled IAM calls are retried: up to Tries calls, waiting
// Initial, then twice as long each time up to Max, each wait jittered.
// The SDK's own retries (three attempts) come on top, inside each call.
type Retry struct {
	Tries        int
	Initial, Max time.Duration
}

// DefaultRetry rides out about two minutes of throttling per call.
var DefaultRetry = Retry{Tries: 8, Initial: time.Second, Max: 30 * time.Second}

// Report is the audit's result.
type Report struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// Accounts are the accounts audited, in the configuration's order.
	Accounts []string `json:"accounts"`
	// MaxAgeSeconds is the --max-age given; 0: each key's rotation policy.
	MaxAgeSeconds int64 `json:"maxAgeSeconds"`
	// UnusedForSeconds is the unused limit; 0: not checked.
	UnusedForSeconds int64 `json:"unusedForSeconds"`
	// Keys are every key found, sorted by account, user, creation and ID.
	Keys []Key `json:"keys"`
	// Breaches counts the keys that break the policy.
	Breaches int `json:"breaches"`
	// Problems are the calls that failed: what they leave out is unknown.
	Problems []Problem `json:"problems"`
}

// Key is one access key and what the audit found about it. It never holds
// a secret: IAM's list and last-used calls return none.
type Key struct {
	Account     string    `json:"account"`
	User        string    `json:"user"`
	AccessKeyID string    `json:"accessKeyId"`
	Status      string    `json:"status"` // Active or Inactive
	CreatedAt   time.Time `json:"createdAt"`
	AgeSeconds  int64     `json:"ageSeconds"`
	// LastUsedAt is nil when the key was never used, or when it could not
	// be read (LastUsedKnown false).
	LastUsedAt      *time.Time `json:"lastUsedAt"`
	LastUsedService string     `json:"lastUsedService,omitempty"`
	LastUsedRegion  string     `json:"lastUsedRegion,omitempty"`
	LastUsedKnown   bool       `json:"lastUsedKnown"`
	// Managed: the user is in a configured rotation, whose workflow ID is
	// Rotation (rotate/<account>/<user>).
	Managed  bool   `json:"managed"`
	Rotation string `json:"rotation,omitempty"`
	// MaxAgeSeconds is the age limit applied to this key.
	MaxAgeSeconds int64 `json:"maxAgeSeconds"`
	// TooOld: active and older than MaxAgeSeconds.
	TooOld bool `json:"tooOld"`
	// Unused: active, and not used for longer than the unused limit
	// (counted from its creation when never used).
	Unused bool `json:"unused"`
	// BreaksPolicy is TooOld or Unused.
	BreaksPolicy bool `json:"breaksPolicy"`
}

// Problem is a call that failed: the account, the user or key when the
// call was about one, the action, and IAM's answer.
type Problem struct {
	Account     string `json:"account"`
	User        string `json:"user,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	Action      string `json:"action"`
	Reason      string `json:"reason"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString("account " + p.Account)
	if p.User != "" {
		b.WriteString(", user " + p.User)
	}
	if p.AccessKeyID != "" {
		b.WriteString(", key " + p.AccessKeyID)
	}
	b.WriteString(": " + p.Action + ": " + p.Reason)
	return b.String()
}

// Err joins the problems into one error (nil when there is none).
func (r *Report) Err() error {
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = errors.New(p.String())
	}
	return errors.Join(errs...)
}

// Run audits the configured accounts. Problems in AWS are in the Report;
// the error is only returned when ctx ends first, or for an account that
// is not configured.
func Run(ctx context.Context, cfg *config.Config, newClient Clients, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Retry.Tries <= 0 {
		o.Retry = DefaultRetry
	}
	if o.sleep == nil {
		o.sleep = sleep
	}
	if o.pageSize == 0 {
		o.pageSize = 1000
	}
	accounts, err := selectAccounts(cfg, o.Accounts)
	if err != nil {
		return nil, err
	}
	r := &Report{GeneratedAt: o.Now.UTC(), Accounts: accounts, MaxAgeSeconds: seconds(o.MaxAge),
		UnusedForSeconds: seconds(o.UnusedFor), Keys: []Key{}, Problems: []Problem{}}
	for _, account := range accounts {
		a := &accountAudit{Options: o, cfg: cfg, account: account, report: r}
		a.run(ctx, newClient)
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
	slices.SortStableFunc(r.Keys, func(a, b Key) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		if c := strings.Compare(strings.ToLower(a.User), strings.ToLower(b.User)); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.AccessKeyID, b.AccessKeyID)
	})
	for _, k := range r.Keys {
		if k.BreaksPolicy {
			r.Breaches++
		}
	}
	return r, nil
}

// selectAccounts returns the accounts asked for, in the configuration's
// order, or every configured account.
func selectAccounts(cfg *config.Config, only []string) ([]string, error) {
	var out []string
	for _, name := range only {
		if _, ok := cfg.Account(name); !ok {
			names := make([]string, len(cfg.Accounts))
			for i, a := range cfg.Accounts {
				names[i] = a.Name
			}
			return nil, fmt.Errorf("%s: unknown account %q; configured accounts: %s", cfg.File, name, strings.Join(names, ", "))
		}
	}
	for _, a := range cfg.Accounts {
		if len(only) == 0 || slices.Contains(only, a.Name) {
			out = append(out, a.Name)
		}
	}
	return out, nil
}

// OldestActive returns, per account read without a problem, the creation
// time of its oldest active key (the zero time when it has none).
func (r *Report) OldestActive() map[string]time.Time {
	out := map[string]time.Time{}
	for _, a := range r.Accounts {
		out[a] = time.Time{}
	}
	for _, p := range r.Problems {
		delete(out, p.Account)
	}
	for _, k := range r.Keys {
		oldest, ok := out[k.Account]
		if ok && k.Status == model.KeyActive && (oldest.IsZero() || k.CreatedAt.Before(oldest)) {
			out[k.Account] = k.CreatedAt
		}
	}
	return out
}

// accountAudit is the audit of one account.
type accountAudit struct {
	Options
	cfg     *config.Config
	account string
	report  *Report
	iam     IAM
}

func (a *accountAudit) problem(user, keyID, action string, err error) {
	if action != actionAssumeRole && failedOperation(err, "AssumeRole") {
		action = actionAssumeRole // the role is assumed lazily, inside the first call
		if acct, ok := a.cfg.Account(a.account); ok && acct.RoleARN != "" {
			user, keyID = "", ""
			err = fmt.Errorf("cannot assume %s: %s", acct.RoleARN, reason(err))
		}
	}
	a.report.Problems = append(a.report.Problems, Problem{Account: a.account, User: user, AccessKeyID: keyID, Action: action, Reason: reason(err)})
}

func (a *accountAudit) run(ctx context.Context, newClient Clients) {
	c, err := newClient(ctx, a.account)
	if err != nil {
		a.problem("", "", "AWS clients", err)
		return
	}
	a.iam = c
	in := &iam.ListUsersInput{MaxItems: aws.Int32(a.pageSize)}
	for {
		var out *iam.ListUsersOutput
		err := a.call(ctx, func() (err error) { out, err = a.iam.ListUsers(ctx, in); return err })
		if err != nil {
			a.problem("", "", ActionListUsers, err)
			return
		}
		for _, u := range out.Users {
			if !a.user(ctx, aws.ToString(u.UserName)) {
				return
			}
		}
		if !out.IsTruncated || aws.ToString(out.Marker) == "" {
			return
		}
		in.Marker = out.Marker
	}
}

// user audits one user's keys; false when the role could not be assumed
// (nothing else in the account can be read).
func (a *accountAudit) user(ctx context.Context, user string) bool {
	rot, managed := a.rotation(user)
	maxAge := a.MaxAge
	if maxAge <= 0 {
		maxAge = config.PolicyPeriod(a.cfg.Policy, a.Now)
		if managed {
			maxAge = config.PolicyPeriod(rot.Policy, a.Now)
		}
	}
	in := &iam.ListAccessKeysInput{UserName: aws.String(user)}
	for {
		var out *iam.ListAccessKeysOutput
		err := a.call(ctx, func() (err error) { out, err = a.iam.ListAccessKeys(ctx, in); return err })
		if err != nil {
			a.problem(user, "", ActionListAccessKeys, err)
			return !failedOperation(err, "AssumeRole")
		}
		for _, m := range out.AccessKeyMetadata {
			k := Key{Account: a.account, User: user, AccessKeyID: aws.ToString(m.AccessKeyId), Status: string(m.Status),
				CreatedAt: aws.ToTime(m.CreateDate).UTC(), Managed: managed, MaxAgeSeconds: seconds(maxAge)}
			if managed {
				k.Rotation = model.WorkflowID(rot.Account, rot.User)
			}
			k.AgeSeconds = seconds(a.Now.Sub(k.CreatedAt))
			if !a.SkipLastUsed {
				a.lastUsed(ctx, &k)
			}
			a.judge(&k, maxAge)
			a.report.Keys = append(a.report.Keys, k)
		}
		if !out.IsTruncated || aws.ToString(out.Marker) == "" {
			return true
		}
		in.Marker = out.Marker
	}
}

// rotation finds the user's configured rotation in the account (IAM user
// names are compared without regard to case).
func (a *accountAudit) rotation(user string) (model.Rotation, bool) {
	for _, r := range a.cfg.Rotations {
		if r.Account == a.account && strings.EqualFold(r.User, user) {
			return r, true
		}
	}
	return model.Rotation{}, false
}

func (a *accountAudit) lastUsed(ctx context.Context, k *Key) {
	var out *iam.GetAccessKeyLastUsedOutput
	err := a.call(ctx, func() (err error) {
		out, err = a.iam.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.AccessKeyID)})
		return err
	})
	if err != nil {
		a.problem(k.User, k.AccessKeyID, ActionGetAccessKeyLastUsed, err)
		return
	}
	k.LastUsedKnown = true
	if u := out.AccessKeyLastUsed; u != nil && u.LastUsedDate != nil {
		t := u.LastUsedDate.UTC()
		k.LastUsedAt = &t
		k.LastUsedService = aws.ToString(u.ServiceName)
		k.LastUsedRegion = aws.ToString(u.Region)
	}
}

// judge flags an active key that is too old or unused. Inactive keys
// cannot sign a request (keyrotor's own rotations keep the old key
// inactive for deleteAfter before deleting it): they are listed, never
// flagged.
func (a *accountAudit) judge(k *Key, maxAge time.Duration) {
	if k.Status != model.KeyActive {
		return
	}
	k.TooOld = maxAge > 0 && a.Now.Sub(k.CreatedAt) > maxAge
	if a.UnusedFor > 0 && k.LastUsedKnown {
		since := k.CreatedAt
		if k.LastUsedAt != nil {
			since = *k.LastUsedAt
		}
		k.Unused = a.Now.Sub(since) > a.UnusedFor
	}
	k.BreaksPolicy = k.TooOld || k.Unused
}

// call runs f, retrying throttled answers with jittered exponential
// backoff.
func (a *accountAudit) call(ctx context.Context, f func() error) error {
	wait := a.Retry.Initial
	for try := 1; ; try++ {
		err := f()
		if err == nil || !throttled(err) {
			return err
		}
		if a.OnThrottle != nil {
			a.OnThrottle()
		}
		if try >= a.Retry.Tries {
			return throttledError{tries: try, err: err}
		}
		d := wait/2 + rand.N(wait/2+1)
		if err := a.sleep(ctx, d); err != nil {
			return err
		}
		wait = min(2*wait, a.Retry.Max)
	}
}

// throttled reports whether IAM asked to slow down.
func throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled":
		return true
	}
	return false
}

// throttledError is a call still throttled after its last try.
type throttledError struct {
	tries int
	err   error
}

func (e throttledError) Error() string {
	return fmt.Sprintf("still throttled after %d tries: %v", e.tries, e.err)
}

func (e throttledError) Unwrap() error { return e.err }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reason is IAM's answer without the SDK's wrapping (operation, request
// ID, HTTP status): its code and message, which never hold a secret.
func reason(err error) string {
	var te throttledError
	if errors.As(err, &te) {
		return fmt.Sprintf("still throttled after %d tries: %s", te.tries, reason(te.err))
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
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

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
