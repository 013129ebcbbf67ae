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
	"strconv"
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
	GetVariable(pid any, key string, opt *gitlab.GetProjectVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.ProjectVariable, *gitlab.Response, error)
	CreateVariable(pid any, opt *gitlab.CreateProjectVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.ProjectVariable, *gitlab.Response, error)
	UpdateVariable(pid any, key string, opt *gitlab.UpdateProjectVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.ProjectVariable, *gitlab.Response, error)
}

// GitLabGroupVariables is the part of client-go's GroupVariablesService the
// activity uses (satisfied by *gitlab.GroupVariablesService).
type GitLabGroupVariables interface {
	GetVariable(gid any, key string, opt *gitlab.GetGroupVariableOptions, options ...gitlab.RequestOptionFunc) (*gitlab.GroupVariable, *gitlab.Response, error)
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
}

// NewGitLab returns the activities using client (see clients.NewGitLabClient).
// Whatever retry settings client has, every request is sent with client-go's
// own retries turned off: Temporal retries the activity, honouring the delay
// GitLab asks for, and the call count of an attempt stays exact. s opens the
// sealed secret it pushes.
func NewGitLab(client *gitlab.Client, s Sealer, rs Rotations) *GitLab {
	return newGitLab(client.ProjectVariables, client.GroupVariables, s, rs)
}

func newGitLab(projects GitLabProjectVariables, groups GitLabGroupVariables, s Sealer, rs Rotations) *GitLab {
	return &GitLab{projects: projects, groups: groups, sealer: s, rotations: rs, now: time.Now}
}

// gitlabVariableDescription is set on variables keyrotor creates, so people
// finding them in the UI know not to edit them by hand.
const gitlabVariableDescription = "Managed by keyrotor: rotated automatically"

// PushGitLabVariable writes the key ID and the secret into the target's
// variables (creating or updating them in the target's environment scope),
// then reads both back to confirm GitLab holds the new values.
//
// Calls: one update per variable when it exists, update + create when it
// does not, plus one read-back each: 4 to 6 in all.
func (a *GitLab) PushGitLabVariable(ctx context.Context, sealed PushInput) (PushResult, error) {
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
	p := &gitlabPusher{store: store, target: target, secret: in.Key.Secret.Reveal(), now: a.now}
	for _, v := range vars {
		if err := p.write(ctx, v); err != nil {
			return PushResult{}, err
		}
	}
	// Read back only after both writes, so the confirmation covers the
	// final state rather than a half-written pair.
	for _, v := range vars {
		if err := p.confirm(ctx, v); err != nil {
			return PushResult{}, err
		}
	}
	return PushResult{Target: target, ConfirmedAt: a.now().UTC(), Calls: p.calls}, nil
}

// gitlabVariable is one variable to write, common to projects and groups.
type gitlabVariable struct {
	key       string
	value     string
	scope     string // environment scope, never empty
	protected bool
	masked    bool
}

// gitlabReadVariable is what a read-back shows.
type gitlabReadVariable struct {
	value     string
	protected bool
	masked    bool
	hidden    bool
}

// gitlabStore writes and reads the variables of one project or group.
type gitlabStore interface {
	kind() string // "project" or "group", for messages
	update(ctx context.Context, v gitlabVariable) (*gitlab.Response, error)
	create(ctx context.Context, v gitlabVariable) (*gitlab.Response, error)
	get(ctx context.Context, key, scope string) (gitlabReadVariable, *gitlab.Response, error)
}

// storeFor picks the project or group API for the target.
func (a *GitLab) storeFor(t model.Target) (gitlabStore, error) {
	switch {
	case t.Kind == model.GitLabProject && t.Project != "":
		return gitlabProjectStore{api: a.projects, pid: t.Project}, nil
	case t.Kind == model.GitLabGroup && t.Group != "":
		return gitlabGroupStore{api: a.groups, gid: t.Group}, nil
	}
	return nil, gitlabNonRetryable(ErrValidation, "%s: not a GitLab project or group target", t.String())
}

