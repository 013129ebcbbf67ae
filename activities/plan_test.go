package activities

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Every kind's plan: the names it would write, where, and how the write
// would be confirmed (the same words PushResult.ConfirmedBy uses).
func TestPlan(t *testing.T) {
	custom := model.SecretNames{AccessKeyID: "deploy_key_id", SecretAccessKey: "deploy_secret"}
	upper := model.SecretNames{AccessKeyID: "DEPLOY_KEY_ID", SecretAccessKey: "DEPLOY_SECRET"}
	tests := []struct {
		name   string
		target model.Target
		names  model.SecretNames
		want   TargetPlan
	}{
		{"github repository, names upper-cased",
			model.Target{Kind: model.GitHubRepository, Repository: "acme/api"}, custom,
			TargetPlan{Target: "github acme/api", Names: upper, Where: "repository Actions secrets", ConfirmedBy: ConfirmedMetadata + " (updated_at)"}},
		{"github environment, default names",
			model.Target{Kind: model.GitHubEnvironment, Repository: "acme/api", Environment: "production"}, model.SecretNames{},
			TargetPlan{Target: "github acme/api@production", Names: model.DefaultSecretNames, Where: "environment Actions secrets", ConfirmedBy: ConfirmedMetadata + " (updated_at)"}},
		{"github organization, selected",
			model.Target{Kind: model.GitHubOrganization, Organization: "acme", Visibility: model.VisibilitySelected, Repositories: []string{"api", "web"}}, custom,
			TargetPlan{Target: "github org acme", Names: upper, Where: "organization Actions secrets",
				Detail: "visibility selected: shared with api, web, keeping those each secret is already shared with", ConfirmedBy: ConfirmedMetadata + " (updated_at)"}},
		{"github organization, default visibility",
			model.Target{Kind: model.GitHubOrganization, Organization: "acme"}, custom,
			TargetPlan{Target: "github org acme", Names: upper, Where: "organization Actions secrets", Detail: "visibility private", ConfirmedBy: ConfirmedMetadata + " (updated_at)"}},
		{"gitlab project",
			model.Target{Kind: model.GitLabProject, Project: "acme/api", EnvironmentScope: "production", Protected: true, Masked: true}, custom,
			TargetPlan{Target: "gitlab acme/api@production", Names: custom, Where: "project CI/CD variables", Detail: "environment scope production, protected, masked", ConfirmedBy: ConfirmedReadBack}},
		{"gitlab group",
			model.Target{Kind: model.GitLabGroup, Group: "acme"}, custom,
			TargetPlan{Target: "gitlab group acme", Names: custom, Where: "group CI/CD variables", Detail: "environment scope *", ConfirmedBy: ConfirmedReadBack}},
		{"secrets manager: JSON fields",
			model.Target{Kind: model.AWSSecretsManager, AWSSecret: &model.AWSSecretTarget{Account: "prod", SecretID: "ci/key"}}, custom,
			TargetPlan{Target: "aws-secretsmanager prod:ci/key", Names: custom, Where: "JSON fields of the secret's value (a new AWSCURRENT version)", ConfirmedBy: ConfirmedReadBack}},
		{"ssm parameter with a KMS key",
			model.Target{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: "prod", Parameter: "/ci/key", KMSKeyID: "alias/ci"}}, custom,
			TargetPlan{Target: "aws-ssm prod:/ci/key", Names: custom, Where: "JSON fields of the SecureString parameter's value", Detail: "encrypted with KMS key alias/ci", ConfirmedBy: ConfirmedReadBack}},
		{"ssm parameter, default key",
			model.Target{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: "prod", Parameter: "/ci/key"}}, model.SecretNames{},
			TargetPlan{Target: "aws-ssm prod:/ci/key", Names: model.DefaultSecretNames, Where: "JSON fields of the SecureString parameter's value", Detail: "encrypted with alias/aws/ssm", ConfirmedBy: ConfirmedReadBack}},
		{"kubernetes with restarts",
			model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{Context: "prod", Namespace: "ci", Secret: "aws", Restart: []string{"deployment/api", "statefulset/db"}}}, custom,
			TargetPlan{Target: "kubernetes prod/ci/aws", Names: custom, Where: "data keys of the Secret", Restarts: []string{"deployment/api", "statefulset/db"},
				ConfirmedBy: ConfirmedReadBack + " and rolled out deployment/api, statefulset/db"}},
		{"kubernetes without restarts",
			model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{InCluster: true, Namespace: "ci", Secret: "aws"}}, custom,
			TargetPlan{Target: "kubernetes in-cluster/ci/aws", Names: custom, Where: "data keys of the Secret", ConfirmedBy: ConfirmedReadBack}},
		{"terraform workspace",
			model.Target{Kind: model.TerraformWorkspace, Terraform: &model.TerraformTarget{Organization: "acme", Workspace: "prod"}}, custom,
			TargetPlan{Target: "terraform acme/prod", Names: custom, Where: "workspace variables", Detail: "category env, sensitive", ConfirmedBy: ConfirmedMetadata + " (version-id)"}},
		{"terraform variable set",
			model.Target{Kind: model.TerraformVarSet, Terraform: &model.TerraformTarget{Organization: "acme", VariableSet: "aws", Category: "terraform"}}, custom,
			TargetPlan{Target: "terraform varset acme/aws (terraform)", Names: custom, Where: "variable set variables", Detail: "category terraform, sensitive", ConfirmedBy: ConfirmedMetadata + " (version-id)"}},
		{"circleci project: masked",
			model.Target{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/api"}}, custom,
			TargetPlan{Target: "circleci gh/acme/api", Names: custom, Where: "project environment variables", ConfirmedBy: ConfirmedMasked}},
		{"circleci context: metadata",
			model.Target{Kind: model.CircleCIContext, CircleCI: &model.CircleCITarget{Context: "ctx-1"}}, custom,
			TargetPlan{Target: "circleci context ctx-1", Names: custom, Where: "context environment variables", ConfirmedBy: ConfirmedMetadata + " (updated_at)"}},
		{"bitbucket repository",
			model.Target{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api"}}, custom,
			TargetPlan{Target: "bitbucket acme/api", Names: custom, Where: "repository Pipelines variables", Detail: "secured", ConfirmedBy: ConfirmedBitbucket}},
		{"bitbucket deployment",
			model.Target{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "prod"}}, custom,
			TargetPlan{Target: "bitbucket acme/api@prod", Names: custom, Where: "deployment environment Pipelines variables", Detail: "secured", ConfirmedBy: ConfirmedBitbucket}},
		{"travis repository",
			model.Target{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: "acme/api"}}, custom,
			TargetPlan{Target: "travis acme/api", Names: custom, Where: "repository environment variables", Detail: "private, every branch", ConfirmedBy: ConfirmedMetadata + " (listed by name)"}},
	}
	planned := map[model.TargetKind]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Kind = tc.target.Kind
			require.Equal(t, tc.want, Plan(tc.target, tc.names))
		})
		planned[tc.target.Kind] = true
	}
	for _, k := range model.TargetKinds {
		require.True(t, planned[k], "no plan test for kind %s", k)
	}
}

// Every kind keyrotor knows has a plan: a new kind must say what it writes.
func TestPlanCoversEveryKind(t *testing.T) {
	var kinds []model.TargetKind
	for _, k := range planners {
		kinds = append(kinds, k.kinds()...)
	}
	for _, k := range model.TargetKinds {
		require.True(t, slices.Contains(kinds, k), "kind %s has no plan", k)
		require.NotEmpty(t, Plan(model.Target{Kind: k}, model.SecretNames{}).ConfirmedBy, k)
	}
	unknown := Plan(model.Target{Kind: "nope"}, model.SecretNames{})
	require.Empty(t, unknown.ConfirmedBy)
	require.Equal(t, model.DefaultSecretNames, unknown.Names)
}
