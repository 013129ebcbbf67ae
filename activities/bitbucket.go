package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// BitbucketAPI is the part of *clients.BitbucketClient the Bitbucket kinds
// use: Pipelines repository and deployment variables, and the deployment
// environments.
type BitbucketAPI interface {
	RepositoryVariables(ctx context.Context, workspace, repoSlug string) ([]clients.BitbucketVariable, error)
	CreateRepositoryVariable(ctx context.Context, workspace, repoSlug, key string, value model.Secret, secured bool) (clients.BitbucketVariable, error)
	UpdateRepositoryVariable(ctx context.Context, workspace, repoSlug, variableUUID, key string, value model.Secret, secured bool) (clients.BitbucketVariable, error)
	DeploymentVariables(ctx context.Context, workspace, repoSlug, environmentUUID string) ([]clients.BitbucketVariable, error)
	CreateDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, key string, value model.Secret, secured bool) (clients.BitbucketVariable, error)
	UpdateDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, variableUUID, key string, value model.Secret, secured bool) (clients.BitbucketVariable, error)
	EnvironmentByName(ctx context.Context, workspace, repoSlug, name string) (clients.BitbucketEnvironment, bool, error)
}

// Bitbucket pushes the key into Bitbucket Pipelines variables: a
// repository's, or a deployment environment's. Both variables are written
// secured, and Bitbucket never shows a secured value again, so a write is
// confirmed by the variables' UUIDs and one listing by key.
type Bitbucket struct {
	kindBase
	api BitbucketAPI
}

// NewBitbucket returns the bitbucket-repository and bitbucket-deployment
// kinds over api (see clients.NewBitbucketClient).
func NewBitbucket(api BitbucketAPI, s Sealer, rs Rotations, opts ...Option) *Bitbucket {
	return &Bitbucket{kindBase: newKindBase("bitbucket", rs, s, opts), api: api}
}

var _ TargetKind = (*Bitbucket)(nil)

func (a *Bitbucket) kinds() []model.TargetKind {
	return []model.TargetKind{model.BitbucketRepository, model.BitbucketDeployment}
}

// ConfirmedBitbucket is how a Bitbucket push is confirmed: the listing
// shows both keys, secured, with the UUIDs the writes answered.
const ConfirmedBitbucket = ConfirmedMetadata + " (uuid, listed by key)"

// bitbucketRateLimitWait is the wait after a 429 that names none. Bitbucket
// sends no Retry-After: its limit (1,000 requests an hour per access token
// on /2.0/repositories/*, scaled up to 10,000 on large workspaces) is a
// rolling hour that frees the requests of an hour ago minute by minute. A
// minute lets some of the quota come back without hammering an exhausted
// one, and fits the in-place wait (callPolicy.maxWait), so one 429 does not
// cost a whole activity retry.
const bitbucketRateLimitWait = time.Minute

// bitbucketMaxTurns bounds the turns of one variable's write: each turn
// after the first follows an answer that the variable changed meanwhile
// (deleted: 404 on update; created: 409 on create).
const bitbucketMaxTurns = 3

// bitbucketVars is one target's variables: a repository's or an
// environment's, bound to it.
type bitbucketVars struct {
	list   func(ctx context.Context) ([]clients.BitbucketVariable, error)
	create func(ctx context.Context, key string, value model.Secret) (clients.BitbucketVariable, error)
	update func(ctx context.Context, uuid, key string, value model.Secret) (clients.BitbucketVariable, error)
}

// bitbucketValue is one variable to write.
type bitbucketValue struct {
	name  string
	Value model.Secret // exported: %+v of the struct prints it redacted
}

// Sentinels a write's judge returns for answers the write handles itself.
var (
	errBitbucketGone  = errors.New("bitbucket: the variable is gone")
	errBitbucketTaken = errors.New("bitbucket: the key is taken")
)

