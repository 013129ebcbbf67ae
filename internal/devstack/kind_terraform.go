package devstack

import (
	"strings"

	"github.com/keyrotor/keyrotor/internal/emulator/tfeemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The terraform-workspace and terraform-varset kinds: the HCP Terraform
// emulator, with the rotator's token, and the top-level terraform section.
func init() {
	registerKind(&kindHarness{
		provider: "terraform",
		demo: []model.Target{
			{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "api", Category: "env"}},
			{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "AWS keys", Category: "terraform"}},
		},
		start: func(e *Emulators) {
			token := model.Secret("atlasv1-" + randomHex(16))
			h := &TerraformHarness{Emulator: tfeemu.New(token.Reveal()), Token: token}
			h.URL = e.serve(h.Handler())
			e.kinds["terraform"] = h
		},
		seed: func(e *Emulators, t model.Target) {
			h := e.Terraform()
			if t.Kind == model.TerraformWorkspace {
				h.AddWorkspace(t.Terraform.Organization, t.Terraform.Workspace)
			} else {
				h.AddVariableSet(t.Terraform.Organization, t.Terraform.VariableSet)
			}
		},
		values: func(e *Emulators, t model.Target, names model.SecretNames) (string, string) {
			h := e.Terraform()
			owner := h.ownerID(t)
			category := t.Terraform.Category
			if category == "" {
				category = tfeemu.CategoryEnv
			}
			id, _ := h.Variable(owner, category, names.AccessKeyID)
			secret, _ := h.Variable(owner, category, names.SecretAccessKey)
			return id.Value, secret.Value
		},
		section: func(e *Emulators) string {
			return "terraform:\n  baseURL: " + e.Terraform().URL + "\n  token: ${KEYROTOR_TERRAFORM_TOKEN}\n"
		},
		env: func(e *Emulators) []string {
			return []string{"KEYROTOR_TERRAFORM_TOKEN=" + e.Terraform().Token.Reveal()}
		},
		yaml: func(t model.Target) string {
			tt := t.Terraform
			fields := []string{"organization: " + tt.Organization}
			if t.Kind == model.TerraformWorkspace {
				fields = append(fields, "workspace: "+tt.Workspace)
			} else {
				fields = append(fields, "variableSet: '"+strings.ReplaceAll(tt.VariableSet, "'", "''")+"'")
			}
			if tt.Category != "" && tt.Category != tfeemu.CategoryEnv {
				fields = append(fields, "category: "+tt.Category)
			}
			return "terraform: {" + strings.Join(fields, ", ") + "}"
		},
	})
}

// TerraformHarness is the HCP Terraform emulator behind its server, and
// the token the rotator uses.
type TerraformHarness struct {
	*tfeemu.Emulator
	URL   string
	Token model.Secret
}

// Terraform is the HCP Terraform emulator (with its URL and token).
func (e *Emulators) Terraform() *TerraformHarness {
	return e.kinds["terraform"].(*TerraformHarness)
}

// ownerID is the ID of the target's workspace or variable set, made if
// needed.
func (h *TerraformHarness) ownerID(t model.Target) string {
	if t.Kind == model.TerraformWorkspace {
		return h.AddWorkspace(t.Terraform.Organization, t.Terraform.Workspace)
	}
	return h.AddVariableSet(t.Terraform.Organization, t.Terraform.VariableSet)
}
