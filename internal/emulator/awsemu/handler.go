package awsemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/internal/model"
)

// maxBody bounds the request bodies the emulator reads.
const maxBody = 1 << 20

// service is the credential-scope service of an Action, and the service
// prefix of its IAM action name.
type service string

const (
	serviceIAM            service = "iam"
	serviceSTS            service = "sts"
	serviceSecretsManager service = "secretsmanager"
	serviceSSM            service = "ssm"
)

func (s service) namespace() string {
	if s == serviceSTS {
		return stsNamespace
	}
	return iamNamespace
}

// actionFunc serves one Action for an authenticated, authorized principal.
// It runs with e.mu held.
type actionFunc func(e *Emulator, p principal, form url.Values) (any, *apiError)

type actionSpec struct {
	service service
	run     actionFunc
	// anyone: allowed for every authenticated principal, whatever its
	// grants (GetCallerIdentity needs no permission in AWS either).
	anyone bool
	// anyResource: the action supports no resource-level permission (IAM's
	// Service Authorization Reference lists no resource type for it, as
	// for ListUsers): it is authorized on "*".
	anyResource bool
}

var actions = map[string]actionSpec{
	"ListUsers":               {service: serviceIAM, run: (*Emulator).listUsers, anyResource: true},
	"ListAccessKeys":          {service: serviceIAM, run: (*Emulator).listAccessKeys},
	"CreateAccessKey":         {service: serviceIAM, run: (*Emulator).createAccessKey},
	"UpdateAccessKey":         {service: serviceIAM, run: (*Emulator).updateAccessKey},
	"DeleteAccessKey":         {service: serviceIAM, run: (*Emulator).deleteAccessKey},
	"GetAccessKeyLastUsed":    {service: serviceIAM, run: (*Emulator).getAccessKeyLastUsed},
	"GetUser":                 {service: serviceIAM, run: (*Emulator).getUser},
	"ListUserTags":            {service: serviceIAM, run: (*Emulator).listUserTags},
	"SimulatePrincipalPolicy": {service: serviceIAM, run: (*Emulator).simulatePrincipalPolicy},
	"GetCallerIdentity":       {service: serviceSTS, run: (*Emulator).getCallerIdentity, anyone: true},
	"AssumeRole":              {service: serviceSTS, run: (*Emulator).assumeRole},
	"GetAccessKeyInfo":        {service: serviceSTS, run: (*Emulator).getAccessKeyInfo},
}

// principal is who signed a request.
type principal struct {
	arn, userID string
	grants      grants // taken when the request was authenticated
	user        *user  // nil for assumed-role sessions
	region      string // of the request's credential scope: where regional resources live
}

// --- request plumbing ---

type ctxKey struct{}

type requestInfo struct {
	action string // the Query Action, or the operation of a JSON X-Amz-Target
	target string // X-Amz-Target ("secretsmanager.GetSecretValue"); "" for the Query protocol
	form   url.Values
	body   []byte
}

// withAction reads the body once (restoring r.Body for the handlers after
// it) and stores the Action (for the JSON services, the operation named by
// X-Amz-Target), so the fault middleware can count and match calls per
// Action.
func withAction(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			_, op, _ := strings.Cut(target, ".")
			info := &requestInfo{action: op, target: target, form: url.Values{}, body: body}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
			return
		}
		form, _ := url.ParseQuery(string(body))
		for k, vs := range r.URL.Query() { // the Query protocol also accepts GET parameters
			if _, ok := form[k]; !ok {
				form[k] = vs
			}
		}
		info := &requestInfo{action: form.Get("Action"), form: form, body: body}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
	})
}

func requestInfoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{form: url.Values{}}
}

// actionFromContext is the faults middleware's operation name: the Action.
func actionFromContext(r *http.Request) string { return requestInfoOf(r).action }

