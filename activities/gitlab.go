package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/model"
)

// GitLabProjectVariables is the part of client-go's ProjectVariablesService
// the activity uses (satisfied by *gitlab.ProjectVariablesService).
type GitLabProjectVariables interface {
	ListVariables(pid any, opt *gitlab.ListProjectVariablesOptions, options ...gitlab.RequestOptionFunc) ([]*gitlab.ProjectVariable, *gitlab.Response, error)
	CreateVariable(pid any, opt *gitlab.CreateProjectVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.ProjectVariable, *gitlab.Response, error)
	UpdateVariable(pid any, key string, opt *gitlab.UpdateProjectVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.ProjectVariable, *gitlab.Response, error)
}

// GitLabGroupVariables is the part of client-go's GroupVariablesService the
// activity uses (satisfied by *gitlab.GroupVariablesService).
type GitLabGroupVariables interface {
	ListVariables(gid any, opt *gitlab.ListGroupVariablesOptions, options ...gitlab.RequestOptionFunc) ([]*gitlab.GroupVariable, *gitlab.Response, error)
	CreateVariable(gid any, opt *gitlab.CreateGroupVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.GroupVariable, *gitlab.Response, error)
	UpdateVariable(gid any, key string, opt *gitlab.UpdateGroupVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.GroupVariable, *gitlab.Response, error)
}

// GitLab writes the new key into GitLab project and group CI/CD variables.
type GitLab struct {
	projects GitLabProjectVariables
	groups   GitLabGroupVariables
	sealer   Sealer
	// rotations is the worker's configuration: where keys may go.
	rotations Rotations
	now       func() time.Time
	policy    callPolicy
	opts      options
}

// NewGitLab returns the activities using client (see clients.NewGitLabClient).
// Whatever retry settings client has, every request is sent with client-go's
// own retries turned off: the activity retries each call itself, honouring
// the delay GitLab asks for (see callPolicy), and the call count of an
// attempt stays exact. s opens the sealed secret it pushes.
func NewGitLab(client *gitlab.Client, s Sealer, rs Rotations, opts ...Option) *GitLab {
	return newGitLab(client.ProjectVariables, client.GroupVariables, s, rs, opts...)
}

func newGitLab(projects GitLabProjectVariables, groups GitLabGroupVariables, s Sealer, rs Rotations, opts ...Option) *GitLab {
	return &GitLab{projects: projects, groups: groups, sealer: s, rotations: rs, now: time.Now, policy: defaultCallPolicy, opts: newOptions(opts)}
}

// gitlabVariableDescription is set on variables keyrotor creates, so people
// finding them in the UI know not to edit them by hand.
const gitlabVariableDescription = "Managed by keyrotor: rotated automatically"

// PushGitLabVariable writes the key ID and the secret into the target's
// variables (creating or updating them in the target's environment scope),
// then reads them back, in one listing, to confirm GitLab holds the new
// values.
//
// Calls: one update per variable when it exists, update + create when it
// does not, plus one read-back: 3 to 5 in all. Failed calls are retried in
// place (see callPolicy), and each completed write is recorded in the
// heartbeat (PushProgress): a later attempt does not write it again.
func (a *GitLab) PushGitLabVariable(ctx context.Context, sealed PushInput) (res PushResult, err error) {
	defer func() { a.opts.pushDone(ctx, "gitlab", sealed, res, err) }()
	in, err := sealed.resolve(a.rotations, a.sealer)
	if err != nil {
		return PushResult{}, err
	}
	target := in.Target.String()
	store, err := a.storeFor(in.Target)
	if err != nil {
		return PushResult{}, err
	}
	vars, err := gitlabVariablesFor(in)
	if err != nil {
		return PushResult{}, err
	}
	p := newGitLabPusher(ctx, store, target, in.Key, a.policy, a.now)
	p.calls.onWait = a.opts.onRateLimit(ctx, "gitlab", sealed)
	a.opts.paced(p.calls, "gitlab")
	pair := newPairWrites(ctx, len(p.progress.Written) > 0)
	defer pair.stop()
	for _, v := range vars {
		if p.progress.wrote(v.key) {
			continue
		}
		if err := p.write(pair.ctx, v); err != nil {
			return PushResult{}, err
		}
		pair.wrote()
		p.progress.markWritten(v.key)
		p.calls.heartbeat(pair.ctx)
	}
	// Read back only after both writes, so the confirmation covers the
	// final state rather than a half-written pair.
	if err := p.confirm(ctx, vars); err != nil {
		return PushResult{}, err
	}
	return PushResult{Target: target, ConfirmedAt: a.now().UTC(), Calls: p.calls.calls, ConfirmedBy: ConfirmedReadBack}, nil
}

