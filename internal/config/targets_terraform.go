package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// terraformTargetKind is the terraform target: an HCP Terraform (or
// Terraform Enterprise) workspace's variables or a variable set's, in the
// env category (the default) or the terraform one. The connection is the
// top-level terraform section {baseURL, token}.
var terraformTargetKind = targetKind{
	key:              "terraform",
	fields:           []string{"organization", "workspace", "variableSet", "category"},
	read:             (*loader).terraformTarget,
	configured:       connectionConfigured("terraform"),
	refuseSecretName: terraformRefuseSecretName,
}

// terraformMaxKeyLen is the longest variable key HCP Terraform accepts.
const terraformMaxKeyLen = 128

func terraformRefuseSecretName(s string) string {
	if len(s) > terraformMaxKeyLen {
		return fmt.Sprintf("is %d characters long: HCP Terraform refuses variable keys longer than %d", len(s), terraformMaxKeyLen)
	}
	return ""
}

var (
	// tfOrganizationRE is an organization name: letters, digits, - and _.
	tfOrganizationRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// tfWorkspaceRE is a workspace name: letters, digits, - and _, at most 90.
	tfWorkspaceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,90}$`)
)

// The categories of a terraform target's variables.
const (
	terraformCategoryEnv       = "env"
	terraformCategoryTerraform = "terraform"
)

// terraformTarget reads a terraform target: an organization, and in it a
// workspace or a variable set (found by name), never both.
func (l *loader) terraformTarget(fs fields, path string) model.Target {
	t := model.TerraformTarget{Organization: l.str(fs, "organization"), Category: terraformCategoryEnv}
	l.required(fs, "organization", t.Organization, tfOrganizationRE, "not an HCP Terraform organization name (letters, digits, - and _)")
	var kind model.TargetKind
	switch l.oneOf(fs, path, "workspace", "variableSet", "needs workspace or variableSet") {
	case "workspace":
		kind, t.Workspace = model.TerraformWorkspace, l.str(fs, "workspace")
		if !tfWorkspaceRE.MatchString(t.Workspace) {
			l.errf(fs.get("workspace").valPos(), join(path, "workspace"), "%q is not a workspace name (letters, digits, - and _, at most 90)", t.Workspace)
		}
	case "variableSet":
		kind, t.VariableSet = model.TerraformVarSet, l.nonEmpty(fs, "variableSet", "")
		if t.VariableSet != strings.TrimSpace(t.VariableSet) {
			l.errf(fs.get("variableSet").valPos(), join(path, "variableSet"), "%q: a variable set's name does not begin or end with spaces", t.VariableSet)
		}
	}
	if fs.present("category") {
		switch c := l.str(fs, "category"); c {
		case terraformCategoryEnv, terraformCategoryTerraform:
			t.Category = c
		default:
			l.errf(fs.get("category").valPos(), join(path, "category"), "%q must be env (environment variables, the default) or terraform (Terraform variables)", c)
		}
	}
	return model.Target{Kind: kind, Terraform: &t}
}