// push writes both variables, secured, then lists them once to confirm.
//
// Calls, when both variables exist (every rotation after the first): one
// listing for their UUIDs, one update (PUT) per variable, one listing to
// confirm: 4 for a repository; a deployment adds the environment's lookup
// by name: 5. A missing variable is created (POST) instead of updated,
// at the same count. A listing of more than 100 variables takes a call per
// page of 100. A retried attempt resumes from its PushProgress: it does
// not look the environment up again, writes only what is not written yet,
// by the UUIDs already known, and lists only to confirm (as few as 1 call).
func (a *Bitbucket) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		n := withDefaultNames(p.req.SecretNames)
		if n.AccessKeyID == n.SecretAccessKey {
			return "", nonRetryable(TypeValidation, p.target+": the key ID and the secret need different variable names", nil)
		}
		if p.req.Key.ID == "" || p.req.Key.Secret.Reveal() == "" {
			return "", nonRetryable(TypeValidation, p.target+": the access key to push is empty", nil)
		}
		judge := a.judge(p)
		vars, err := a.vars(ctx, p, judge)
		if err != nil {
			return "", err
		}
		values := []bitbucketValue{{n.AccessKeyID, model.Secret(p.req.Key.ID)}, {n.SecretAccessKey, p.req.Key.Secret}}
		listed := false
		for _, v := range values {
			if p.progress.wrote(v.name) {
				continue
			}
			if p.progress.VariableUUIDs[v.name] == "" && !listed {
				// One listing finds the UUIDs of both.
				if _, err := a.list(p.pair.ctx, p, vars, judge); err != nil {
					return "", err
				}
				listed = true
			}
			if err := a.write(p, vars, v, judge); err != nil {
				return "", err
			}
		}
		// Confirm only after both writes, so the listing shows the pair.
		got, err := a.list(ctx, p, vars, judge)
		if err != nil {
			return "", err
		}
		for _, v := range values {
			g, ok := got[v.name]
			switch {
			case !ok:
				return "", p.notConfirmed("variable " + v.name + " is not listed")
			case !g.Secured:
				return "", p.notConfirmed("variable " + v.name + " is listed unsecured")
			case g.UUID != p.progress.VariableUUIDs[v.name]:
				return "", p.notConfirmed("variable " + v.name + " is listed with another UUID than the one written (replaced meanwhile)")
			}
		}
		p.progress.Step = "confirmed"
		return ConfirmedBitbucket, nil
	})
}

// vars binds the target's variables: the repository's, or (after finding
// its UUID, once per key) the deployment environment's.
func (a *Bitbucket) vars(ctx context.Context, p *pushRun, judge func(error) failure) (bitbucketVars, error) {
	t := p.req.Target.Bitbucket
	if t == nil {
		return bitbucketVars{}, nonRetryable(TypeValidation, p.target+": not a Bitbucket target", nil)
	}
	ws, repo := t.Workspace, t.Repository
	switch p.req.Target.Kind {
	case model.BitbucketRepository:
		return bitbucketVars{
			list: func(ctx context.Context) ([]clients.BitbucketVariable, error) {
				return a.api.RepositoryVariables(ctx, ws, repo)
			},
			create: func(ctx context.Context, key string, value model.Secret) (clients.BitbucketVariable, error) {
				return a.api.CreateRepositoryVariable(ctx, ws, repo, key, value, true)
			},
			update: func(ctx context.Context, uuid, key string, value model.Secret) (clients.BitbucketVariable, error) {
				return a.api.UpdateRepositoryVariable(ctx, ws, repo, uuid, key, value, true)
			},
		}, nil
	case model.BitbucketDeployment:
		env := p.progress.EnvironmentUUID
		if env == "" {
			var e clients.BitbucketEnvironment
			var found bool
			if err := p.call(ctx, func(ctx context.Context) (err error) {
				e, found, err = a.api.EnvironmentByName(ctx, ws, repo, t.Deployment)
				return err
			}, judge); err != nil {
				return bitbucketVars{}, err
			}
			if !found || e.UUID == "" {
				return bitbucketVars{}, nonRetryable(TypeNotFound, fmt.Sprintf(
					"%s: repository %s/%s has no deployment environment named %q; create it (Repository settings, Deployments), or fix the target", p.target, ws, repo, t.Deployment), nil)
			}
			env = e.UUID
			p.progress.EnvironmentUUID = env
			p.progress.Step = "found environment " + env
			p.calls.heartbeat(ctx)
		}
		return bitbucketVars{
			list: func(ctx context.Context) ([]clients.BitbucketVariable, error) {
				return a.api.DeploymentVariables(ctx, ws, repo, env)
			},
			create: func(ctx context.Context, key string, value model.Secret) (clients.BitbucketVariable, error) {
				return a.api.CreateDeploymentVariable(ctx, ws, repo, env, key, value, true)
			},
			update: func(ctx context.Context, uuid, key string, value model.Secret) (clients.BitbucketVariable, error) {
				return a.api.UpdateDeploymentVariable(ctx, ws, repo, env, uuid, key, value, true)
			},
		}, nil
	}
	return bitbucketVars{}, nonRetryable(TypeValidation, p.target+": not a Bitbucket target", nil)
}

