package config

import (
	"regexp"

	"github.com/keyrotor/keyrotor/internal/model"
)

// bitbucketTargetKind is the bitbucket target: a repository's Pipelines
// variables, or with deployment those of one of its deployment
// environments, by name. It needs the top-level bitbucket section.
var bitbucketTargetKind = targetKind{
	key:        "bitbucket",
	fields:     []string{"workspace", "repository", "deployment"},
	read:       (*loader).bitbucketTarget,
	configured: connectionConfigured("bitbucket"),
}

var (
	// bbWorkspaceRE is a workspace ID (its slug: letters, digits, - and _)
	// or its UUID in braces.
	bbWorkspaceRE = regexp.MustCompile(`^(?:[A-Za-z0-9_-]{1,62}|\{[0-9A-Fa-f-]{36}\})$`)
	// bbRepoSlugRE is a repository slug: letters, digits, -, _ and ., not
	// "." or "..".
	bbRepoSlugRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,62}$`)
)

func (l *loader) bitbucketTarget(fs fields, path string) model.Target {
	t := model.BitbucketTarget{Workspace: l.str(fs, "workspace"), Repository: l.str(fs, "repository")}
	l.required(fs, "workspace", t.Workspace, bbWorkspaceRE, "not a Bitbucket workspace ID (letters, digits, - and _) or {UUID}")
	if l.required(fs, "repository", t.Repository, bbRepoSlugRE, "not a repository slug (letters, digits, -, _ and .)") && isDotSegment(t.Repository) {
		l.errf(fs.get("repository").valPos(), join(path, "repository"), "%q is not a repository slug", t.Repository)
	}
	kind := model.BitbucketRepository
	if fs.present("deployment") {
		kind = model.BitbucketDeployment
		t.Deployment = l.nonEmpty(fs, "deployment", " (a deployment environment's name; leave it out for the repository's variables)")
	}
	return model.Target{Kind: kind, Bitbucket: &t}
}
