package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	tlog "go.temporal.io/sdk/log"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// IAMAPI is the part of the IAM client the activities call. It is declared
// in internal/clients (and aliased here) so that *clients.AWS satisfies
// IAMClients without an import cycle.
type IAMAPI = clients.IAMAPI

// STSAPI is the part of the STS client VerifyAccessKey calls.
type STSAPI = clients.STSAPI

// IAMClients hands out the AWS clients of one configured account.
type IAMClients interface {
	// IAM returns a client signed with the rotator's own credentials.
	IAM(ctx context.Context, account string) (IAMAPI, error)
	// STSWithKey returns a client that signs with key and nothing else.
	STSWithKey(ctx context.Context, account string, key model.NewAccessKey) (STSAPI, error)
}

var _ IAMClients = (*clients.AWS)(nil)

// IAM holds the IAM / STS activities of a rotation.
type IAM struct {
	clients IAMClients
	sealer  Sealer
	// rotations is the worker's configuration: only the users it lists are
	// touched, whatever a workflow input says.
	rotations Rotations
	opts      options
}

// NewIAM returns the IAM activities using c for their AWS clients, s to
// seal new secrets (and open them to verify) and rs to tell which users this
// worker may rotate.
func NewIAM(c IAMClients, s Sealer, rs Rotations, opts ...Option) *IAM {
	return &IAM{clients: c, sealer: s, rotations: rs, opts: newOptions(opts)}
}

// iamDefaultRetryDelay is the NextRetryDelay of a throttled call whose
// answer carried no Retry-After (IAM's throttling answers usually do not).
const iamDefaultRetryDelay = 5 * time.Second

// SDK retries: every AWS call made here is a single attempt. Temporal
// retries the whole activity with the workflow's backoff and records every
// attempt; the SDK's standard retryer (3 attempts, retry-quota token bucket)
// would multiply those attempts invisibly, spend the throttling budget inside
// one attempt instead of honouring Retry-After through NextRetryDelay, and —
// worst — re-send CreateAccessKey after a lost answer inside one attempt, so
// the stray key would only be found on the next activity attempt anyway.
func iamSingleAttempt(o *iam.Options) { o.RetryMaxAttempts = 1 }
func stsSingleAttempt(o *sts.Options) { o.RetryMaxAttempts = 1 }

// InspectKeys lists the user's keys and deletes leftover Inactive ones to make
// room for the new key. Two Active keys stop the rotation before anything is
// touched: one of them is in use somewhere nobody told keyrotor about.
func (a *IAM) InspectKeys(ctx context.Context, in InspectKeysInput) (InspectKeysResult, error) {
	t, err := a.target(in.Account, in.User, "", false)
	if err != nil {
		return InspectKeysResult{}, err
	}
	api, err := a.iamAPI(ctx, t)
	if err != nil {
		return InspectKeysResult{}, err
	}
	keys, err := iamListKeys(ctx, api, t)
	if err != nil {
		return InspectKeysResult{}, err
	}
	// The active keys' ages count; the inactive ones are deleted below.
	a.observe(t, keys)
	active, inactive := iamSplitByStatus(keys)
	if len(active) > 1 {
		return InspectKeysResult{}, nonRetryable(TypeTwoActiveKeys, fmt.Sprintf(
			"IAM user %q in account %q has two active access keys (%s, %s); nothing was changed: deactivate or delete the one that is not in use, then rotate again",
			t.user, t.account, active[0].ID, active[1].ID), nil)
	}
	var res InspectKeysResult
	if len(active) == 1 {
		k := active[0]
		res.ActiveKey = &k
	}
	for _, k := range inactive {
		if err := iamDeleteKey(ctx, api, t.withKey(k.ID)); err != nil {
			return InspectKeysResult{}, err
		}
		t.log(ctx).Info("deleted inactive leftover access key", "accessKeyId", k.ID)
		res.DeletedInactive = append(res.DeletedInactive, k.ID)
	}
	return res, nil
}