// serve authenticates, authorizes and runs one Action.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	reqID := requestID()
	// Real AWS answers carry it; awsShapedFaults also uses it to tell the
	// emulator's own answers from injected faults.
	w.Header().Set("X-Amzn-Requestid", reqID)
	info := requestInfoOf(r)
	if info.target != "" {
		e.serveJSON(w, r, info)
		return
	}
	spec, ok := actions[info.action]
	if !ok {
		writeError(w, iamNamespace, reqID, errorf(http.StatusBadRequest, "InvalidAction",
			"Could not find operation %s for version %s", info.action, info.form.Get("Version")))
		return
	}
	ns := spec.service.namespace()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, ns, reqID, errorf(http.StatusMethodNotAllowed, "InvalidAction", "Unsupported method %s", r.Method))
		return
	}
	p, aerr := e.authenticate(r, info.body, spec.service)
	if aerr != nil {
		writeError(w, ns, reqID, aerr)
		return
	}
	if spec.service == serviceIAM {
		if aerr := e.iamRate.throttle(p.arn, time.Now()); aerr != nil {
			writeError(w, ns, reqID, aerr)
			return
		}
	}
	result, aerr := e.run(spec, info, p)
	if aerr != nil {
		writeError(w, ns, reqID, aerr)
		return
	}
	writeResult(w, ns, info.action, reqID, result)
}

// run authorizes the principal and runs the action under the lock.
func (e *Emulator) run(spec actionSpec, info *requestInfo, p principal) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !spec.anyone {
		resource := "*"
		if !spec.anyResource {
			resource = e.resourceOf(spec.service, info.form, p)
		}
		if aerr := authorize(p, string(spec.service)+":"+info.action, resource); aerr != nil {
			return nil, aerr
		}
	}
	return spec.run(e, p, info.form)
}

// resourceOf is the resource an IAM or STS action is authorized on, and
// that an AccessDenied message names: the user (by default the caller, as
// IAM defaults UserName; for GetAccessKeyLastUsed the key's owner), the
// role to assume, or "*".
func (e *Emulator) resourceOf(s service, form url.Values, p principal) string {
	if s == serviceSTS {
		if arn := form.Get("RoleArn"); arn != "" {
			return arn
		}
		return "*"
	}
	if arn := form.Get("PolicySourceArn"); arn != "" {
		return arn
	}
	if form.Get("Action") == "ListUsers" {
		// IAM authorizes ListUsers on the users under the path prefix.
		return "arn:aws:iam::" + e.accountID + ":user" + normalizePath(form.Get("PathPrefix"))
	}
	if name := form.Get("UserName"); name != "" {
		if u, ok := e.userLocked(name); ok {
			return u.arn // with its path, as AWS names it
		}
		return "arn:aws:iam::" + e.accountID + ":user/" + name
	}
	if k, ok := e.keys[form.Get("AccessKeyId")]; ok && k.user != nil {
		return k.user.arn
	}
	if p.user != nil {
		return p.user.arn
	}
	return "*"
}

// authenticate finds the signing key, refuses unknown, inactive, too-new or
// expired credentials, checks the signature and records the key's use.
func (e *Emulator) authenticate(r *http.Request, body []byte, s service) (principal, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	a, aerr := parseAuthorization(h)
	if aerr != nil {
		return principal{}, aerr
	}
	if a.service != string(s) {
		return principal{}, errSignature("Credential should be scoped to correct service: '%s'. ", s)
	}
	creds, aerr := e.credentialsFor(a.keyID, r.Header.Get("X-Amz-Security-Token"))
	if aerr != nil {
		return principal{}, aerr
	}
	if aerr := verifySignature(r, body, a, creds); aerr != nil {
		return principal{}, aerr
	}
	return e.recordUse(a)
}

