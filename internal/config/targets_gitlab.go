package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// gitlabTargetKind is the gitlab target: a project's or a group's CI/CD
// variables.
var gitlabTargetKind = targetKind{
	key:              "gitlab",
	fields:           []string{"project", "group", "environmentScope", "protected", "masked"},
	read:             (*loader).gitlabTarget,
	configured:       func(c *Config) bool { return c.GitLab != nil },
	refuseSecretName: gitlabRefuseSecretName,
}

// gitlabMaxKeyLen is the longest CI/CD variable key GitLab accepts.
const gitlabMaxKeyLen = 255

func gitlabRefuseSecretName(s string) string {
	if len(s) > gitlabMaxKeyLen {
		return fmt.Sprintf("is %d characters long: GitLab refuses variable keys longer than %d", len(s), gitlabMaxKeyLen)
	}
	return ""
}

var glPathRE = regexp.MustCompile(`^(?:[0-9]+|[\w.-]+(?:/[\w.-]+)*)$`)

// glPath reports whether p is a GitLab project or group path (or numeric
// ID): segments of letters, digits, '_', '.' and '-', none "." or "..".
func glPath(p string) bool {
	return glPathRE.MatchString(p) && !slices.ContainsFunc(strings.Split(p, "/"), isDotSegment)
}

// gitlabTarget reads a gitlab target: a project or a group, with the
// variables' environment scope and flags.
func (l *loader) gitlabTarget(fs fields, path string) model.Target {
	var t model.Target
	switch l.oneOf(fs, path, "project", "group", "needs project or group") {
	case "project":
		t.Kind = model.GitLabProject
		t.Project = l.str(fs, "project")
		if !glPath(t.Project) || !strings.Contains(t.Project, "/") && strings.Trim(t.Project, "0123456789") != "" {
			l.errf(fs.get("project").valPos(), join(path, "project"), "%q is not a project path (group/name) or numeric ID", t.Project)
		}
	case "group":
		t.Kind = model.GitLabGroup
		t.Group = l.str(fs, "group")
		if !glPath(t.Group) {
			l.errf(fs.get("group").valPos(), join(path, "group"), "%q is not a group path or numeric ID", t.Group)
		}
	}
	t.EnvironmentScope = "*"
	if fs.present("environmentScope") {
		t.EnvironmentScope = l.nonEmpty(fs, "environmentScope", " (leave it out for *)")
	}
	t.Protected = l.boolean(fs, "protected", false)
	t.Masked = l.boolean(fs, "masked", false)
	return t
}
