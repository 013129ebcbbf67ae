package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// travisTargetKind is the travis target: a repository's environment
// variables, reached with the top-level travis section.
var travisTargetKind = targetKind{
	key:        "travis",
	fields:     []string{"repository"},
	read:       (*loader).travisTarget,
	configured: connectionConfigured("travis"),
}

// travisRepoRE is a repository slug, owner/name.
var travisRepoRE = regexp.MustCompile(`^[\w.-]+/[\w.-]+$`)

// travisTarget reads a travis target: a repository by its slug.
func (l *loader) travisTarget(fs fields, path string) model.Target {
	t := model.TravisTarget{Repository: l.str(fs, "repository")}
	if l.required(fs, "repository", t.Repository, travisRepoRE, "not a repository slug (owner/name)") &&
		slices.ContainsFunc(strings.Split(t.Repository, "/"), isDotSegment) {
		l.errf(fs.get("repository").valPos(), join(path, "repository"), "%q is not a repository slug (owner/name)", t.Repository)
	}
	return model.Target{Kind: model.TravisRepository, Travis: &t}
}
