package model

import "strings"

// The target kinds beyond GitHub and GitLab. Each keeps its fields in its
// own struct, which Target points to.
const (
	AWSSecretsManager   TargetKind = "aws-secretsmanager"   // an AWS Secrets Manager secret, as JSON
	AWSSSMParameter     TargetKind = "aws-ssm"              // an SSM Parameter Store SecureString, as JSON
	KubernetesSecret    TargetKind = "kubernetes-secret"    // a Kubernetes Secret's two data keys, then rollouts
	TerraformWorkspace  TargetKind = "terraform-workspace"  // HCP Terraform workspace variables
	TerraformVarSet     TargetKind = "terraform-varset"     // HCP Terraform variable set variables
	CircleCIProject     TargetKind = "circleci-project"     // CircleCI project environment variables
	CircleCIContext     TargetKind = "circleci-context"     // CircleCI context environment variables
	BitbucketRepository TargetKind = "bitbucket-repository" // Bitbucket Pipelines repository variables
	BitbucketDeployment TargetKind = "bitbucket-deployment" // Bitbucket Pipelines deployment variables
	TravisRepository    TargetKind = "travis-repository"    // Travis CI repository environment variables
)

// TargetKinds are every kind keyrotor knows.
var TargetKinds = []TargetKind{
	GitHubRepository, GitHubEnvironment, GitHubOrganization, GitLabProject, GitLabGroup,
	AWSSecretsManager, AWSSSMParameter, KubernetesSecret, TerraformWorkspace, TerraformVarSet,
	CircleCIProject, CircleCIContext, BitbucketRepository, BitbucketDeployment, TravisRepository,
}

// Provider reports which system a target kind belongs to: the part of its
// name before the first '-' ("github", "gitlab", "aws", "kubernetes", …).
func (k TargetKind) Provider() string {
	p, _, _ := strings.Cut(string(k), "-")
	return p
}

// AWSSecretTarget is an AWS Secrets Manager secret or an SSM parameter in
// one of the configured accounts. It holds the key as JSON:
// {"AWS_ACCESS_KEY_ID": …, "AWS_SECRET_ACCESS_KEY": …} (the secret names).
type AWSSecretTarget struct {
	Account   string `json:"account"`             // a configured account
	SecretID  string `json:"secretId,omitempty"`  // Secrets Manager: name or ARN
	Parameter string `json:"parameter,omitempty"` // SSM: parameter name
	KMSKeyID  string `json:"kmsKeyId,omitempty"`  // SSM: the KMS key; empty for alias/aws/ssm
}

// KubernetesTarget is a Secret in a cluster, and the workloads that read it.
type KubernetesTarget struct {
	Context   string   `json:"context,omitempty"` // kubeconfig context; empty with InCluster
	InCluster bool     `json:"inCluster,omitempty"`
	Namespace string   `json:"namespace"`
	Secret    string   `json:"secret"`
	Restart   []string `json:"restart,omitempty"` // deployment/x, statefulset/y, daemonset/z
}

// TerraformTarget is a workspace's or a variable set's variables.
type TerraformTarget struct {
	Organization string `json:"organization"`
	Workspace    string `json:"workspace,omitempty"`
	VariableSet  string `json:"variableSet,omitempty"`
	Category     string `json:"category"` // env (the default) or terraform
}

// CircleCITarget is a project's or a context's environment variables.
type CircleCITarget struct {
	Project string `json:"project,omitempty"` // project slug, e.g. gh/acme/api
	Context string `json:"context,omitempty"` // context ID
}

// BitbucketTarget is a repository's or a deployment environment's
// variables.
type BitbucketTarget struct {
	Workspace  string `json:"workspace"`
	Repository string `json:"repository"`           // repository slug
	Deployment string `json:"deployment,omitempty"` // deployment environment name
}

// TravisTarget is a repository's environment variables.
type TravisTarget struct {
	Repository string `json:"repository"` // owner/name
}

// extendedName names a target of a kind beyond GitHub and GitLab ("" for
// those).
func (t Target) extendedName() string {
	switch {
	case t.AWSSecret != nil && t.Kind == AWSSecretsManager:
		return "aws-secretsmanager " + t.AWSSecret.Account + ":" + t.AWSSecret.SecretID
	case t.AWSSecret != nil && t.Kind == AWSSSMParameter:
		return "aws-ssm " + t.AWSSecret.Account + ":" + t.AWSSecret.Parameter
	case t.Kubernetes != nil:
		cluster := t.Kubernetes.Context
		if t.Kubernetes.InCluster {
			cluster = "in-cluster"
		}
		return "kubernetes " + cluster + "/" + t.Kubernetes.Namespace + "/" + t.Kubernetes.Secret
	case t.Terraform != nil && t.Kind == TerraformWorkspace:
		return "terraform " + t.Terraform.Organization + "/" + t.Terraform.Workspace + categorySuffix(t.Terraform.Category)
	case t.Terraform != nil && t.Kind == TerraformVarSet:
		return "terraform varset " + t.Terraform.Organization + "/" + t.Terraform.VariableSet + categorySuffix(t.Terraform.Category)
	case t.CircleCI != nil && t.Kind == CircleCIProject:
		return "circleci " + t.CircleCI.Project
	case t.CircleCI != nil && t.Kind == CircleCIContext:
		return "circleci context " + t.CircleCI.Context
	case t.Bitbucket != nil && t.Kind == BitbucketRepository:
		return "bitbucket " + t.Bitbucket.Workspace + "/" + t.Bitbucket.Repository
	case t.Bitbucket != nil && t.Kind == BitbucketDeployment:
		return "bitbucket " + t.Bitbucket.Workspace + "/" + t.Bitbucket.Repository + "@" + t.Bitbucket.Deployment
	case t.Travis != nil:
		return "travis " + t.Travis.Repository
	}
	return ""
}

func categorySuffix(c string) string {
	if c == "" || c == "env" {
		return ""
	}
	return " (" + c + ")"
}