// gitlabVariablesFor validates the input before any call, so that a mistake
// in the configuration fails at once instead of after a partial write.
func gitlabVariablesFor(in pushRequest) ([]gitlabVariable, error) {
	target := in.Target.String()
	names := in.SecretNames
	if names.AccessKeyID == names.SecretAccessKey {
		return nil, gitlabNonRetryable(ErrValidation, "%s: the key ID and the secret need different variable names", target)
	}
	if in.Key.ID == "" || in.Key.Secret.Reveal() == "" {
		return nil, gitlabNonRetryable(ErrValidation, "%s: the access key to push is empty", target)
	}
	scope := in.Target.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	vars := []gitlabVariable{
		{key: names.AccessKeyID, value: in.Key.ID},
		{key: names.SecretAccessKey, value: in.Key.Secret.Reveal()},
	}
	for i := range vars {
		v := &vars[i]
		v.scope, v.protected, v.masked = scope, in.Target.Protected, in.Target.Masked
		if !validGitLabKey(v.key) {
			return nil, gitlabNonRetryable(ErrValidation,
				"%s: variable name %q is not valid in GitLab (letters, digits and '_', at most 255)", target, v.key)
		}
		if v.masked && !gitlabMaskable(v.value) {
			return nil, gitlabNonRetryable(ErrUnmaskable,
				"%s: the value of variable %s cannot be masked by GitLab (it needs 8 or more characters and no whitespace)",
				target, v.key)
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

// gitlabPusher carries one attempt's state: the call count and what every
// message must name (the target) or never contain (the secret).
type gitlabPusher struct {
	store  gitlabStore
	target string
	secret string
	calls  int
	now    func() time.Time
}

// write updates the variable in its scope, and creates it when GitLab says
// it does not exist. Either order is idempotent under retry; updating first
// makes the common case (a rotation after the first) one call.
func (p *gitlabPusher) write(ctx context.Context, v gitlabVariable) error {
	p.calls++
	resp, err := p.store.update(ctx, v)
	if err == nil {
		return nil
	}
	if gitlabStatus(resp, err) != http.StatusNotFound {
		return p.fail(ctx, "update", v, resp, err)
	}
	p.calls++
	resp, err = p.store.create(ctx, v)
	if err == nil {
		return nil
	}
	if gitlabStatus(resp, err) == http.StatusNotFound {
		// The variable was missing and now the owner is too: the project
		// or group does not exist or the token cannot see it.
		return gitlabNonRetryable(ErrNotFound, "%s: %s not found (or not visible to the token)", p.target, p.store.kind())
	}
	return p.fail(ctx, "create", v, resp, err)
}

// confirm reads the variable back and checks it holds what was written.
func (p *gitlabPusher) confirm(ctx context.Context, v gitlabVariable) error {
	p.calls++
	got, resp, err := p.store.get(ctx, v.key, v.scope)
	if err != nil {
		if gitlabStatus(resp, err) == http.StatusNotFound {
			return gitlabRetryable(ErrNotConfirmed, "%s: variable %s (scope %s) not found on read-back", p.target, v.key, v.scope)
		}
		return p.fail(ctx, "read back", v, resp, err)
	}
	if got.hidden {
		// GitLab never returns a hidden variable's value: retrying cannot
		// confirm it, a person has to replace the variable.
		return gitlabNonRetryable(ErrUnprocessable,
			"%s: variable %s (scope %s) is hidden, so its value cannot be read back to confirm it; delete it and let keyrotor recreate it",
			p.target, v.key, v.scope)
	}
	if got.value != v.value {
		return gitlabRetryable(ErrNotConfirmed, "%s: variable %s (scope %s) does not hold the new value on read-back", p.target, v.key, v.scope)
	}
	if got.masked != v.masked || got.protected != v.protected {
		return gitlabRetryable(ErrNotConfirmed, "%s: variable %s (scope %s) reads back masked=%t protected=%t, want masked=%t protected=%t",
			p.target, v.key, v.scope, got.masked, got.protected, v.masked, v.protected)
	}
	return nil
}

// fail turns a failed call into the error the workflow acts on. Messages are
// built from the status and GitLab's message only: client-go's own errors
// quote URLs and response bodies, and nothing here may carry the secret.
func (p *gitlabPusher) fail(ctx context.Context, op string, v gitlabVariable, resp *gitlab.Response, err error) error {
	where := fmt.Sprintf("%s: %s variable %s (scope %s)", p.target, op, v.key, v.scope)
	status := gitlabStatus(resp, err)
	if status == 0 {
		return p.transportError(ctx, where, err)
	}
	msg := p.redact(gitlabErrorMessage(err))
	header := gitlabHeader(resp, err)
	detail := fmt.Sprintf("%s: HTTP %d", where, status)
	if msg.text != "" {
		detail += ": " + msg.text
	}
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusForbidden && header.Get("Retry-After") != "":
		return gitlabRateLimited(detail, gitlabRetryDelay(header, p.now()))
	case status == http.StatusUnauthorized:
		return gitlabNonRetryable(ErrUnauthorized, "%s (the token is invalid, expired or revoked)", detail)
	case status == http.StatusForbidden:
		return gitlabNonRetryable(ErrUnauthorized, "%s (the token needs the Maintainer role)", detail)
	case status == http.StatusNotFound:
		return gitlabNonRetryable(ErrNotFound, "%s", detail)
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return p.refused(detail, v, msg)
	case status == http.StatusRequestTimeout || status >= 500:
		return errors.New(detail)
	}
	return gitlabNonRetryable(ErrUnprocessable, "%s", detail)
}

// refused classifies a 400/422: an unmaskable value, a create that raced
// with another writer (retrying will update instead), or anything else.
func (p *gitlabPusher) refused(detail string, v gitlabVariable, msg gitlabMessage) error {
	if _, aboutValue := msg.fields["value"]; aboutValue && v.masked {
		return gitlabNonRetryable(ErrUnmaskable, "%s (GitLab refuses to mask this value)", detail)
	}
	for _, m := range msg.fields["key"] {
		if strings.Contains(m, "has already been taken") {
			return errors.New(detail + " (created concurrently; retrying updates it)")
		}
	}
	return gitlabNonRetryable(ErrUnprocessable, "%s", detail)
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
	return fmt.Errorf("%s: %w", where, gitlabRedactedError{err: err, text: p.redact(gitlabMessage{text: err.Error()}).text})
}

// redact removes the secret from text that came from elsewhere, in case a
// server or proxy ever echoes a request back.
func (p *gitlabPusher) redact(m gitlabMessage) gitlabMessage {
	if p.secret != "" && strings.Contains(m.text, p.secret) {
		m.text = strings.ReplaceAll(m.text, p.secret, "[REDACTED]")
	}
	return m
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
	var text string
	if json.Unmarshal(body.Message, &text) == nil {
		return gitlabMessage{text: gitlabTruncate(text)}
	}
	var fields map[string][]string
	if json.Unmarshal(body.Message, &fields) == nil && len(fields) > 0 {
		return gitlabMessage{text: gitlabTruncate(gitlabFormatFields(fields)), fields: fields}
	}
	return gitlabMessage{text: gitlabTruncate(body.Error)}
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

func gitlabTruncate(s string) string {
	const limit = 300
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
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

// gitlabRetryDelay reads how long GitLab asks clients to wait: Retry-After
// (seconds or an HTTP date), else RateLimit-Reset (a Unix time). Zero
// leaves the delay to the retry policy.
func gitlabRetryDelay(h http.Header, now time.Time) time.Duration {
	if s := h.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(s); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if s := h.Get("RateLimit-Reset"); s != "" {
		if unix, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			if t := time.Unix(unix, 0); t.After(now) {
				return t.Sub(now)
			}
		}
	}
	return 0
}

func gitlabRateLimited(msg string, delay time.Duration) error {
	if delay > 0 {
		msg += fmt.Sprintf(" (retry after %s)", delay)
	}
	return temporal.NewApplicationErrorWithOptions(msg, ErrRateLimited,
		temporal.ApplicationErrorOptions{NextRetryDelay: delay})
}

func gitlabNonRetryable(errType, format string, args ...any) error {
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf(format, args...), errType,
		temporal.ApplicationErrorOptions{NonRetryable: true})
}

func gitlabRetryable(errType, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), errType)
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
		Value:        gitlab.Ptr(v.value),
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
		Value:            gitlab.Ptr(v.value),
		Description:      gitlab.Ptr(gitlabVariableDescription),
		EnvironmentScope: gitlab.Ptr(v.scope),
		Protected:        gitlab.Ptr(v.protected),
		Masked:           gitlab.Ptr(v.masked),
		Raw:              gitlab.Ptr(true),
		VariableType:     gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabProjectStore) get(ctx context.Context, key, scope string) (gitlabReadVariable, *gitlab.Response, error) {
	got, resp, err := s.api.GetVariable(s.pid, key, &gitlab.GetProjectVariableOptions{
		Filter: &gitlab.VariableFilter{EnvironmentScope: scope},
	}, gitlabRequestOptions(ctx)...)
	if err != nil || got == nil {
		return gitlabReadVariable{}, resp, err
	}
	return gitlabReadVariable{value: got.Value, protected: got.Protected, masked: got.Masked, hidden: got.Hidden}, resp, nil
}

