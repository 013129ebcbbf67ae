package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/model"
)

func TestKubernetesTargets(t *testing.T) {
	base := "accounts:\n  - {name: prod, region: us-east-1}\nrotations:\n  - user: u\n    account: prod\n    targets:\n"
	cfg, err := Parse("/etc/keyrotor/k.yaml", []byte("kubernetes: {kubeconfig: kube/config}\n"+base+
		"      - kubernetes: {context: prod-eu, namespace: ci, secret: aws-deployer, restart: [deployment/api, statefulset/worker, daemonset/agent]}\n"+
		"      - kubernetes: {inCluster: true, namespace: ci, secret: aws.deployer}\n"), nil)
	require.NoError(t, err)
	ts := cfg.Rotations[0].Targets
	require.Equal(t, model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{
		Context: "prod-eu", Namespace: "ci", Secret: "aws-deployer",
		Restart: []string{"deployment/api", "statefulset/worker", "daemonset/agent"}}}, ts[0])
	require.Equal(t, "kubernetes prod-eu/ci/aws-deployer", ts[0].String())
	require.Equal(t, "kubernetes in-cluster/ci/aws.deployer", ts[1].String())
	require.True(t, ts[1].Kubernetes.InCluster)
	require.Equal(t, "kubernetes", ts[1].Kind.Provider())
	require.Equal(t, "/etc/keyrotor/kube/config", cfg.Kubernetes.Kubeconfig, "relative to the file")

	// Without the top-level section: KUBECONFIG or ~/.kube/config.
	cfg, err = Parse("k.yaml", []byte(base+"      - kubernetes: {context: kind, namespace: ci, secret: s}\n"), nil)
	require.NoError(t, err)
	require.Nil(t, cfg.Kubernetes)

	long := strings.Repeat("a", 254)
	tests := []struct{ name, target, want string }{
		{"no cluster", "kubernetes: {namespace: ci, secret: s}",
			"k.yaml:7:21: rotations[0].targets[0].kubernetes: needs context (a context of the kubeconfig) or inCluster: true"},
		{"both", "kubernetes: {context: a, inCluster: true, namespace: ci, secret: s}",
			"k.yaml:7:21: rotations[0].targets[0].kubernetes: context and inCluster are mutually exclusive"},
		{"inCluster false", "kubernetes: {inCluster: false, namespace: ci, secret: s}",
			"k.yaml:7:33: rotations[0].targets[0].kubernetes.inCluster: must be true, or left out for a context"},
		{"inCluster not a boolean", "kubernetes: {inCluster: yes please, namespace: ci, secret: s}",
			"kubernetes.inCluster: must be true or false, not a string"},
		{"empty context", "kubernetes: {context: '', namespace: ci, secret: s}",
			"kubernetes.context: must not be empty (a context of the kubeconfig)"},
		{"no namespace", "kubernetes: {context: a, secret: s}", "rotations[0].targets[0].kubernetes.namespace: is required"},
		{"bad namespace", "kubernetes: {context: a, namespace: CI_prod, secret: s}",
			`k.yaml:7:45: rotations[0].targets[0].kubernetes.namespace: "CI_prod" is not a namespace name`},
		{"long namespace", "kubernetes: {context: a, namespace: " + strings.Repeat("n", 64) + ", secret: s}", "is not a namespace name"},
		{"no secret", "kubernetes: {context: a, namespace: ci}", "rotations[0].targets[0].kubernetes.secret: is required"},
		{"bad secret", "kubernetes: {context: a, namespace: ci, secret: AWS_KEYS}", `kubernetes.secret: "AWS_KEYS" is not a Secret name`},
		{"long secret", "kubernetes: {context: a, namespace: ci, secret: " + long + "}", "kubernetes.secret: is longer than 253 characters"},
		{"bad restart kind", "kubernetes: {context: a, namespace: ci, secret: s, restart: [deploy/api]}",
			`k.yaml:7:70: rotations[0].targets[0].kubernetes.restart[0]: "deploy/api" is not deployment|statefulset|daemonset/<name>`},
		{"restart without a name", "kubernetes: {context: a, namespace: ci, secret: s, restart: [deployment]}",
			`restart[0]: "deployment" is not deployment|statefulset|daemonset/<name>`},
		{"bad workload name", "kubernetes: {context: a, namespace: ci, secret: s, restart: [deployment/Api]}",
			`restart[0]: "deployment/Api": "Api" is not a workload name`},
		{"restart twice", "kubernetes: {context: a, namespace: ci, secret: s, restart: [daemonset/x, daemonset/x]}",
			"kubernetes.restart[1]: daemonset/x is listed twice"},
		{"restart not a list", "kubernetes: {context: a, namespace: ci, secret: s, restart: deployment/api}",
			"kubernetes.restart: must be a list, not a string"},
		{"restart empty", "kubernetes: {context: a, namespace: ci, secret: s, restart: []}",
			"kubernetes.restart: must list at least one workload, or be left out"},
		{"restart item not a string", "kubernetes: {context: a, namespace: ci, secret: s, restart: [{deployment: api}]}",
			"kubernetes.restart[0]: must be a string (kind/name), not a mapping"},
		{"unknown field", "kubernetes: {context: a, namespace: ci, secret: s, kubeconfig: x}",
			`kubernetes.kubeconfig: unknown field "kubeconfig"`},
		{"duplicate", "kubernetes: {context: a, namespace: ci, secret: s}\n      - kubernetes: {context: a, namespace: ci, secret: s}",
			"duplicate target kubernetes a/ci/s (first at line 7)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(base+"      - "+tc.target+"\n"), nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