// gitlabVariable is one variable to write, common to projects and groups.
type gitlabVariable struct {
	key       string
	Value     model.Secret // exported: %+v of the struct prints it redacted
	scope     string       // environment scope, never empty
	protected bool
	masked    bool
}

// gitlabReadVariable is what a read-back shows.
type gitlabReadVariable struct {
	key       string
	scope     string
	Value     model.Secret // exported: %+v of the struct prints it redacted
	protected bool
	masked    bool
	hidden    bool
}

// gitlabStore writes and reads the variables of one project or group.
type gitlabStore interface {
	kind() string // "project" or "group", for messages
	update(ctx context.Context, v gitlabVariable) (*gitlab.Response, error)
	create(ctx context.Context, v gitlabVariable) (*gitlab.Response, error)
	// list returns one page (from 1) of the variables and the next page (0: none).
	list(ctx context.Context, page int64) ([]gitlabReadVariable, int64, *gitlab.Response, error)
}

// storeFor picks the project or group API for the target.
func (a *GitLab) storeFor(t model.Target) (gitlabStore, error) {
	switch {
	case t.Kind == model.GitLabProject && t.Project != "":
		return gitlabProjectStore{api: a.projects, pid: t.Project}, nil
	case t.Kind == model.GitLabGroup && t.Group != "":
		return gitlabGroupStore{api: a.groups, gid: t.Group}, nil
	}
	return nil, nonRetryable(TypeValidation, fmt.Sprintf("%s: not a GitLab project or group target", t.String()), nil)
}

// gitlabVariablesFor validates the input before any call, so that a mistake
// in the configuration fails at once instead of after a partial write.
func gitlabVariablesFor(in pushRequest) ([]gitlabVariable, error) {
	target := in.Target.String()
	names := in.SecretNames
	if names.AccessKeyID == names.SecretAccessKey {
		return nil, nonRetryable(TypeValidation, fmt.Sprintf("%s: the key ID and the secret need different variable names", target), nil)
	}
	if in.Key.ID == "" || in.Key.Secret.Reveal() == "" {
		return nil, nonRetryable(TypeValidation, fmt.Sprintf("%s: the access key to push is empty", target), nil)
	}
	scope := in.Target.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	vars := []gitlabVariable{
		{key: names.AccessKeyID, Value: model.Secret(in.Key.ID)},
		{key: names.SecretAccessKey, Value: in.Key.Secret},
	}
	for i := range vars {
		v := &vars[i]
		v.scope, v.protected, v.masked = scope, in.Target.Protected, in.Target.Masked
		if !validGitLabKey(v.key) {
			return nil, nonRetryable(TypeValidation, fmt.Sprintf("%s: variable name %q is not valid in GitLab (letters, digits and '_', at most 255)", target, v.key), nil)
		}
		if v.masked && !gitlabMaskable(v.Value.Reveal()) {
			return nil, nonRetryable(TypeUnmaskable, fmt.Sprintf("%s: the value of variable %s cannot be masked by GitLab (it needs 8 or more characters and no whitespace)",
				target, v.key), nil)
		}
	}
	return vars, nil
}

var gitlabKeyRegex = regexp.MustCompile(`^[a-zA-Z0-9_]{1,255}$`)

func validGitLabKey(key string) bool { return gitlabKeyRegex.MatchString(key) }

// gitlabMaskable applies GitLab's rule for masked variables that are raw
// (keyrotor always writes raw: a "$" in a secret must stay literal): at
// least 8 characters and a single line without whitespace. Expanded
// variables are further limited to the Base64 alphabet plus "@:.~", which
// AWS secrets (Base64 with "/" and "+") also satisfy, so older GitLab
// versions that apply that rule to raw variables accept them too.
func gitlabMaskable(value string) bool {
	return utf8.RuneCountInString(value) >= 8 && !strings.ContainsAny(value, " \t\r\n\f\v")
}