// list lists the target's variables (one call per page of 100), records
// the UUIDs of the pair's names and returns the variables by key.
func (a *Bitbucket) list(ctx context.Context, p *pushRun, vars bitbucketVars, judge func(error) failure) (map[string]clients.BitbucketVariable, error) {
	var all []clients.BitbucketVariable
	if err := p.call(ctx, func(ctx context.Context) (err error) { all, err = vars.list(ctx); return err }, judge); err != nil {
		return nil, err
	}
	n := withDefaultNames(p.req.SecretNames)
	byKey := make(map[string]clients.BitbucketVariable, len(all))
	for _, v := range all {
		byKey[v.Key] = v
	}
	for _, name := range []string{n.AccessKeyID, n.SecretAccessKey} {
		if !p.progress.wrote(name) {
			p.progress.setVariableUUID(name, byKey[name].UUID)
		}
	}
	return byKey, nil
}

// write writes one variable: an update (PUT) by its UUID when it has one,
// else a create (POST). An update answered 404 (the variable was deleted
// meanwhile) creates; a create answered 409 (it was created meanwhile, or
// an earlier create whose answer was lost made it) lists and updates.
func (a *Bitbucket) write(p *pushRun, vars bitbucketVars, v bitbucketValue, judge func(error) failure) error {
	for range bitbucketMaxTurns {
		uuid := p.progress.VariableUUIDs[v.name]
		if uuid != "" {
			err := p.write(v.name, func(ctx context.Context) error {
				got, err := vars.update(ctx, uuid, v.name, v.Value)
				if err == nil {
					p.progress.setVariableUUID(v.name, got.UUID)
				}
				return err
			}, bitbucketJudgeStatus(judge, http.StatusNotFound, errBitbucketGone))
			if !errors.Is(err, errBitbucketGone) {
				return err
			}
			p.progress.setVariableUUID(v.name, "")
			continue
		}
		err := p.write(v.name, func(ctx context.Context) error {
			got, err := vars.create(ctx, v.name, v.Value)
			if err == nil {
				p.progress.setVariableUUID(v.name, got.UUID)
			}
			return err
		}, bitbucketJudgeStatus(judge, http.StatusConflict, errBitbucketTaken))
		if !errors.Is(err, errBitbucketTaken) {
			return err
		}
		if _, err := a.list(p.pair.ctx, p, vars, judge); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: variable %s keeps being deleted and created while being written; retrying", p.target, v.name)
}

// setVariableUUID records (or, with "", forgets) the UUID of the variable name.
func (p *PushProgress) setVariableUUID(name, uuid string) {
	if uuid == "" {
		delete(p.VariableUUIDs, name)
		return
	}
	if p.VariableUUIDs == nil {
		p.VariableUUIDs = map[string]string{}
	}
	p.VariableUUIDs[name] = uuid
}

// bitbucketJudgeStatus turns an answer with status into sentinel, for the
// write to handle; everything else is judge's.
func bitbucketJudgeStatus(judge func(error) failure, status int, sentinel error) func(error) failure {
	return func(err error) failure {
		var he *clients.HTTPError
		if errors.As(err, &he) && he.StatusCode == status {
			return failure{err: sentinel}
		}
		return judge(err)
	}
}

// judge classifies a Bitbucket error in the one vocabulary. The message
// names the target and quotes the client's error (method, path, status
// and Bitbucket's message, never a body), redacted again.
func (a *Bitbucket) judge(p *pushRun) func(error) failure {
	return func(err error) failure {
		msg := p.target + ": " + p.redactor().clean(err.Error())
		var he *clients.HTTPError
		if !errors.As(err, &he) {
			// No answer (a reset, a timeout, a cancel): call again.
			return failure{err: fmt.Errorf("%s", msg), transient: true}
		}
		switch s := he.StatusCode; {
		case he.RateLimited():
			wait := he.Wait(a.now())
			if wait == 0 {
				wait = bitbucketRateLimitWait
				msg += fmt.Sprintf(" (no wait given: waiting %s of Bitbucket's rolling hour)", wait)
			}
			return failure{err: rateLimited(msg, wait, nil), wait: wait}
		case s == http.StatusUnauthorized:
			return failure{err: nonRetryable(TypeUnauthorized, msg+" (the access token is invalid, expired or revoked)", nil)}
		case s == http.StatusForbidden:
			return failure{err: nonRetryable(TypeUnauthorized, msg+" (the access token needs the pipeline:variable scope on the repository)", nil)}
		case s == http.StatusNotFound:
			return failure{err: nonRetryable(TypeNotFound, msg+" (the repository or environment does not exist, or the token cannot see it)", nil)}
		case s == http.StatusConflict:
			// A concurrent change: the next attempt lists again.
			return failure{err: fmt.Errorf("%s (changed meanwhile; retrying)", msg)}
		case he.Temporary():
			return failure{err: fmt.Errorf("%s", msg), transient: true}
		default: // 400, 422 and any other refusal
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		}
	}
}

// check lists the target's variables, which needs the pipeline:variable
// scope, as writing does; for a deployment it first finds the environment
// by name. 1 call for a repository, 2 for a deployment.
func (a *Bitbucket) check(ctx context.Context, t model.Target) TargetCheck {
	b := t.Bitbucket
	if b == nil {
		return TargetCheck{Detail: "not a Bitbucket target"}
	}
	const need = "; the access token needs the pipeline:variable scope on the repository"
	switch t.Kind {
	case model.BitbucketRepository:
		if _, err := a.api.RepositoryVariables(ctx, b.Workspace, b.Repository); err != nil {
			return TargetCheck{Detail: "cannot list the repository's Pipelines variables: " + bitbucketProblem(err) + need}
		}
		return TargetCheck{OK: true, Detail: "listed the repository's Pipelines variables"}
	case model.BitbucketDeployment:
		env, found, err := a.api.EnvironmentByName(ctx, b.Workspace, b.Repository, b.Deployment)
		if err != nil {
			return TargetCheck{Detail: "cannot list the repository's deployment environments: " + bitbucketProblem(err) + need}
		}
		if !found {
			return TargetCheck{Detail: fmt.Sprintf("the repository has no deployment environment named %q", b.Deployment)}
		}
		if _, err := a.api.DeploymentVariables(ctx, b.Workspace, b.Repository, env.UUID); err != nil {
			return TargetCheck{Detail: "cannot list the environment's deployment variables: " + bitbucketProblem(err) + need}
		}
		return TargetCheck{OK: true, Detail: "listed the deployment environment's variables"}
	}
	return TargetCheck{Detail: "not a Bitbucket target"}
}

// bitbucketProblem says what a call's answer was, without quoting a body.
func bitbucketProblem(err error) string {
	var he *clients.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("%d %s", he.StatusCode, http.StatusText(he.StatusCode))
	}
	return truncate(err.Error(), maxQuoted)
}

// plan: two secured Pipelines variables.
func (a *Bitbucket) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: names, Where: "repository Pipelines variables", Detail: "secured", ConfirmedBy: ConfirmedBitbucket}
	if t.Kind == model.BitbucketDeployment {
		p.Where = "deployment environment Pipelines variables"
	}
	return p
}
