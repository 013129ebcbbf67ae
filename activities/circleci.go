package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// CircleCIEnvVars is the part of CircleCI's API the activity uses
// (*clients.CircleCIClient implements it).
type CircleCIEnvVars interface {
	SetProjectEnvVar(ctx context.Context, projectSlug, name string, value model.Secret) (clients.CircleCIEnvVar, error)
	ProjectEnvVars(ctx context.Context, projectSlug string) ([]clients.CircleCIEnvVar, error)
	SetContextEnvVar(ctx context.Context, contextID, name string, value model.Secret) (clients.CircleCIContextEnvVar, error)
	ContextEnvVars(ctx context.Context, contextID string) ([]clients.CircleCIContextEnvVar, error)
}

// CircleCI writes the key into a CircleCI project's or context's
// environment variables. CircleCI never shows a value again: a project
// variable reads back masked ("xxxx" and its last four characters), a
// context variable without any value, only its dates.
type CircleCI struct {
	kindBase
	api CircleCIEnvVars
}

// NewCircleCI returns the circleci-project and circleci-context kinds.
func NewCircleCI(api CircleCIEnvVars, s Sealer, rs Rotations, opts ...Option) *CircleCI {
	return &CircleCI{kindBase: newKindBase("circleci", rs, s, opts), api: api}
}

var _ TargetKind = (*CircleCI)(nil)

func (a *CircleCI) kinds() []model.TargetKind {
	return []model.TargetKind{model.CircleCIProject, model.CircleCIContext}
}

// circleciClockSkew is how far before the worker's clock a context write
// may be stamped when CircleCI's answer carries no updated_at of its own
// (the read-back then compares CircleCI's times with the worker's).
const circleciClockSkew = time.Minute

// push takes 3 calls: one write per variable (both create or replace:
// POST /project/{slug}/envvar, PUT /context/{id}/environment-variable/{name})
// and one listing to confirm them (one page holds 20 variables). A write
// an earlier attempt made for this key is not made again.
//
// A project's listing shows each value masked: the last four characters
// of both must be the new key's (ConfirmedMasked). A context's listing shows
// no value: both must be listed with an updated_at no earlier than
// CircleCI's own stamp of the first write (ConfirmedMetadata).
func (a *CircleCI) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		t := p.req.Target.CircleCI
		switch {
		case t == nil,
			p.req.Target.Kind == model.CircleCIProject && t.Project == "",
			p.req.Target.Kind == model.CircleCIContext && t.Context == "":
			return "", nonRetryable(TypeValidation, p.target+": not a CircleCI project or context target", nil)
		}
		vars, err := pairValues(p)
		if err != nil {
			return "", err
		}
		if p.req.Target.Kind == model.CircleCIProject {
			return a.pushProject(ctx, p, t.Project, vars)
		}
		return a.pushContext(ctx, p, t.Context, vars)
	})
}

// pairValue is one variable of the key pair to write.
type pairValue struct {
	name  string
	Value model.Secret // exported: %+v of the struct prints it redacted
}

// pairValues are the key ID and the secret under the rotation's names.
func pairValues(p *pushRun) ([]pairValue, error) {
	n := withDefaultNames(p.req.SecretNames)
	if n.AccessKeyID == n.SecretAccessKey {
		return nil, nonRetryable(TypeValidation, p.target+": the key ID and the secret need different variable names", nil)
	}
	if p.req.Key.ID == "" || p.req.Key.Secret.Reveal() == "" {
		return nil, nonRetryable(TypeValidation, p.target+": the access key to push is empty", nil)
	}
	return []pairValue{{n.AccessKeyID, model.Secret(p.req.Key.ID)}, {n.SecretAccessKey, p.req.Key.Secret}}, nil
}

func (a *CircleCI) pushProject(ctx context.Context, p *pushRun, slug string, vars []pairValue) (string, error) {
	for _, v := range vars {
		err := p.write(v.name, func(ctx context.Context) error {
			_, err := a.api.SetProjectEnvVar(ctx, slug, v.name, v.Value)
			return err
		}, a.judge(ctx, p, "set "+v.name))
		if err != nil {
			return "", err
		}
	}
	var listed []clients.CircleCIEnvVar
	err := p.call(ctx, func(ctx context.Context) (err error) {
		listed, err = a.api.ProjectEnvVars(ctx, slug)
		return err
	}, a.judge(ctx, p, "list variables"))
	if err != nil {
		return "", err
	}
	for _, v := range vars {
		i := indexOf(listed, func(e clients.CircleCIEnvVar) bool { return e.Name == v.name })
		switch {
		case i < 0:
			return "", p.notConfirmed(v.name + " is not listed")
		case !listed[i].Confirms(v.Value):
			// The mask shows four characters of the value: not quoted, so
			// that no part of the secret reaches an error.
			return "", p.notConfirmed(v.name + "'s masked value does not end as the new value does")
		}
	}
	return ConfirmedMasked, nil
}