// gitlabPusher carries one attempt's state: its calls, its progress, and
// what every message must name (the target) or never contain (the secret).
type gitlabPusher struct {
	store    gitlabStore
	target   string
	calls    *caller
	progress *PushProgress
	Redactor redactor // exported: %+v of the struct prints the secret redacted
	now      func() time.Time
}

func newGitLabPusher(ctx context.Context, store gitlabStore, target string, key model.NewAccessKey, policy callPolicy, now func() time.Time) *gitlabPusher {
	progress := resumeProgress(ctx, target, key.ID)
	p := &gitlabPusher{store: store, target: target, progress: progress, calls: &caller{policy: policy, progress: progress}, now: now}
	p.Redactor.add(key.Secret)
	return p
}

// call makes one GitLab call through the attempt's caller; call reports
// the response it got, for the classification of its error.
func (p *gitlabPusher) call(ctx context.Context, op string, v gitlabVariable, call func() (*gitlab.Response, error)) error {
	var resp *gitlab.Response
	return p.calls.do(ctx, func() error {
		var err error
		resp, err = call()
		return err
	}, func(err error) failure { return p.fail(ctx, op, v, resp, err) })
}

// write updates the variable in its scope, and creates it when GitLab says
// it does not exist. Updating first makes the common case (a rotation after
// the first) one call. A create refused because the variable now exists (a
// concurrent writer, or an earlier create whose answer was lost) updates.
func (p *gitlabPusher) write(ctx context.Context, v gitlabVariable) error {
	update := func() (missing bool, err error) {
		err = p.call(ctx, "update", v, func() (*gitlab.Response, error) {
			resp, err := p.store.update(ctx, v)
			if err != nil && gitlabStatus(resp, err) == http.StatusNotFound {
				missing = true
				return resp, nil
			}
			return resp, err
		})
		return missing, err
	}
	missing, err := update()
	if err != nil || !missing {
		return err
	}
	var ownerMissing, taken bool
	err = p.call(ctx, "create", v, func() (*gitlab.Response, error) {
		resp, err := p.store.create(ctx, v)
		switch {
		case err == nil:
		case gitlabStatus(resp, err) == http.StatusNotFound:
			ownerMissing = true
			return resp, nil
		case gitlabTaken(resp, err):
			taken = true
			return resp, nil
		}
		return resp, err
	})
	switch {
	case err != nil:
		return err
	case ownerMissing:
		// The variable was missing and now the owner is too: the project
		// or group does not exist or the token cannot see it.
		return nonRetryable(TypeNotFound, fmt.Sprintf("%s: %s not found (or not visible to the token)", p.target, p.store.kind()), nil)
	case taken:
		if missing, err = update(); err == nil && missing {
			return errors.New(p.target + ": variable " + v.key + " (scope " + v.scope + ") appeared and disappeared while being written; retrying")
		}
		return err
	}
	return nil
}

// gitlabTaken reports a 400 saying the key already exists in that scope.
func gitlabTaken(resp *gitlab.Response, err error) bool {
	if gitlabStatus(resp, err) != http.StatusBadRequest {
		return false
	}
	for _, m := range gitlabErrorMessage(err).fields["key"] {
		if strings.Contains(m, "has already been taken") {
			return true
		}
	}
	return false
}

// confirm lists the variables (one page of 100 in most projects and
// groups) and checks each written one holds what was written. A read-back
// that does not confirm forgets the writes, so the next attempt writes again.
func (p *gitlabPusher) confirm(ctx context.Context, vars []gitlabVariable) error {
	found, err := p.readBack(ctx, vars)
	if err != nil {
		return err
	}
	for _, v := range vars {
		if err := p.check(v, found); err != nil {
			var ae *temporal.ApplicationError
			if errors.As(err, &ae) && !ae.NonRetryable() {
				p.progress.restart("read-back did not confirm the writes")
				p.calls.heartbeat(ctx)
			}
			return err
		}
	}
	p.progress.Step = "confirmed"
	p.calls.heartbeat(ctx)
	return nil
}