// CreateAccessKey creates the new key. It is idempotent under retry: an
// earlier attempt whose answer was lost leaves a key the workflow does not
// know (its secret is lost with the answer, so the key is useless), and that
// key is deleted before creating again. It deletes only what it can prove
// is such a stray (see strayKeys); any other unknown key belongs to someone
// else and stops the rotation with nothing deleted.
func (a *IAM) CreateAccessKey(ctx context.Context, in CreateAccessKeyInput) (CreateAccessKeyResult, error) {
	t, err := a.target(in.Account, in.User, "", false)
	if err != nil {
		return CreateAccessKeyResult{}, err
	}
	api, err := a.iamAPI(ctx, t)
	if err != nil {
		return CreateAccessKeyResult{}, err
	}
	deleted, kept, listed, err := a.deleteStrays(ctx, api, t, in)
	if err != nil {
		return CreateAccessKeyResult{}, err
	}
	res := CreateAccessKeyResult{DeletedStray: deleted}
	if len(kept) >= 2 {
		return CreateAccessKeyResult{}, t.keyLimit(kept)
	}
	out, err := api.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(t.user)}, iamSingleAttempt)
	if err != nil {
		var limit *types.LimitExceededException
		if errors.As(err, &limit) {
			return CreateAccessKeyResult{}, t.limitRace(kept, err)
		}
		return CreateAccessKeyResult{}, t.fail("CreateAccessKey", err)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	sealed, err := a.sealer.Seal(id, model.Secret(aws.ToString(out.AccessKey.SecretAccessKey)))
	if err != nil {
		// The key exists but its secret cannot leave this attempt: the retry
		// deletes it as a stray and makes another.
		return CreateAccessKeyResult{}, fmt.Errorf("seal the secret of new access key %s of IAM user %q: %w", id, t.user, err)
	}
	res.Key = model.SealedAccessKey{ID: id, Secret: sealed}
	res.CreatedAt = aws.ToTime(out.AccessKey.CreateDate)
	a.observe(t, append(withoutKeys(listed, deleted), model.AccessKey{ID: id, Status: model.KeyActive, CreatedAt: res.CreatedAt}))
	t.log(ctx).Info("created access key", "accessKeyId", res.Key.ID)
	return res, nil
}

// strayKeys sorts the user's keys into those the workflow knows (kept) and
// provable strays of a lost CreateAccessKey attempt. An unknown key is a
// provable stray only if it was created at or after in.NotBefore (when the
// rotation first scheduled this creation) and has never been used: a lost
// answer's secret reached nobody, so nothing can have signed with it. Any
// other unknown key — made by a person or another tool, before this
// rotation's creation step or after it but already in use — stops the
// rotation before anything is deleted. With NotBefore zero (histories from
// before it was recorded) nothing can be proved, so no unknown key is
// deleted.
func (a *IAM) strayKeys(ctx context.Context, api IAMAPI, t iamTarget, keys []model.AccessKey, in CreateAccessKeyInput) (kept, strays []string, err error) {
	// IAM's CreateDate has one-second resolution: a key made in the same
	// second as NotBefore is listed as created at that second's start.
	notBefore := in.NotBefore.Truncate(time.Second)
	for _, k := range keys {
		if slices.Contains(in.KnownKeyIDs, k.ID) {
			kept = append(kept, k.ID)
			continue
		}
		if in.NotBefore.IsZero() {
			return nil, nil, t.withKey(k.ID).foreignKey(k, "the rotation recorded no start time for this step, so it cannot tell its own keys from others")
		}
		if k.CreatedAt.Before(notBefore) {
			return nil, nil, t.withKey(k.ID).foreignKey(k, "it was created before this rotation's create step began at "+notBefore.UTC().Format(time.RFC3339))
		}
		used, gone, err := iamKeyUsed(ctx, api, t.withKey(k.ID))
		switch {
		case err != nil:
			return nil, nil, err
		case gone: // deleted meanwhile: nothing to do
		case used.LastUsed != nil:
			return nil, nil, t.withKey(k.ID).foreignKey(k, fmt.Sprintf("it has been used (last %s)", used.LastUsed.Format(time.RFC3339)))
		default:
			strays = append(strays, k.ID)
		}
	}
	return kept, strays, nil
}