// credentialsFor returns the stored credentials of a usable key.
func (e *Emulator) credentialsFor(keyID, token string) (aws.Credentials, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[keyID]
	if !ok || k.status != model.KeyActive {
		return aws.Credentials{}, errInvalidToken()
	}
	now := e.now()
	if k.viaAPI && now.Before(k.created.Add(e.newKeyDelay)) {
		return aws.Credentials{}, errInvalidToken() // not yet propagated
	}
	if k.session == nil {
		if token != "" {
			return aws.Credentials{}, errInvalidToken()
		}
		return aws.Credentials{AccessKeyID: k.id, SecretAccessKey: k.secret}, nil
	}
	if token != k.session.token {
		return aws.Credentials{}, errInvalidToken()
	}
	if !now.Before(k.session.expires) {
		return aws.Credentials{}, errorf(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
	}
	return aws.Credentials{AccessKeyID: k.id, SecretAccessKey: k.secret, SessionToken: token}, nil
}

// recordUse updates LastUsed and returns the key's principal. The key may
// have been deleted since credentialsFor; then the request is refused.
func (e *Emulator) recordUse(a authHeader) (principal, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[a.keyID]
	if !ok {
		return principal{}, errInvalidToken()
	}
	k.markUsed(e.now(), a.service, a.region)
	if k.session != nil {
		var g grants
		if r, ok := e.roles[k.session.roleARN]; ok {
			g = r.grants
		}
		return principal{arn: k.session.arn, userID: k.session.roleID + ":" + k.session.name, grants: g, region: a.region}, nil
	}
	return principal{arn: k.user.arn, userID: k.user.id, grants: k.user.grants, user: k.user, region: a.region}, nil
}

// --- awsShapedFaults ---

// awsShapedFaults rewrites injected faults (answers that did not come from
// serve, which always sets X-Amzn-Requestid) into AWS errors (XML for IAM
// and STS, JSON for Secrets Manager and SSM), so the SDK sees Throttling for
// 429, ServiceUnavailable for 503 and so on. A fault whose Body already is
// an AWS error (XML, or for the JSON services JSON with a __type) is passed
// through unchanged.
func awsShapedFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := &faultWriter{ResponseWriter: w}
		next.ServeHTTP(fw, r)
		fw.finish(r)
	})
}

type faultWriter struct {
	http.ResponseWriter
	held   bool // an injected fault is being buffered
	status int
	buf    bytes.Buffer
}