// readBack returns the listed variables among vars, by key and scope.
func (p *gitlabPusher) readBack(ctx context.Context, vars []gitlabVariable) (map[[2]string]gitlabReadVariable, error) {
	want := map[[2]string]bool{}
	for _, v := range vars {
		want[[2]string{v.key, v.scope}] = true
	}
	found := map[[2]string]gitlabReadVariable{}
	for page := int64(1); page != 0 && len(found) < len(want); {
		var got []gitlabReadVariable
		var next int64
		err := p.call(ctx, "read back", vars[0], func() (*gitlab.Response, error) {
			var resp *gitlab.Response
			var err error
			got, next, resp, err = p.store.list(ctx, page)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range got {
			if k := [2]string{r.key, r.scope}; want[k] {
				found[k] = r
			}
		}
		page = next
	}
	return found, nil
}

// check compares one variable's read-back with what was written.
func (p *gitlabPusher) check(v gitlabVariable, found map[[2]string]gitlabReadVariable) error {
	got, ok := found[[2]string{v.key, v.scope}]
	if !ok {
		return retryable(TypeNotConfirmed, fmt.Sprintf("%s: variable %s (scope %s) not found on read-back", p.target, v.key, v.scope), nil)
	}
	if got.hidden {
		// GitLab never returns a hidden variable's value: retrying cannot
		// confirm it, a person has to replace the variable.
		return nonRetryable(TypeUnprocessable, fmt.Sprintf("%s: variable %s (scope %s) is hidden, so its value cannot be read back to confirm it; delete it and let keyrotor recreate it",
			p.target, v.key, v.scope), nil)
	}
	if got.Value.Reveal() != v.Value.Reveal() {
		return retryable(TypeNotConfirmed, fmt.Sprintf("%s: variable %s (scope %s) does not hold the new value on read-back", p.target, v.key, v.scope), nil)
	}
	if got.masked != v.masked || got.protected != v.protected {
		return retryable(TypeNotConfirmed, fmt.Sprintf("%s: variable %s (scope %s) reads back masked=%t protected=%t, want masked=%t protected=%t",
			p.target, v.key, v.scope, got.masked, got.protected, v.masked, v.protected), nil)
	}
	return nil
}

// fail judges a failed call: the error the workflow acts on, and whether
// the call is worth repeating in place. Messages are built from the status
// and GitLab's JSON message only (client-go's own errors quote URLs and
// response bodies), redacted before they are cut to length.
func (p *gitlabPusher) fail(ctx context.Context, op string, v gitlabVariable, resp *gitlab.Response, err error) failure {
	where := fmt.Sprintf("%s: %s variable %s (scope %s)", p.target, op, v.key, v.scope)
	status := gitlabStatus(resp, err)
	if status == 0 {
		return failure{err: p.transportError(ctx, where, err), transient: ctx.Err() == nil}
	}
	msg := gitlabErrorMessage(err)
	msg.text = p.Redactor.clean(msg.text)
	header := gitlabHeader(resp, err)
	detail := fmt.Sprintf("%s: HTTP %d", where, status)
	if msg.text != "" {
		detail += ": " + msg.text
	}
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusForbidden && header.Get("Retry-After") != "":
		delay := providerWait(header, p.now())
		if delay > 0 {
			detail += fmt.Sprintf(" (retry after %s)", delay)
		}
		// Without a delay from GitLab, back off like for a 5xx.
		return failure{err: rateLimited(detail, delay, nil), wait: delay, transient: delay == 0}
	case status == http.StatusUnauthorized:
		return failure{err: nonRetryable(TypeUnauthorized, detail+" (the token is invalid, expired or revoked)", nil)}
	case status == http.StatusForbidden:
		return failure{err: nonRetryable(TypeUnauthorized, detail+" (the token needs the Maintainer role)", nil)}
	case status == http.StatusNotFound:
		return failure{err: nonRetryable(TypeNotFound, detail, nil)}
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return failure{err: p.refused(detail, v, msg)}
	case status == http.StatusRequestTimeout || status >= 500:
		return failure{err: errors.New(detail), transient: true}
	}
	return failure{err: nonRetryable(TypeUnprocessable, detail, nil)}
}

// refused classifies a 400/422: an unmaskable value, a create that raced
// with another writer (retrying will update instead), or anything else.
func (p *gitlabPusher) refused(detail string, v gitlabVariable, msg gitlabMessage) error {
	if _, aboutValue := msg.fields["value"]; aboutValue && v.masked {
		return nonRetryable(TypeUnmaskable, detail+" (GitLab refuses to mask this value)", nil)
	}
	for _, m := range msg.fields["key"] {
		if strings.Contains(m, "has already been taken") {
			return errors.New(detail + " (created concurrently; retrying updates it)")
		}
	}
	return nonRetryable(TypeUnprocessable, detail, nil)
}

// transportError reports a call that got no HTTP response (timeout, refused
// connection) as retryable. url.Error's text is dropped because it quotes
// the request URL; its cause is kept for errors.Is.
func (p *gitlabPusher) transportError(ctx context.Context, where string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s: %w", where, gitlabRedactedError{err: err, text: p.Redactor.clean(err.Error())})
}

// gitlabRedactedError keeps an error's identity (errors.Is) with a cleaned text.
type gitlabRedactedError struct {
	err  error
	text string
}

func (e gitlabRedactedError) Error() string { return e.text }
func (e gitlabRedactedError) Unwrap() error { return e.err }

// gitlabMessage is GitLab's error "message" (or Grape's "error"): a string,
// or per-field lists such as {"value":["is invalid"]}.
type gitlabMessage struct {
	text   string
	fields map[string][]string
}

// gitlabErrorMessage extracts GitLab's message from a client-go error.
func gitlabErrorMessage(err error) gitlabMessage {
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) || len(er.Body) == 0 {
		return gitlabMessage{}
	}
	var body struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
	}
	if json.Unmarshal(er.Body, &body) != nil {
		return gitlabMessage{} // not GitLab's JSON (a proxy page): the status says enough
	}
	// Not truncated here: the caller redacts the secret first (redactor.clean).
	var text string
	if json.Unmarshal(body.Message, &text) == nil {
		return gitlabMessage{text: text}
	}
	var fields map[string][]string
	if json.Unmarshal(body.Message, &fields) == nil && len(fields) > 0 {
		return gitlabMessage{text: gitlabFormatFields(fields), fields: fields}
	}
	return gitlabMessage{text: body.Error}
}