// iamKeyUsed reads the key's last use; gone is true when the key no longer exists.
func iamKeyUsed(ctx context.Context, api IAMAPI, t iamTarget) (used KeyLastUsedResult, gone bool, err error) {
	out, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(t.keyID)}, iamSingleAttempt)
	if iamIsNoSuchEntity(err) {
		return KeyLastUsedResult{}, true, nil
	}
	if err != nil {
		return KeyLastUsedResult{}, false, t.fail("GetAccessKeyLastUsed", err)
	}
	return iamLastUsed(out.AccessKeyLastUsed), false, nil
}

// VerifyAccessKey asks STS who the new key is, signing with that key alone.
// A refusal is retryable: IAM takes a few seconds to accept a brand-new key
// everywhere, and the workflow's retry policy backs off over that window.
func (a *IAM) VerifyAccessKey(ctx context.Context, in VerifyAccessKeyInput) (VerifyAccessKeyResult, error) {
	t, err := a.target(in.Account, in.User, in.Key.ID, true)
	if err != nil {
		return VerifyAccessKeyResult{}, err
	}
	key, err := openKey(a.sealer, in.Key, fmt.Sprintf("IAM user %q", t.user))
	if err != nil {
		return VerifyAccessKeyResult{}, err
	}
	api, err := a.clients.STSWithKey(ctx, t.account, key)
	if err != nil {
		return VerifyAccessKeyResult{}, nonRetryable(TypeValidation, err.Error(), nil)
	}
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, stsSingleAttempt)
	if err != nil {
		switch iamErrorCode(err) {
		case "InvalidClientTokenId", "SignatureDoesNotMatch":
			return VerifyAccessKeyResult{}, retryable(TypeKeyNotAccepted,
				fmt.Sprintf("STS does not accept access key %s of IAM user %q (yet)", t.keyID, t.user), err)
		}
		return VerifyAccessKeyResult{}, t.fail("GetCallerIdentity", err)
	}
	arn := aws.ToString(out.Arn)
	if !iamIsUserARN(arn, t.user) {
		return VerifyAccessKeyResult{}, nonRetryable(TypeWrongIdentity, fmt.Sprintf("access key %s signs as %s, not as IAM user %q", t.keyID, arn, t.user), nil)
	}
	return VerifyAccessKeyResult{ARN: arn}, nil
}

// GetAccessKeyLastUsed says when the key was last used, so the workflow can
// hold while a pipeline still uses the old key. A key that no longer exists
// is Gone, not an error: nothing can use it, and the workflow runs this
// check again when a worker dies in the workflow task that went on to
// deactivate and delete the key (local activities' results die with their
// task).
func (a *IAM) GetAccessKeyLastUsed(ctx context.Context, in KeyInput) (KeyLastUsedResult, error) {
	t, err := a.target(in.Account, in.User, in.AccessKeyID, true)
	if err != nil {
		return KeyLastUsedResult{}, err
	}
	api, err := a.iamAPI(ctx, t)
	if err != nil {
		return KeyLastUsedResult{}, err
	}
	out, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(t.keyID)}, iamSingleAttempt)
	if err != nil {
		if iamIsNoSuchEntity(err) {
			return KeyLastUsedResult{Gone: true}, nil
		}
		return KeyLastUsedResult{}, t.fail("GetAccessKeyLastUsed", err)
	}
	// The call takes no user name: make sure the key is this user's.
	if owner := aws.ToString(out.UserName); owner != "" && !iamSameUser(owner, t.user) {
		return KeyLastUsedResult{}, t.noSuchKey()
	}
	return iamLastUsed(out.AccessKeyLastUsed), nil
}

// iamLastUsed converts IAM's answer; a never-used key has no date and
// service "N/A".
func iamLastUsed(u *types.AccessKeyLastUsed) KeyLastUsedResult {
	if u == nil || u.LastUsedDate == nil {
		return KeyLastUsedResult{}
	}
	at := u.LastUsedDate.UTC()
	res := KeyLastUsedResult{LastUsed: &at}
	if s := aws.ToString(u.ServiceName); s != "N/A" {
		res.Service = s
	}
	return res
}

