package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// circleciTargetKind is the circleci target: a project's or a context's
// environment variables, reached with the top-level circleci section.
var circleciTargetKind = targetKind{
	key:              "circleci",
	fields:           []string{"project", "context"},
	read:             (*loader).circleciTarget,
	configured:       connectionConfigured("circleci"),
	refuseSecretName: circleciRefuseSecretName,
}

// circleciMaxNameLen is the longest environment variable name CircleCI
// accepts.
const circleciMaxNameLen = 300

func circleciRefuseSecretName(s string) string {
	if len(s) > circleciMaxNameLen {
		return fmt.Sprintf("is %d characters long: CircleCI refuses variable names longer than %d", len(s), circleciMaxNameLen)
	}
	return ""
}

var (
	// circleciSlugRE is a project slug: vcs/org/repo, the VCS being gh or
	// bb (or github, bitbucket), or circleci for projects of GitHub App and
	// GitLab organizations (circleci/<org-id>/<project-id>).
	circleciSlugRE = regexp.MustCompile(`^(?:gh|github|bb|bitbucket|circleci)/[\w.-]+/[\w.-]+$`)
	// circleciContextIDRE is a context ID: a UUID.
	circleciContextIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// circleciTarget reads a circleci target: a project (by slug) or a
// context (by ID: names are not unique across organizations).
func (l *loader) circleciTarget(fs fields, path string) model.Target {
	t := model.CircleCITarget{}
	kind := model.CircleCIProject
	switch l.oneOf(fs, path, "project", "context", "needs project (a project slug such as gh/acme/api) or context (a context ID)") {
	case "project":
		t.Project = l.str(fs, "project")
		if !circleciSlugRE.MatchString(t.Project) || slices.ContainsFunc(strings.Split(t.Project, "/"), isDotSegment) {
			l.errf(fs.get("project").valPos(), join(path, "project"),
				"%q is not a project slug (gh/org/repo, bb/org/repo, or circleci/<org-id>/<project-id>)", t.Project)
		}
	case "context":
		kind = model.CircleCIContext
		t.Context = l.str(fs, "context")
		if !circleciContextIDRE.MatchString(t.Context) {
			l.errf(fs.get("context").valPos(), join(path, "context"),
				"%q is not a context ID (a UUID, shown on the context's page in the organization settings)", t.Context)
		}
	}
	return model.Target{Kind: kind, CircleCI: &t}
}
