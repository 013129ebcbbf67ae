package preflight

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// OIDCHint says, for one target, how its pipelines could drop the
// long-lived key: the IAM OIDC identity provider to create, the role's
// trust policy (audience and subject scoped to the repository, project or
// workspace), and what the pipeline sets. A team migrates target by target
// and then removes the target from keyrotor.
type OIDCHint struct {
	Account string `json:"account"`
	User    string `json:"user"`
	Target  string `json:"target"`
	// Applicable is false for targets that are not pipelines (a Kubernetes
	// Secret, an AWS secret) or whose provider has no OIDC (Travis CI);
	// Note then says what to do instead.
	Applicable bool   `json:"applicable"`
	Note       string `json:"note,omitempty"`
	// Provider is the issuer URL of the IAM OIDC identity provider,
	// Audience the client ID it is registered with.
	Provider string `json:"provider,omitempty"`
	Audience string `json:"audience,omitempty"`
	// TrustPolicy is the IAM role's trust policy document.
	TrustPolicy json.RawMessage `json:"trustPolicy,omitempty"`
	// Pipeline is what the pipeline sets to assume the role.
	Pipeline []string `json:"pipeline,omitempty"`
	// Docs is the provider's guide.
	Docs string `json:"docs,omitempty"`
}

// Placeholders for what the configuration cannot know.
const (
	placeholderAccountID = "<ACCOUNT_ID>"
	placeholderRole      = "<ROLE_NAME>"
)

// OIDCHints returns a hint for every configured target, in file order.
func OIDCHints(cfg *config.Config) []OIDCHint {
	var out []OIDCHint
	for _, r := range cfg.Rotations {
		accountID := placeholderAccountID
		if a, ok := cfg.Account(r.Account); ok {
			if id := accountIDOf(a.RoleARN); id != "" {
				accountID = id
			}
		}
		for _, t := range r.Targets {
			h := oidcHint(cfg, t, accountID, r.SecretNames.AccessKeyID+" and "+r.SecretNames.SecretAccessKey)
			h.Account, h.User, h.Target = r.Account, r.User, t.String()
			out = append(out, h)
		}
	}
	return out
}

var roleARNAccount = regexp.MustCompile(`^arn:aws[\w-]*:iam::(\d{12}):role/`)

func accountIDOf(roleARN string) string {
	if m := roleARNAccount.FindStringSubmatch(roleARN); m != nil {
		return m[1]
	}
	return ""
}

