package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keyrotor/keyrotor/internal/model"
)

// GitHub and GitLab as target kinds. Their push activities predate the
// TargetKind interface and keep their names, so that rotations recorded
// before it replay; new rotations reach them through Targets.PushToTarget.

var (
	_ TargetKind = (*GitHub)(nil)
	_ TargetKind = (*GitLab)(nil)
)

// kinds are GitHub's repository, environment and organization secrets.
func (a *GitHub) kinds() []model.TargetKind {
	return []model.TargetKind{model.GitHubRepository, model.GitHubEnvironment, model.GitHubOrganization}
}

// push writes and confirms a GitHub target (PushGitHubSecret).
func (a *GitHub) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.PushGitHubSecret(ctx, in)
}

// check reads the scope's Actions public key: a GET that needs the same
// access as writing secrets there (a fine-grained token's "Secrets" read
// permission at least; an App's "secrets" or "organization_secrets").
func (a *GitHub) check(ctx context.Context, t model.Target) TargetCheck {
	if c, ok := takeCheckTurn(ctx, a.opts); !ok {
		return c
	}
	var (
		pk    *github.PublicKey
		resp  *github.Response
		err   error
		scope string
	)
	switch t.Kind {
	case model.GitHubRepository, model.GitHubEnvironment:
		owner, name, serr := splitRepo(t.Repository)
		if serr != nil {
			return TargetCheck{Detail: serr.Error()}
		}
		if t.Kind == model.GitHubRepository {
			pk, resp, err = a.actions.GetRepoPublicKey(ctx, owner, name)
			scope = repoScope{owner: owner, repo: name}.id()
		} else {
			pk, resp, err = a.envs.GetEnvPublicKey(ctx, owner, name, t.Environment)
			scope = envScope{owner: owner, repo: name, env: t.Environment}.id()
		}
	case model.GitHubOrganization:
		pk, resp, err = a.actions.GetOrgPublicKey(ctx, t.Organization)
		scope = (&orgScope{org: t.Organization}).id()
	}
	if err != nil {
		return TargetCheck{Denied: githubDenied(resp, err), Detail: "cannot read the Actions secrets public key: " + httpProblem(resp, err) +
			"; the token needs write access to Actions secrets there (fine-grained: Secrets read and write; an App: secrets or organization_secrets)"}
	}
	// The push that follows seals with this key: it need not fetch it.
	if raw, derr := base64.StdEncoding.DecodeString(pk.GetKey()); derr == nil && len(raw) == 32 && a.cache != nil {
		k := scopeKey{id: pk.GetKeyID(), pub: new([32]byte)}
		copy(k.pub[:], raw)
		a.cache.setKey(scope, k)
	}
	return TargetCheck{OK: true, Detail: "read the Actions secrets public key"}
}

// githubDenied reports GitHub's final no (401, 404, or a 403 that is not a
// rate limit). go-github answers a request it holds back for a secondary
// limit itself, with a 403 that has no Retry-After: the error's type tells.
func githubDenied(resp *github.Response, err error) bool {
	var abuse *github.AbuseRateLimitError
	var primary *github.RateLimitError
	if errors.As(err, &abuse) || errors.As(err, &primary) {
		return false
	}
	code := responseStatus(resp)
	if code == http.StatusForbidden && (resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0") {
		return false
	}
	return deniedStatus(code)
}

// takeCheckTurn takes a preflight call's turn on the credential's quota,
// like a push's calls; a turn too far away leaves the target unchecked
// (not denied).
func takeCheckTurn(ctx context.Context, o options) (TargetCheck, bool) {
	if o.limiter == nil {
		return TargetCheck{}, true
	}
	if _, err := o.limiter.Acquire(ctx, 30*time.Second); err != nil {
		return TargetCheck{Detail: "not checked: " + err.Error()}, false
	}
	return TargetCheck{}, true
}

// kinds are GitLab's project and group CI/CD variables.
func (a *GitLab) kinds() []model.TargetKind {
	return []model.TargetKind{model.GitLabProject, model.GitLabGroup}
}

// push writes and confirms a GitLab target (PushGitLabVariable).
func (a *GitLab) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.PushGitLabVariable(ctx, in)
}

// check lists one CI/CD variable: listing needs the Maintainer role, as
// writing does.
func (a *GitLab) check(ctx context.Context, t model.Target) TargetCheck {
	if c, ok := takeCheckTurn(ctx, a.opts); !ok {
		return c
	}
	one := gitlab.ListOptions{PerPage: 1}
	var resp *gitlab.Response
	var err error
	switch t.Kind {
	case model.GitLabProject:
		_, resp, err = a.projects.ListVariables(t.Project, &gitlab.ListProjectVariablesOptions{ListOptions: one}, gitlab.WithContext(ctx))
	case model.GitLabGroup:
		_, resp, err = a.groups.ListVariables(t.Group, &gitlab.ListGroupVariablesOptions{ListOptions: one}, gitlab.WithContext(ctx))
	}
	if err != nil {
		var r *http.Response
		if resp != nil {
			r = resp.Response
		}
		return TargetCheck{Denied: r != nil && r.StatusCode != http.StatusTooManyRequests && deniedStatus(r.StatusCode), Detail: "cannot list the CI/CD variables: " + statusProblem(r, err) + "; the token needs the Maintainer role there (scope api)"}
	}
	return TargetCheck{OK: true, Detail: "listed the CI/CD variables"}
}

// httpProblem says what a go-github call's answer was, without quoting a
// body.
func httpProblem(resp *github.Response, err error) string {
	var r *http.Response
	if resp != nil {
		r = resp.Response
	}
	return statusProblem(r, err)
}

func statusProblem(r *http.Response, err error) string {
	if r != nil {
		return fmt.Sprintf("%d %s", r.StatusCode, http.StatusText(r.StatusCode))
	}
	// No answer: a transport error, which names the URL (no credential).
	return truncate(err.Error(), maxQuoted)
}

// confirmedGitHub is how a GitHub push is confirmed: GitHub never shows a
// secret's value, the listing shows each secret updated since the write.
const confirmedGitHub = ConfirmedMetadata + " (updated_at)"

// plan: two Actions secrets, their names upper-cased as GitHub stores them.
func (a *GitHub) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: githubNames(names), ConfirmedBy: confirmedGitHub}
	switch t.Kind {
	case model.GitHubRepository:
		p.Where = "repository Actions secrets"
	case model.GitHubEnvironment:
		p.Where = "environment Actions secrets"
	case model.GitHubOrganization:
		p.Where = "organization Actions secrets"
		vis := t.Visibility
		if vis == "" {
			vis = model.VisibilityPrivate
		}
		p.Detail = "visibility " + vis
		if vis == model.VisibilitySelected {
			p.Detail += ": shared with " + strings.Join(t.Repositories, ", ") + ", keeping those each secret is already shared with"
		}
	}
	return p
}

// plan: two CI/CD variables, read back.
func (a *GitLab) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: names, ConfirmedBy: ConfirmedReadBack}
	if t.Kind == model.GitLabGroup {
		p.Where = "group CI/CD variables"
	} else {
		p.Where = "project CI/CD variables"
	}
	scope := t.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	details := []string{"environment scope " + scope}
	if t.Protected {
		details = append(details, "protected")
	}
	if t.Masked {
		details = append(details, "masked")
	}
	p.Detail = strings.Join(details, ", ")
	return p
}