// DeactivateAccessKey sets the key Inactive. A key that is already gone is
// as dead as an inactive one, so that counts as done.
func (a *IAM) DeactivateAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	return a.setKeyStatus(ctx, in, types.StatusTypeInactive)
}

// ActivateAccessKey sets the key Active again (rollback). A missing key
// cannot be brought back: that is a non-retryable TypeNoSuchEntity.
func (a *IAM) ActivateAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	return a.setKeyStatus(ctx, in, types.StatusTypeActive)
}

// setKeyStatus looks first, so that a key already in the wanted state is
// reported as AlreadyDone without a write.
func (a *IAM) setKeyStatus(ctx context.Context, in KeyInput, want types.StatusType) (KeyChangeResult, error) {
	t, api, keys, err := a.findKey(ctx, in)
	if err != nil {
		return KeyChangeResult{}, err
	}
	k := keyByID(keys, t.keyID)
	if k == nil {
		return t.missingKey(want)
	}
	if k.Status == string(want) {
		return KeyChangeResult{AlreadyDone: true}, nil
	}
	_, err = api.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(t.user), AccessKeyId: aws.String(t.keyID), Status: want,
	}, iamSingleAttempt)
	if iamIsNoSuchEntity(err) { // deleted between the list and the update
		return t.missingKey(want)
	}
	if err != nil {
		return KeyChangeResult{}, t.fail("UpdateAccessKey", err)
	}
	k.Status = string(want) // k points into keys
	a.observe(t, keys)
	t.log(ctx).Info("changed access key status", "accessKeyId", t.keyID, "status", string(want))
	return KeyChangeResult{}, nil
}

// findKey validates the input and lists the user's keys (see keyByID).
func (a *IAM) findKey(ctx context.Context, in KeyInput) (iamTarget, IAMAPI, []model.AccessKey, error) {
	t, err := a.target(in.Account, in.User, in.AccessKeyID, true)
	if err != nil {
		return t, nil, nil, err
	}
	api, err := a.iamAPI(ctx, t)
	if err != nil {
		return t, nil, nil, err
	}
	keys, err := iamListKeys(ctx, api, t)
	return t, api, keys, err
}

// DeleteAccessKey deletes the key; a key already gone counts as done.
func (a *IAM) DeleteAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	t, api, keys, err := a.findKey(ctx, in)
	if err != nil {
		return KeyChangeResult{}, err
	}
	if keyByID(keys, t.keyID) == nil {
		a.observe(t, keys)
		return KeyChangeResult{AlreadyDone: true}, nil
	}
	if err := iamDeleteKey(ctx, api, t); err != nil {
		return KeyChangeResult{}, err
	}
	a.observe(t, withoutKeys(keys, []string{t.keyID}))
	t.log(ctx).Info("deleted access key", "accessKeyId", t.keyID)
	return KeyChangeResult{}, nil
}

// observe reports the user's keys, as this activity leaves them, to the
// metrics (the age of the oldest active key).
func (a *IAM) observe(t iamTarget, keys []model.AccessKey) {
	a.opts.m().Keys(t.account, t.user, keys)
}

// --- helpers ---------------------------------------------------------------

// target refuses, before any AWS call, a user the worker's configuration
// does not rotate (whoever can start a workflow on the namespace must not
// be able to touch any other IAM user), and validates the input. The user
// is named as the configuration spells it.
func (a *IAM) target(account, user, keyID string, needKey bool) (iamTarget, error) {
	r, err := configuredRotation(a.rotations, account, user)
	if err != nil {
		return iamTarget{account: account, user: user, keyID: keyID}, err
	}
	t := iamTarget{account: account, user: r.User, keyID: keyID, metrics: a.opts.m()}
	return t, t.validate(needKey)
}

// iamAPI returns the account's IAM client. An unknown account is a
// configuration error that no retry fixes.
func (a *IAM) iamAPI(ctx context.Context, t iamTarget) (IAMAPI, error) {
	api, err := a.clients.IAM(ctx, t.account)
	if err != nil {
		return nil, nonRetryable(TypeValidation, err.Error(), nil)
	}
	return api, nil
}