func oidcHint(cfg *config.Config, t model.Target, accountID, names string) OIDCHint {
	roleARN := "arn:aws:iam::" + accountID + ":role/" + placeholderRole
	switch t.Kind.Provider() {
	case "github":
		host := "token.actions.githubusercontent.com"
		if cfg.GitHub != nil && !strings.HasPrefix(cfg.GitHub.BaseURL, config.DefaultGitHubBaseURL) {
			// GitHub Enterprise Server issues its own tokens.
			if u, err := url.Parse(cfg.GitHub.BaseURL); err == nil {
				host = u.Host + "/_services/token"
			}
		}
		var subs []string
		switch t.Kind {
		case model.GitHubRepository:
			subs = []string{"repo:" + t.Repository + ":*"}
		case model.GitHubEnvironment:
			subs = []string{"repo:" + t.Repository + ":environment:" + t.Environment}
		case model.GitHubOrganization:
			if t.Visibility == model.VisibilitySelected {
				for _, r := range t.Repositories {
					subs = append(subs, "repo:"+t.Organization+"/"+r+":*")
				}
			} else {
				subs = []string{"repo:" + t.Organization + "/*:*"}
			}
		}
		return OIDCHint{
			Applicable: true, Provider: "https://" + host, Audience: "sts.amazonaws.com",
			TrustPolicy: trustPolicy(accountID, host, "sts.amazonaws.com", subs),
			Pipeline: []string{
				"permissions: {id-token: write, contents: read}",
				"uses: aws-actions/configure-aws-credentials@v4 with role-to-assume: " + roleARN + " and aws-region",
				"then delete the " + t.String() + " secrets " + names,
			},
			Docs: "https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services",
		}
	case "gitlab":
		base := "https://gitlab.com"
		if cfg.GitLab != nil {
			if u, err := url.Parse(cfg.GitLab.BaseURL); err == nil && u.Host != "" {
				base = u.Scheme + "://" + u.Host
			}
		}
		host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
		sub := "project_path:" + t.Project + ":*"
		if t.Kind == model.GitLabGroup {
			sub = "project_path:" + t.Group + "/*"
		}
		return OIDCHint{
			Applicable: true, Provider: base, Audience: base,
			TrustPolicy: trustPolicy(accountID, host, base, []string{sub}),
			Pipeline: []string{
				"id_tokens: {AWS_ID_TOKEN: {aud: " + base + "}}",
				"variables: AWS_ROLE_ARN=" + roleARN + ", AWS_WEB_IDENTITY_TOKEN_FILE=<a file holding $AWS_ID_TOKEN>",
				"then delete the " + t.String() + " variables " + names,
			},
			Docs: "https://docs.gitlab.com/ci/cloud_services/aws/",
		}
	case "terraform":
		host := "app.terraform.io"
		if c := cfg.Connection("terraform"); c != nil {
			if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
				host = u.Host
			}
		}
		tt := t.Terraform
		sub := "organization:" + tt.Organization + ":project:*:workspace:" + tt.Workspace + ":run_phase:*"
		if t.Kind == model.TerraformVarSet {
			sub = "organization:" + tt.Organization + ":project:*:workspace:*:run_phase:*"
		}
		return OIDCHint{
			Applicable: true, Provider: "https://" + host, Audience: "aws.workload.identity",
			TrustPolicy: trustPolicy(accountID, host, "aws.workload.identity", []string{sub}),
			Pipeline: []string{
				"environment variables: TFC_AWS_PROVIDER_AUTH=true, TFC_AWS_RUN_ROLE_ARN=" + roleARN,
				"then delete the " + t.String() + " variables " + names,
			},
			Docs: "https://developer.hashicorp.com/terraform/cloud-docs/workspaces/dynamic-provider-credentials/aws-configuration",
		}
	case "circleci":
		host := "oidc.circleci.com/org/<ORG_ID>"
		sub := "org/<ORG_ID>/project/<PROJECT_ID>/user/*"
		if t.Kind == model.CircleCIContext {
			sub = "org/<ORG_ID>/project/*/user/*"
		}
		return OIDCHint{
			Applicable: true, Provider: "https://" + host, Audience: "<ORG_ID>",
			TrustPolicy: trustPolicy(accountID, host, "<ORG_ID>", []string{sub}),
			Pipeline: []string{
				"aws sts assume-role-with-web-identity --role-arn " + roleARN + " --web-identity-token $CIRCLE_OIDC_TOKEN_V2 (or the aws-cli orb's role_arn)",
				"then delete the " + t.String() + " variables " + names,
			},
			Docs: "https://circleci.com/docs/openid-connect-tokens/",
		}
	case "bitbucket":
		ws := t.Bitbucket.Workspace
		host := "api.bitbucket.org/2.0/workspaces/" + ws + "/pipelines-config/identity/oidc"
		aud := "ari:cloud:bitbucket::workspace/<WORKSPACE_UUID>"
		sub := "{<REPOSITORY_UUID>}:*"
		if t.Kind == model.BitbucketDeployment {
			sub = "{<REPOSITORY_UUID>}:{<ENVIRONMENT_UUID>}:*"
		}
		return OIDCHint{
			Applicable: true, Provider: "https://" + host, Audience: aud,
			TrustPolicy: trustPolicy(accountID, host, aud, []string{sub}),
			Pipeline: []string{
				"step: oidc: true",
				"script: export AWS_ROLE_ARN=" + roleARN + " AWS_WEB_IDENTITY_TOKEN_FILE=$(pwd)/web-identity-token; echo $BITBUCKET_STEP_OIDC_TOKEN > $(pwd)/web-identity-token",
				"then delete the " + t.String() + " variables " + names,
			},
			Docs: "https://support.atlassian.com/bitbucket-cloud/docs/deploy-on-aws-using-bitbucket-pipelines-openid-connect/",
		}
	case "travis":
		return OIDCHint{Note: "Travis CI issues no OIDC tokens: keep rotating this key, or move the pipeline to a CI system that does"}
	case "kubernetes":
		return OIDCHint{Note: "pods on EKS can use IAM roles for service accounts (IRSA) or EKS Pod Identity instead of a key in a Secret; a cluster outside AWS can use IAM Roles Anywhere. Keep rotating until then",
			Docs: "https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html"}
	}
	return OIDCHint{Note: "not a pipeline: whatever reads this " + string(t.Kind) + " target could use an IAM role of its own instead of the key"}
}

// trustPolicy is the role's trust policy for tokens from the provider at
// host, with the audience and subjects (StringLike, so * works).
func trustPolicy(accountID, host, audience string, subjects []string) json.RawMessage {
	var sub any = subjects[0]
	if len(subjects) > 1 {
		sub = subjects
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Federated": "arn:aws:iam::" + accountID + ":oidc-provider/" + host},
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Condition": map[string]any{
				"StringEquals": map[string]string{host + ":aud": audience},
				"StringLike":   map[string]any{host + ":sub": sub},
			},
		}},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}