func (a *CircleCI) pushContext(ctx context.Context, p *pushRun, contextID string, vars []pairValue) (string, error) {
	for _, v := range vars {
		err := p.write(v.name, func(ctx context.Context) error {
			began := a.now()
			out, err := a.api.SetContextEnvVar(ctx, contextID, v.name, v.Value)
			if err == nil && p.progress.WriteStart.IsZero() {
				// CircleCI's stamp of the first write, so the read-back
				// compares CircleCI's times with each other.
				start := out.UpdatedAt
				if start.IsZero() {
					start = began.Add(-circleciClockSkew)
				}
				p.progress.WriteStart = start.UTC().Truncate(time.Second)
			}
			return err
		}, a.judge(ctx, p, "set "+v.name))
		if err != nil {
			return "", err
		}
	}
	var listed []clients.CircleCIContextEnvVar
	err := p.call(ctx, func(ctx context.Context) (err error) {
		listed, err = a.api.ContextEnvVars(ctx, contextID)
		return err
	}, a.judge(ctx, p, "list variables"))
	if err != nil {
		return "", err
	}
	since := p.progress.WriteStart
	for _, v := range vars {
		i := indexOf(listed, func(e clients.CircleCIContextEnvVar) bool { return e.Name == v.name })
		switch {
		case i < 0:
			return "", p.notConfirmed(v.name + " is not listed")
		case listed[i].UpdatedAt.Before(since):
			return "", p.notConfirmed(fmt.Sprintf("%s was updated at %s, before the write at %s",
				v.name, listed[i].UpdatedAt.UTC().Format(time.RFC3339), since.Format(time.RFC3339)))
		}
	}
	return confirmedCircleCIContext, nil
}

func indexOf[T any](s []T, match func(T) bool) int {
	for i, e := range s {
		if match(e) {
			return i
		}
	}
	return -1
}

// judge classifies a failed CircleCI call in the one vocabulary: refused
// credentials, a missing project or context and a refused request are
// final and name the target; a 429 waits as long as CircleCI's Retry-After
// says; 5xx, 408 and transport failures are retried.
func (a *CircleCI) judge(ctx context.Context, p *pushRun, op string) func(error) failure {
	return func(err error) failure {
		where := p.target + ": " + op
		var he *clients.HTTPError
		if !errors.As(err, &he) {
			return failure{err: transportFailure(ctx, where, err, p.redactor()), transient: ctx.Err() == nil}
		}
		msg := where + ": " + p.redactor().clean(he.Error())
		switch {
		case he.RateLimited():
			// Retry-After, which CircleCI sends with its 429s; without one,
			// the retry policy's backoff.
			wait := he.Wait(a.now())
			return failure{err: rateLimited(msg, wait, nil), wait: wait}
		case he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden:
			return failure{err: nonRetryable(TypeUnauthorized, msg+"; the token must be a personal API token of a user who may change "+circleciScope(p.req.Target)+"'s environment variables", nil)}
		case he.StatusCode == http.StatusNotFound:
			return failure{err: nonRetryable(TypeNotFound, msg+"; "+circleciScope(p.req.Target)+" does not exist, or the token's user cannot see it", nil)}
		case he.Permanent():
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		}
		return failure{err: errors.New(msg), transient: true}
	}
}

func circleciScope(t model.Target) string {
	if t.Kind == model.CircleCIContext {
		return "the context"
	}
	return "the project"
}

// transportFailure reports a call that got no answer (refused connection,
// timeout, a cancelled attempt): retryable. url.Error's text is dropped as
// it quotes the request's URL; its cause is kept for errors.Is.
func transportFailure(ctx context.Context, where string, err error, r *redactor) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s: %w", where, cleanedError{err: err, text: r.clean(err.Error())})
}

// cleanedError keeps an error's identity (errors.Is) with a redacted text.
type cleanedError struct {
	err  error
	text string
}

func (e cleanedError) Error() string { return e.text }
func (e cleanedError) Unwrap() error { return e.err }

// check lists the project's or context's variables: the token reaches it.
// Listing needs less than writing does, so a 403 on the first write is
// still possible; the detail says what writing needs.
func (a *CircleCI) check(ctx context.Context, t model.Target) TargetCheck {
	c := t.CircleCI
	switch {
	case c != nil && t.Kind == model.CircleCIProject && c.Project != "":
		if _, err := a.api.ProjectEnvVars(ctx, c.Project); err != nil {
			return TargetCheck{Detail: "cannot list the project's environment variables: " + restProblem(err) +
				"; the token must be a personal API token (not a project API token) of a user who may change the project's settings"}
		}
		return TargetCheck{OK: true, Detail: "listed the project's environment variables (writing them needs a user who may change the project's settings)"}
	case c != nil && t.Kind == model.CircleCIContext && c.Context != "":
		if _, err := a.api.ContextEnvVars(ctx, c.Context); err != nil {
			return TargetCheck{Detail: "cannot list the context's environment variables: " + restProblem(err) +
				"; the token must be a personal API token of an organization member who may edit the context (of one of its security groups, if it is restricted)"}
		}
		return TargetCheck{OK: true, Detail: "listed the context's environment variables (writing them needs an organization member who may edit the context: one of its security groups, if it is restricted)"}
	}
	return TargetCheck{Detail: "not a CircleCI project or context target"}
}

// restProblem says what a call of one of the clients over net/http got,
// without quoting a body or a URL.
func restProblem(err error) string {
	var he *clients.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("%d %s", he.StatusCode, http.StatusText(he.StatusCode))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), maxQuoted)
}

// confirmedCircleCIContext is how a context push is confirmed: CircleCI
// lists a context variable without its value, with its updated_at.
const confirmedCircleCIContext = ConfirmedMetadata + " (updated_at)"

// plan: two environment variables; a project's listing shows their masked
// ends, a context's only their dates.
func (a *CircleCI) plan(t model.Target, names model.SecretNames) TargetPlan {
	if t.Kind == model.CircleCIContext {
		return TargetPlan{Names: names, Where: "context environment variables", ConfirmedBy: confirmedCircleCIContext}
	}
	return TargetPlan{Names: names, Where: "project environment variables", ConfirmedBy: ConfirmedMasked}
}