func (f *faultWriter) WriteHeader(code int) {
	if code >= 400 && f.Header().Get("X-Amzn-Requestid") == "" {
		f.held, f.status = true, code
		return
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *faultWriter) Write(b []byte) (int, error) {
	if f.held {
		return f.buf.Write(b)
	}
	return f.ResponseWriter.Write(b)
}

func (f *faultWriter) finish(r *http.Request) {
	if !f.held {
		return
	}
	reqID := requestID()
	f.Header().Set("X-Amzn-Requestid", reqID)
	if info := requestInfoOf(r); info.target != "" {
		// The faults package's own default body is JSON too, without the
		// __type an AWS error carries: only a fault that set one is passed on.
		var doc jsonErrorBody
		if body := bytes.TrimSpace(f.buf.Bytes()); json.Unmarshal(body, &doc) == nil && doc.Type != "" {
			f.Header().Set("Content-Type", jsonContentType)
			f.ResponseWriter.WriteHeader(f.status)
			_, _ = f.ResponseWriter.Write(body)
			return
		}
		writeJSONError(f.ResponseWriter, jsonFaultError(jsonActions[info.target].service, f.status))
		return
	}
	if body := bytes.TrimSpace(f.buf.Bytes()); bytes.HasPrefix(body, []byte("<")) {
		f.Header().Set("Content-Type", "text/xml")
		f.ResponseWriter.WriteHeader(f.status)
		_, _ = f.ResponseWriter.Write(body)
		return
	}
	ns := iamNamespace
	if spec, ok := actions[requestInfoOf(r).action]; ok {
		ns = spec.service.namespace()
	}
	writeError(f.ResponseWriter, ns, reqID, faultError(f.status))
}

// faultError is the AWS error an injected status stands for.
func faultError(status int) *apiError {
	switch status {
	case http.StatusTooManyRequests:
		return errorf(status, "Throttling", "Rate exceeded")
	case http.StatusServiceUnavailable:
		return errorf(status, "ServiceUnavailable", "Service is unavailable. Please try again later.")
	case http.StatusInternalServerError:
		return errorf(status, "ServiceFailure", "The request processing has failed because of an unknown error, exception or failure.")
	case http.StatusForbidden:
		return errorf(status, "AccessDenied", "injected: access denied")
	case http.StatusNotFound:
		return errorf(status, "NoSuchEntity", "injected: not found")
	}
	return errorf(status, strings.ReplaceAll(http.StatusText(status), " ", ""), "injected fault: %s", strconv.Itoa(status))
}

// --- IAM actions (run with e.mu held) ---

// targetUser resolves the UserName parameter, defaulting to the caller's own
// user as IAM does.
func (e *Emulator) targetUser(p principal, form url.Values) (*user, *apiError) {
	name := form.Get("UserName")
	if name == "" {
		if p.user == nil {
			return nil, errValidation("Must specify userName when calling with non-User credentials")
		}
		return p.user, nil
	}
	u, ok := e.userLocked(name)
	if !ok {
		return nil, errNoSuchUser(name)
	}
	return u, nil
}

// userKey finds the user's key named by AccessKeyId.
func (e *Emulator) userKey(u *user, form url.Values) (*key, *apiError) {
	id := form.Get("AccessKeyId")
	if id == "" {
		return nil, errValidation("1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
	}
	k, ok := e.keys[id]
	if !ok || k.user != u {
		return nil, errNoSuchKey(id)
	}
	return k, nil
}

// listUsers lists the users whose path starts with PathPrefix (default
// "/"), sorted by name, in pages of MaxItems (default 100, at most 1000)
// with an opaque Marker, as IAM does. Like IAM's, the answer leaves out
// tags and permissions boundaries.
func (e *Emulator) listUsers(_ principal, form url.Values) (any, *apiError) {
	prefix := form.Get("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	if !strings.HasPrefix(prefix, "/") || len(prefix) > 512 {
		return nil, errValidation("1 validation error detected: Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*", prefix)
	}
	maxItems, aerr := maxItemsOf(form)
	if aerr != nil {
		return nil, aerr
	}
	var users []*user
	for _, u := range e.users {
		if strings.HasPrefix(u.path, prefix) {
			users = append(users, u)
		}
	}
	sort.Slice(users, func(i, j int) bool { return userKey(users[i].name) < userKey(users[j].name) })
	start := 0
	if m := form.Get("Marker"); m != "" {
		after, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil || len(after) == 0 {
			return nil, errValidation("Invalid Marker: %s", m)
		}
		start = sort.Search(len(users), func(i int) bool { return userKey(users[i].name) > string(after) })
	}
	res := listUsersResult{}
	for _, u := range users[start:] {
		if len(res.Users) == maxItems {
			res.IsTruncated = true
			res.Marker = base64.RawURLEncoding.EncodeToString([]byte(userKey(res.Users[len(res.Users)-1].UserName)))
			break
		}
		res.Users = append(res.Users, userXML{Path: u.path, UserName: u.name, UserID: u.id, Arn: u.arn, CreateDate: isoTime(u.created)})
	}
	return res, nil
}

// maxItemsOf reads MaxItems: 100 when absent, 1 to 1000.
func maxItemsOf(form url.Values) (int, *apiError) {
	v := form.Get("MaxItems")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, errValidation("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", v)
	}
	return n, nil
}

func (e *Emulator) listAccessKeys(p principal, form url.Values) (any, *apiError) {
	u, aerr := e.targetUser(p, form)
	if aerr != nil {
		return nil, aerr
	}
	res := listAccessKeysResult{}
	for _, k := range e.userKeysLocked(u) {
		res.AccessKeyMetadata = append(res.AccessKeyMetadata, accessKeyMetadataXML{
			UserName: u.name, AccessKeyID: k.id, Status: k.status, CreateDate: isoTime(k.created),
		})
	}
	return res, nil
}

func (e *Emulator) createAccessKey(p principal, form url.Values) (any, *apiError) {
	u, aerr := e.targetUser(p, form)
	if aerr != nil {
		return nil, aerr
	}
	if len(e.userKeysLocked(u)) >= maxKeysPerUser {
		return nil, errorf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
	}
	k := e.newKeyLocked(u, true)
	return createAccessKeyResult{AccessKey: accessKeyXML{
		UserName: u.name, AccessKeyID: k.id, Status: k.status, SecretAccessKey: k.secret, CreateDate: isoTime(k.created),
	}}, nil
}

func (e *Emulator) updateAccessKey(p principal, form url.Values) (any, *apiError) {
	status := form.Get("Status")
	if status != model.KeyActive && status != model.KeyInactive {
		return nil, errValidation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	u, aerr := e.targetUser(p, form)
	if aerr != nil {
		return nil, aerr
	}
	k, aerr := e.userKey(u, form)
	if aerr != nil {
		return nil, aerr
	}
	k.status = status
	return nil, nil
}

func (e *Emulator) deleteAccessKey(p principal, form url.Values) (any, *apiError) {
	u, aerr := e.targetUser(p, form)
	if aerr != nil {
		return nil, aerr
	}
	k, aerr := e.userKey(u, form)
	if aerr != nil {
		return nil, aerr
	}
	e.deleteKeyLocked(k)
	return nil, nil
}

func (e *Emulator) getAccessKeyLastUsed(_ principal, form url.Values) (any, *apiError) {
	id := form.Get("AccessKeyId")
	k, ok := e.keys[id]
	if !ok || k.user == nil {
		return nil, errNoSuchKey(id)
	}
	// AWS answers "N/A" for a key that was never used, without a date.
	used := accessKeyLastUsed{ServiceName: "N/A", Region: "N/A"}
	if k.lastUsed != nil {
		used = accessKeyLastUsed{LastUsedDate: isoTime(*k.lastUsed), ServiceName: k.lastService, Region: k.lastRegion}
	}
	return getAccessKeyLastUsedResult{UserName: k.user.name, AccessKeyLastUsed: used}, nil
}

func (e *Emulator) getUser(p principal, form url.Values) (any, *apiError) {
	u, aerr := e.targetUser(p, form)
	if aerr != nil {
		return nil, aerr
	}
	res := getUserResult{User: userXML{Path: u.path, UserName: u.name, UserID: u.id, Arn: u.arn, CreateDate: isoTime(u.created)}}
	for _, t := range u.tags {
		res.User.Tags = append(res.User.Tags, tagXML(t))
	}
	return res, nil
}

// listUserTags lists a user's tags in pages of MaxItems (default 100, at
// most 1000) with a Marker, as iam:ListUserTags does. Unlike ListUsers it is
// authorized on the user (resource type user in IAM's reference). UserName
// is required: IAM does not default it to the caller here.
func (e *Emulator) listUserTags(_ principal, form url.Values) (any, *apiError) {
	name := form.Get("UserName")
	if name == "" {
		return nil, errValidation("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
	}
	u, ok := e.userLocked(name)
	if !ok {
		return nil, errNoSuchUser(name)
	}
	maxItems, aerr := maxItemsOf(form)
	if aerr != nil {
		return nil, aerr
	}
	start := 0
	if m := form.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(u.tags) {
			return nil, errValidation("Invalid Marker: %s", m)
		}
		start = n
	}
	res := listUserTagsResult{}
	for i, t := range u.tags[start:] {
		if len(res.Tags) == maxItems {
			res.IsTruncated, res.Marker = true, strconv.Itoa(start+i)
			break
		}
		res.Tags = append(res.Tags, tagXML(t))
	}
	return res, nil
}

// --- STS actions (run with e.mu held) ---

// getAccessKeyInfo answers the account that owns a key ID, read from the
// ID itself: any key AWS (or an Emulator) made, of any account, whether it
// is active, inactive or deleted.
func (e *Emulator) getAccessKeyInfo(_ principal, form url.Values) (any, *apiError) {
	id := form.Get("AccessKeyId")
	switch {
	case id == "":
		return nil, errValidation("1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
	case len(id) < 16 || len(id) > 128:
		return nil, errValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must have length between 16 and 128", id)
	case !accessKeyIDRE.MatchString(id):
		return nil, errValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]*", id)
	}
	acct, ok := "", false
	if strings.HasPrefix(id, accessKeyPrefix) || strings.HasPrefix(id, tempKeyPrefix) {
		acct, ok = accountOfKeyID(id)
	}
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The access key ID %s is not valid.", id)
	}
	return getAccessKeyInfoResult{Account: acct}, nil
}

var accessKeyIDRE = regexp.MustCompile(`^\w+$`)

// roleAccount is the account ID in a role ARN, or fallback.
func roleAccount(roleARN, fallback string) string {
	if parts := strings.SplitN(roleARN, ":", 6); len(parts) == 6 && len(parts[4]) == 12 {
		return parts[4]
	}
	return fallback
}

func (e *Emulator) getCallerIdentity(p principal, _ url.Values) (any, *apiError) {
	return getCallerIdentityResult{Arn: p.arn, UserID: p.userID, Account: e.accountID}, nil
}

// assumeRole hands out temporary credentials for a role registered with AddRole.
func (e *Emulator) assumeRole(p principal, form url.Values) (any, *apiError) {
	arn, name := form.Get("RoleArn"), form.Get("RoleSessionName")
	if arn == "" || name == "" {
		return nil, errValidation("1 validation error detected: RoleArn and RoleSessionName must not be null")
	}
	r, ok := e.roles[arn]
	if !ok || !r.trusts(p.arn, e.accountID) {
		// AWS says the same whether the role is missing or does not trust
		// the caller.
		return nil, errorf(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", p.arn, arn)
	}
	duration, aerr := sessionDuration(form.Get("DurationSeconds"))
	if aerr != nil {
		return nil, aerr
	}
	s := &session{
		token:   randomToken(),
		expires: e.now().Add(duration).UTC().Truncate(time.Second),
		roleARN: arn,
		roleID:  r.id,
		arn:     assumedRoleARN(arn, name),
		name:    name,
	}
	e.seq++
	k := &key{id: keyID(tempKeyPrefix, roleAccount(arn, e.accountID)), secret: randomSecret(), status: model.KeyActive, created: e.now().UTC(), seq: e.seq, session: s}
	e.keys[k.id] = k
	return assumeRoleResult{
		Credentials:     credentialsXML{AccessKeyID: k.id, SecretAccessKey: k.secret, SessionToken: s.token, Expiration: isoTime(s.expires)},
		AssumedRoleUser: assumedRoleUserXML{AssumedRoleID: r.id + ":" + name, Arn: s.arn},
	}, nil
}

// sessionDuration parses DurationSeconds (default one hour, 15 min to 12 h).
func sessionDuration(v string) (time.Duration, *apiError) {
	if v == "" {
		return time.Hour, nil
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 900 || secs > 43200 {
		return 0, errValidation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
	}
	return time.Duration(secs) * time.Second, nil
}

// assumedRoleARN turns arn:aws:iam::<acct>:role/<path/>name into
// arn:aws:sts::<acct>:assumed-role/name/<session>.
func assumedRoleARN(roleARN, sessionName string) string {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 {
		return roleARN + "/" + sessionName
	}
	resource := parts[5]
	roleName := resource[strings.LastIndex(resource, "/")+1:]
	return "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + roleName + "/" + sessionName
}