// gitlabFormatFields renders {"key":["(K) has already been taken"]} as
// "key (K) has already been taken", fields sorted for stable messages.
func gitlabFormatFields(fields map[string][]string) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+" "+strings.Join(fields[name], ", "))
	}
	return strings.Join(parts, "; ")
}

// gitlabStatus is the response's status, 0 when there was none. client-go
// answers a 404 with the bare sentinel gitlab.ErrNotFound.
func gitlabStatus(resp *gitlab.Response, err error) int {
	var er *gitlab.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil:
		return er.Response.StatusCode
	case resp != nil && resp.Response != nil:
		return resp.StatusCode
	case errors.Is(err, gitlab.ErrNotFound):
		return http.StatusNotFound
	}
	return 0
}

func gitlabHeader(resp *gitlab.Response, err error) http.Header {
	var er *gitlab.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil:
		return er.Response.Header
	case resp != nil && resp.Response != nil:
		return resp.Header
	}
	return http.Header{}
}

// gitlabNoClientRetry turns off client-go's retries for one request (see NewGitLab).
var gitlabNoClientRetry = gitlab.WithRequestRetry(func(context.Context, *http.Response, error) (bool, error) {
	return false, nil
})

func gitlabRequestOptions(ctx context.Context) []gitlab.RequestOptionFunc {
	return []gitlab.RequestOptionFunc{gitlab.WithContext(ctx), gitlabNoClientRetry}
}

// gitlabProjectStore addresses a project by path or numeric ID.
type gitlabProjectStore struct {
	api GitLabProjectVariables
	pid string
}

func (s gitlabProjectStore) kind() string { return "project" }