// iamListKeys returns the user's keys, oldest first.
func iamListKeys(ctx context.Context, api IAMAPI, t iamTarget) ([]model.AccessKey, error) {
	var keys []model.AccessKey
	in := &iam.ListAccessKeysInput{UserName: aws.String(t.user)}
	for {
		out, err := api.ListAccessKeys(ctx, in, iamSingleAttempt)
		if err != nil {
			return nil, t.fail("ListAccessKeys", err)
		}
		for _, m := range out.AccessKeyMetadata {
			keys = append(keys, model.AccessKey{ID: aws.ToString(m.AccessKeyId), Status: string(m.Status), CreatedAt: aws.ToTime(m.CreateDate)})
		}
		if !out.IsTruncated || out.Marker == nil {
			break
		}
		in.Marker = out.Marker
	}
	slices.SortStableFunc(keys, func(a, b model.AccessKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return keys, nil
}

// keyByID returns the key called id among keys (a pointer into keys), or
// nil when there is none.
func keyByID(keys []model.AccessKey, id string) *model.AccessKey {
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i]
		}
	}
	return nil
}

// withoutKeys is keys less those whose IDs are listed.
func withoutKeys(keys []model.AccessKey, ids []string) []model.AccessKey {
	out := make([]model.AccessKey, 0, len(keys))
	for _, k := range keys {
		if !slices.Contains(ids, k.ID) {
			out = append(out, k)
		}
	}
	return out
}

// iamSplitByStatus separates Active keys from the others.
func iamSplitByStatus(keys []model.AccessKey) (active, inactive []model.AccessKey) {
	for _, k := range keys {
		if k.Status == model.KeyActive {
			active = append(active, k)
		} else {
			inactive = append(inactive, k)
		}
	}
	return active, inactive
}

// iamDeleteKey deletes t.keyID; a key already gone is fine.
func iamDeleteKey(ctx context.Context, api IAMAPI, t iamTarget) error {
	_, err := api.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(t.user), AccessKeyId: aws.String(t.keyID)}, iamSingleAttempt)
	if err == nil || iamIsNoSuchEntity(err) {
		return nil
	}
	return t.fail("DeleteAccessKey", err)
}

// iamIsUserARN reports whether arn is IAM user name's ARN, under any path:
// arn:<partition>:iam::<account>:user/<path/>name.
func iamIsUserARN(arn, name string) bool {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return false
	}
	resource, ok := strings.CutPrefix(parts[5], "user/")
	if !ok {
		return false
	}
	return iamSameUser(resource[strings.LastIndex(resource, "/")+1:], name)
}

// iamSameUser compares IAM user names as IAM does: without regard to case
// ("CI-Deployer" and "ci-deployer" are one user, and IAM answers with the
// name as it was created, whatever the request said).
func iamSameUser(a, b string) bool { return strings.EqualFold(a, b) }

// iamTarget is what an activity works on, for validation, error messages
// and logs. It never holds a secret.
type iamTarget struct {
	account, user, keyID string
	metrics              Metrics // counts AWS's throttling; nil counts nothing
}

// log is the logger of the IAM activities' lines (see activityLogger).
func (t iamTarget) log(ctx context.Context) tlog.Logger {
	return activityLogger(ctx, t.account, t.user, "iam")
}

func (t iamTarget) withKey(id string) iamTarget {
	t.keyID = id
	return t
}

func (t iamTarget) validate(needKey bool) error {
	var missing []string
	if t.account == "" {
		missing = append(missing, "account")
	}
	if t.user == "" {
		missing = append(missing, "user")
	}
	if needKey && t.keyID == "" {
		missing = append(missing, "access key ID")
	}
	if len(missing) > 0 {
		return nonRetryable(TypeValidation, "missing "+strings.Join(missing, ", "), nil)
	}
	return nil
}

func (t iamTarget) String() string {
	s := fmt.Sprintf("IAM user %q in account %q", t.user, t.account)
	if t.keyID != "" {
		s += " (access key " + t.keyID + ")"
	}
	return s
}

