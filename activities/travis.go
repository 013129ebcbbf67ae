package activities

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// TravisEnvVars is the part of Travis CI's API v3 the activity uses
// (*clients.TravisClient implements it).
type TravisEnvVars interface {
	EnvVars(ctx context.Context, repoSlug string) ([]clients.TravisEnvVar, error)
	CreateEnvVar(ctx context.Context, repoSlug, name string, value model.Secret, public bool) (clients.TravisEnvVar, error)
	UpdatePrivateEnvVar(ctx context.Context, repoSlug, id string, value model.Secret) (clients.TravisEnvVar, error)
}

// Travis writes the key into a Travis CI repository's environment
// variables, always private (Travis shows a public variable's value in
// build logs and settings). Travis never shows a private value again.
type Travis struct {
	kindBase
	api TravisEnvVars
}

// NewTravis returns the travis-repository kind.
func NewTravis(api TravisEnvVars, s Sealer, rs Rotations, opts ...Option) *Travis {
	return &Travis{kindBase: newKindBase("travis", rs, s, opts), api: api}
}

var _ TargetKind = (*Travis)(nil)

func (a *Travis) kinds() []model.TargetKind { return []model.TargetKind{model.TravisRepository} }

// travisDefaultWait is how long a 429 from Travis waits. Travis sends no
// Retry-After and no rate-limit headers: its API throttles with
// Rack::Attack (travis-api, lib/travis/api/attack.rb) over windows of one
// minute, whose header is off. A whole window is the shortest wait sure
// to reach the next one, wherever in the window the 429 came.
const travisDefaultWait = time.Minute

// push takes 4 calls: a listing to find the variables' IDs (Travis
// addresses a variable by ID, not by name), one write per variable (PATCH
// of the existing one with public false, or POST creating it private), and
// a listing to confirm both. A write an earlier attempt made for this key
// is not made again, nor is the first listing when both were made.
//
// Travis never shows a private value: the confirmation is both variables
// listed by name, for every branch, private, with the IDs the writes
// answered (ConfirmedMetadata).
func (a *Travis) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		t := p.req.Target.Travis
		if t == nil || t.Repository == "" {
			return "", nonRetryable(TypeValidation, p.target+": not a Travis CI repository target", nil)
		}
		repo := t.Repository
		vars, err := pairValues(p)
		if err != nil {
			return "", err
		}
		existing := map[string]clients.TravisEnvVar{}
		if !p.progress.wrote(vars[0].name) || !p.progress.wrote(vars[1].name) {
			var listed []clients.TravisEnvVar
			err := p.call(ctx, func(ctx context.Context) (err error) {
				listed, err = a.api.EnvVars(ctx, repo)
				return err
			}, a.judge(ctx, p, "list variables"))
			if err != nil {
				return "", err
			}
			existing = travisByName(listed)
		}
		written := map[string]string{} // name → ID, for the writes of this attempt
		for _, v := range vars {
			err := p.write(v.name, func(ctx context.Context) error {
				got, err := a.set(ctx, p, repo, v, existing)
				if err == nil {
					written[v.name] = got.ID
				}
				return err
			}, a.judge(ctx, p, "set "+v.name))
			if err != nil {
				return "", err
			}
		}
		var listed []clients.TravisEnvVar
		err = p.call(ctx, func(ctx context.Context) (err error) {
			listed, err = a.api.EnvVars(ctx, repo)
			return err
		}, a.judge(ctx, p, "list variables"))
		if err != nil {
			return "", err
		}
		found := travisByName(listed)
		for _, v := range vars {
			got, ok := found[v.name]
			switch {
			case !ok:
				return "", p.notConfirmed(v.name + " is not listed")
			case got.Public:
				return "", p.notConfirmed(v.name + " is listed as public")
			case written[v.name] != "" && got.ID != written[v.name]:
				return "", p.notConfirmed(v.name + " is listed with another ID than the one written")
			}
		}
		return confirmedTravis, nil
	})
}