func (s gitlabProjectStore) update(ctx context.Context, v gitlabVariable) (*gitlab.Response, error) {
	_, resp, err := s.api.UpdateVariable(s.pid, v.key, &gitlab.UpdateProjectVariableOptions{
		Value:        gitlab.Ptr(v.Value.Reveal()),
		Filter:       &gitlab.VariableFilter{EnvironmentScope: v.scope},
		Protected:    gitlab.Ptr(v.protected),
		Masked:       gitlab.Ptr(v.masked),
		Raw:          gitlab.Ptr(true),
		VariableType: gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabProjectStore) create(ctx context.Context, v gitlabVariable) (*gitlab.Response, error) {
	_, resp, err := s.api.CreateVariable(s.pid, &gitlab.CreateProjectVariableOptions{
		Key:              gitlab.Ptr(v.key),
		Value:            gitlab.Ptr(v.Value.Reveal()),
		Description:      gitlab.Ptr(gitlabVariableDescription),
		EnvironmentScope: gitlab.Ptr(v.scope),
		Protected:        gitlab.Ptr(v.protected),
		Masked:           gitlab.Ptr(v.masked),
		Raw:              gitlab.Ptr(true),
		VariableType:     gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabProjectStore) list(ctx context.Context, page int64) ([]gitlabReadVariable, int64, *gitlab.Response, error) {
	got, resp, err := s.api.ListVariables(s.pid, &gitlab.ListProjectVariablesOptions{
		ListOptions: gitlab.ListOptions{Page: page, PerPage: gitlabPerPage},
	}, gitlabRequestOptions(ctx)...)
	if err != nil {
		return nil, 0, resp, err
	}
	out := make([]gitlabReadVariable, 0, len(got))
	for _, v := range got {
		out = append(out, gitlabReadVariable{key: v.Key, scope: v.EnvironmentScope, Value: model.Secret(v.Value),
			protected: v.Protected, masked: v.Masked, hidden: v.Hidden})
	}
	return out, resp.NextPage, resp, nil
}

// gitlabPerPage is GitLab's largest page: one read-back call for most
// projects and groups.
const gitlabPerPage = 100

// gitlabGroupStore addresses a group by path or numeric ID.
type gitlabGroupStore struct {
	api GitLabGroupVariables
	gid string
}

func (s gitlabGroupStore) kind() string { return "group" }

func (s gitlabGroupStore) update(ctx context.Context, v gitlabVariable) (*gitlab.Response, error) {
	_, resp, err := s.api.UpdateVariable(s.gid, v.key, &gitlab.UpdateGroupVariableOptions{
		Value:        gitlab.Ptr(v.Value.Reveal()),
		Filter:       &gitlab.VariableFilter{EnvironmentScope: v.scope},
		Protected:    gitlab.Ptr(v.protected),
		Masked:       gitlab.Ptr(v.masked),
		Raw:          gitlab.Ptr(true),
		VariableType: gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabGroupStore) create(ctx context.Context, v gitlabVariable) (*gitlab.Response, error) {
	_, resp, err := s.api.CreateVariable(s.gid, &gitlab.CreateGroupVariableOptions{
		Key:              gitlab.Ptr(v.key),
		Value:            gitlab.Ptr(v.Value.Reveal()),
		Description:      gitlab.Ptr(gitlabVariableDescription),
		EnvironmentScope: gitlab.Ptr(v.scope),
		Protected:        gitlab.Ptr(v.protected),
		Masked:           gitlab.Ptr(v.masked),
		Raw:              gitlab.Ptr(true),
		VariableType:     gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabGroupStore) list(ctx context.Context, page int64) ([]gitlabReadVariable, int64, *gitlab.Response, error) {
	got, resp, err := s.api.ListVariables(s.gid, &gitlab.ListGroupVariablesOptions{
		ListOptions: gitlab.ListOptions{Page: page, PerPage: gitlabPerPage},
	}, gitlabRequestOptions(ctx)...)
	if err != nil {
		return nil, 0, resp, err
	}
	out := make([]gitlabReadVariable, 0, len(got))
	for _, v := range got {
		out = append(out, gitlabReadVariable{key: v.Key, scope: v.EnvironmentScope, Value: model.Secret(v.Value),
			protected: v.Protected, masked: v.Masked, hidden: v.Hidden})
	}
	return out, resp.NextPage, resp, nil
}
