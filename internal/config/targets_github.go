package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// githubTargetKind is the github target: a repository's, an environment's
// or an organization's Actions secrets.
var githubTargetKind = targetKind{
	key:              "github",
	fields:           []string{"repository", "environment", "organization", "visibility", "repositories"},
	read:             (*loader).githubTarget,
	configured:       func(c *Config) bool { return c.GitHub != nil },
	refuseSecretName: githubRefuseSecretName,
}

func githubRefuseSecretName(s string) string {
	if strings.HasPrefix(strings.ToUpper(s), "GITHUB_") {
		return fmt.Sprintf("%q: GitHub refuses secret names starting with GITHUB_", s)
	}
	return ""
}

var (
	ghOwnerRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	ghRepoRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// githubTarget reads a github target: a repository (with an environment or
// not) or an organization, never both.
func (l *loader) githubTarget(fs fields, path string) model.Target {
	switch l.oneOf(fs, path, "repository", "organization", "needs repository (owner/name) or organization") {
	case "repository":
		return l.githubRepository(fs, path)
	case "organization":
		return l.githubOrganization(fs, path)
	}
	return model.Target{}
}

// githubRepository reads a repository target, an environment target when
// environment is written. The organization fields do not apply.
func (l *loader) githubRepository(fs fields, path string) model.Target {
	t := model.Target{Kind: model.GitHubRepository, Repository: l.str(fs, "repository")}
	if owner, name, ok := strings.Cut(t.Repository, "/"); !ok || !ghOwnerRE.MatchString(owner) || !ghRepoName(name) {
		l.errf(fs.get("repository").valPos(), join(path, "repository"), "%q is not a repository in owner/name form", t.Repository)
	}
	if fs.present("environment") {
		t.Kind, t.Environment = model.GitHubEnvironment, l.githubEnvironment(fs, path)
	}
	for _, k := range []string{"visibility", "repositories"} {
		if fs.present(k) {
			l.errf(fs.keyPos(k), join(path, k), "only applies to organization secrets")
		}
	}
	return t
}

// githubEnvironment reads the environment of a repository target: not
// empty, and not a name that would climb out of the environments' API path.
func (l *loader) githubEnvironment(fs fields, path string) string {
	env := l.nonEmpty(fs, "environment", "")
	if isDotSegment(env) {
		l.errf(fs.get("environment").valPos(), join(path, "environment"), "%q is not an environment name: it would name another path of the API", env)
	}
	return env
}

// githubOrganization reads an organization target: the organization, the
// secret's visibility (private when left out) and, with visibility
// selected, the repositories that see it. Environments do not apply.
func (l *loader) githubOrganization(fs fields, path string) model.Target {
	t := model.Target{Kind: model.GitHubOrganization, Organization: l.str(fs, "organization")}
	if !ghOwnerRE.MatchString(t.Organization) {
		l.errf(fs.get("organization").valPos(), join(path, "organization"), "%q is not a GitHub organization name", t.Organization)
	}
	if fs.present("environment") {
		l.errf(fs.keyPos("environment"), join(path, "environment"), "only applies to repository secrets (environments belong to a repository)")
	}
	t.Visibility = l.githubVisibility(fs, path)
	t.Repositories = l.githubSelectedRepositories(fs, path, t.Visibility)
	return t
}

// githubVisibility reads an organization secret's visibility: all, private
// (the default) or selected.
func (l *loader) githubVisibility(fs fields, path string) string {
	if !fs.has("visibility") {
		return model.VisibilityPrivate
	}
	v := l.str(fs, "visibility")
	switch v {
	case model.VisibilityAll, model.VisibilityPrivate, model.VisibilitySelected:
	default:
		l.errf(fs.get("visibility").valPos(), join(path, "visibility"), "%q must be all, private or selected", v)
	}
	return v
}

// githubSelectedRepositories reads the repositories an organization secret
// is selected for: names without the owner, none twice, at least one, and
// only with visibility selected, which needs them.
func (l *loader) githubSelectedRepositories(fs fields, path, visibility string) []string {
	rpath := join(path, "repositories")
	if !fs.present("repositories") {
		if visibility == model.VisibilitySelected {
			l.errf(fs.keyPos("visibility"), join(path, "visibility"), "selected needs repositories")
		}
		return nil
	}
	var repos []string
	seen := map[string]bool{}
	for i, n := range l.seq(fs, "repositories") {
		if n.kind != kScalar || n.typ == tBool {
			l.errf(n.pos, index(rpath, i), "must be a repository name, not %s", n.describe())
			continue
		}
		name := n.text
		switch {
		case !ghRepoName(name):
			l.errf(n.pos, index(rpath, i), "%q is not a repository name (give the name without the owner)", name)
		case seen[strings.ToLower(name)]:
			l.errf(n.pos, index(rpath, i), "repository %q is listed twice", name)
		default:
			seen[strings.ToLower(name)] = true
			repos = append(repos, name)
		}
	}
	if f := fs.get("repositories"); f == nil || f.val.kind == kSeq && len(f.val.items) == 0 {
		l.errf(fs.keyPos("repositories"), rpath, "must list at least one repository")
	} else if visibility != model.VisibilitySelected {
		l.errf(fs.keyPos("repositories"), rpath, "only applies with visibility: selected")
	}
	return repos
}

// ghRepoName reports whether name is a GitHub repository name. "." and ".."
// match the character rule but are reserved by GitHub, and in an API path
// they would climb to another resource.
func ghRepoName(name string) bool { return ghRepoRE.MatchString(name) && !isDotSegment(name) }