// set writes one variable: an update (made private) of the one listed,
// else a create. An update finding the variable gone creates it; a create
// finding it taken (made meanwhile, or by an earlier create whose answer
// was lost) looks it up and updates it. Each extra request counts as a call.
func (a *Travis) set(ctx context.Context, p *pushRun, repo string, v pairValue, existing map[string]clients.TravisEnvVar) (clients.TravisEnvVar, error) {
	if cur, ok := existing[v.name]; ok {
		got, err := a.api.UpdatePrivateEnvVar(ctx, repo, cur.ID, v.Value)
		if travisStatus(err) != http.StatusNotFound {
			return got, err
		}
		delete(existing, v.name)
		p.calls.calls++
	}
	got, err := a.api.CreateEnvVar(ctx, repo, v.name, v.Value, false)
	if travisStatus(err) != http.StatusConflict {
		return got, err
	}
	p.calls.calls++
	listed, err := a.api.EnvVars(ctx, repo)
	if err != nil {
		return clients.TravisEnvVar{}, err
	}
	cur, ok := travisByName(listed)[v.name]
	if !ok {
		return clients.TravisEnvVar{}, errors.New("travis: " + v.name + " was taken, then not listed")
	}
	existing[v.name] = cur
	p.calls.calls++
	return a.api.UpdatePrivateEnvVar(ctx, repo, cur.ID, v.Value)
}

// travisByName indexes the variables that apply to every branch (the ones
// keyrotor writes) by name.
func travisByName(vs []clients.TravisEnvVar) map[string]clients.TravisEnvVar {
	out := map[string]clients.TravisEnvVar{}
	for _, v := range vs {
		if v.Branch == "" {
			out[v.Name] = v
		}
	}
	return out
}

func travisStatus(err error) int {
	var he *clients.HTTPError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// judge classifies a failed Travis call in the one vocabulary. Travis
// answers a missing or unknown token, and a token without access to the
// repository's settings, with 403 (it has no 401): final, as are a missing
// repository (404) and a refused request. A 429 waits (travisDefaultWait
// unless Travis ever says otherwise); 5xx, 408 and transport failures are
// retried.
func (a *Travis) judge(ctx context.Context, p *pushRun, op string) func(error) failure {
	return func(err error) failure {
		where := p.target + ": " + op
		var he *clients.HTTPError
		if !errors.As(err, &he) {
			return failure{err: transportFailure(ctx, where, err, p.redactor()), transient: ctx.Err() == nil}
		}
		msg := where + ": " + p.redactor().clean(he.Error())
		switch {
		case he.RateLimited():
			wait := he.Wait(a.now())
			if wait == 0 {
				wait = travisDefaultWait
			}
			return failure{err: rateLimited(msg, wait, nil), wait: wait}
		case he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden:
			return failure{err: nonRetryable(TypeUnauthorized, msg+"; the token's user needs write access to the repository's settings (admin or push permission)", nil)}
		case he.StatusCode == http.StatusNotFound:
			return failure{err: nonRetryable(TypeNotFound, msg+"; the repository does not exist on Travis CI, is not activated, or the token's user cannot see it", nil)}
		case he.Permanent():
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		}
		return failure{err: errors.New(msg), transient: true}
	}
}

// check lists the repository's variables: the token reaches its settings.
// Listing needs read access only, so a 403 on the first write is still
// possible; the detail says what writing needs.
func (a *Travis) check(ctx context.Context, t model.Target) TargetCheck {
	if t.Travis == nil || t.Travis.Repository == "" {
		return TargetCheck{Detail: "not a Travis CI repository target"}
	}
	if _, err := a.api.EnvVars(ctx, t.Travis.Repository); err != nil {
		return TargetCheck{Detail: "cannot list the repository's environment variables: " + restProblem(err) +
			"; the token's user needs write access to the repository's settings (admin or push permission), and the repository must be active on Travis CI"}
	}
	return TargetCheck{OK: true, Detail: "listed the repository's environment variables (writing them needs admin or push permission on the repository)"}
}

// confirmedTravis is how a Travis push is confirmed: both variables listed
// by name, private, with the IDs the writes answered.
const confirmedTravis = ConfirmedMetadata + " (listed by name)"

// plan: two private environment variables, for every branch.
func (a *Travis) plan(_ model.Target, names model.SecretNames) TargetPlan {
	return TargetPlan{Names: names, Where: "repository environment variables", Detail: "private, every branch", ConfirmedBy: confirmedTravis}
}