func (t iamTarget) keyLimit(kept []string) error {
	return nonRetryable(TypeKeyLimit, fmt.Sprintf(
		"%s already has two access keys (%s) that the rotation knows about; neither can be removed safely",
		t, strings.Join(kept, ", ")), nil)
}

// limitRace is IAM's LimitExceeded on create. With two known keys kept that
// is final. With fewer, another attempt of this same activity (one that
// timed out here but still ran there) created a key between our list and
// our create: the next attempt lists again, proves that key a stray and
// deletes it, so the error is retryable.
func (t iamTarget) limitRace(kept []string, err error) error {
	if len(kept) >= 2 {
		return t.keyLimit(kept)
	}
	return fmt.Errorf("CreateAccessKey for %s: IAM counts two access keys where the rotation knows %d; a key was made between the list and the create "+
		"(most likely by an overlapping attempt of this step), so the next attempt lists the keys again: %w", t, len(kept), err)
}

// foreignKey stops the rotation on an unknown key it cannot prove its own.
// t.keyID is that key.
func (t iamTarget) foreignKey(k model.AccessKey, why string) error {
	return nonRetryable(TypeForeignKey, fmt.Sprintf(
		"IAM user %q in account %q has access key %s, created %s, that this rotation did not create (%s); nothing was deleted. "+
			"Find out who made it and whether it is in use (aws iam get-access-key-last-used --access-key-id %s); "+
			"deactivate or delete it if nobody needs it, then rotate again",
		t.user, t.account, t.keyID, k.CreatedAt.UTC().Format(time.RFC3339), why, t.keyID), nil)
}

func (t iamTarget) noSuchKey() error {
	return nonRetryable(TypeNoSuchEntity, fmt.Sprintf("access key %s of IAM user %q in account %q does not exist", t.keyID, t.user, t.account), nil)
}

// missingKey is the outcome of a status change on a key that does not exist.
func (t iamTarget) missingKey(want types.StatusType) (KeyChangeResult, error) {
	if want == types.StatusTypeInactive {
		return KeyChangeResult{AlreadyDone: true}, nil
	}
	return KeyChangeResult{}, t.noSuchKey()
}

// fail classifies an AWS error: a missing user, the rotator's own
// credentials being refused, bad input and throttling get their error types;
// anything else is returned wrapped, for Temporal to retry.
func (t iamTarget) fail(op string, err error) error {
	if iamThrottled(err) {
		if t.metrics != nil {
			t.metrics.RateLimitWait("aws")
		}
		delay := iamRetryDelay(err)
		return rateLimited(fmt.Sprintf("%s for %s: throttled by AWS, retrying in %s", op, t, delay), delay, err)
	}
	switch code := iamErrorCode(err); code {
	case "NoSuchEntity":
		return nonRetryable(TypeNoSuchEntity, fmt.Sprintf("%s: IAM user %q does not exist in account %q", op, t.user, t.account), err)
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
		"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
		"MissingAuthenticationToken", "IncompleteSignature":
		return nonRetryable(TypeUnauthorized, fmt.Sprintf("%s for %s: keyrotor's AWS credentials were refused (%s)", op, t, code), err)
	case "ValidationError", "InvalidInput", "MalformedInput":
		return nonRetryable(TypeValidation, fmt.Sprintf("%s for %s: %s", op, t, code), err)
	}
	return fmt.Errorf("%s for %s: %w", op, t, err)
}

func iamErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func iamIsNoSuchEntity(err error) bool {
	var nse *types.NoSuchEntityException
	return errors.As(err, &nse) || iamErrorCode(err) == "NoSuchEntity"
}

// iamThrottled recognises the SDK's throttle error codes and HTTP 429.
func iamThrottled(err error) bool {
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests
}

// iamRetryDelay is the wait AWS asks for, else a few seconds.
func iamRetryDelay(err error) time.Duration {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if d := providerWait(re.Response.Header, time.Now()); d > 0 {
			return d
		}
	}
	return iamDefaultRetryDelay
}