// gitlabGroupStore addresses a group by path or numeric ID.
type gitlabGroupStore struct {
	api GitLabGroupVariables
	gid string
}

func (s gitlabGroupStore) kind() string { return "group" }

func (s gitlabGroupStore) update(ctx context.Context, v gitlabVariable) (*gitlab.Response, error) {
	_, resp, err := s.api.UpdateVariable(s.gid, v.key, &gitlab.UpdateGroupVariableOptions{
		Value:        gitlab.Ptr(v.value),
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
		Value:            gitlab.Ptr(v.value),
		Description:      gitlab.Ptr(gitlabVariableDescription),
		EnvironmentScope: gitlab.Ptr(v.scope),
		Protected:        gitlab.Ptr(v.protected),
		Masked:           gitlab.Ptr(v.masked),
		Raw:              gitlab.Ptr(true),
		VariableType:     gitlab.Ptr(gitlab.EnvVariableType),
	}, gitlabRequestOptions(ctx)...)
	return resp, err
}

func (s gitlabGroupStore) get(ctx context.Context, key, scope string) (gitlabReadVariable, *gitlab.Response, error) {
	got, resp, err := s.api.GetVariable(s.gid, key, &gitlab.GetGroupVariableOptions{
		Filter: &gitlab.VariableFilter{EnvironmentScope: scope},
	}, gitlabRequestOptions(ctx)...)
	if err != nil || got == nil {
		return gitlabReadVariable{}, resp, err
	}
	return gitlabReadVariable{value: got.Value, protected: got.Protected, masked: got.Masked, hidden: got.Hidden}, resp, nil
}
