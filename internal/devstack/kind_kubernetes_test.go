package devstack

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The generated configuration reaches the Kubernetes emulator through its
// kubeconfig, and the seeded target is there.
func TestKubernetesHarness(t *testing.T) {
	e := StartEmulators()
	target := model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{
		Context: KubeContext, Namespace: "ci", Secret: "aws-deployer", Restart: []string{"deployment/api", "statefulset/db", "daemonset/agent"}}}
	e.SeedTarget(target)
	path, err := e.WriteConfig(t.TempDir(), ConfigSpec{Users: map[string][]model.Target{"ci-deployer": {target}}, Policy: model.DefaultPolicy})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kubernetes == nil || cfg.Kubernetes.Kubeconfig != e.Kubeconfig() {
		t.Fatalf("kubernetes section %+v", cfg.Kubernetes)
	}
	if got := cfg.Rotations[0].Targets[0]; got.String() != target.String() || len(got.Kubernetes.Restart) != 3 {
		t.Fatalf("target read back as %+v", got.Kubernetes)
	}
	cs, err := clients.NewKubernetes(cfg.Kubernetes.Kubeconfig).Clientset(KubeContext, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cs.CoreV1().Secrets("ci").Get(ctx, "aws-deployer", metav1.GetOptions{})
	if err != nil || string(s.Data["AWS_REGION"]) != Region {
		t.Fatalf("seeded Secret: %v %v", s, err)
	}
	for _, get := range []func() error{
		func() error { _, err := cs.AppsV1().Deployments("ci").Get(ctx, "api", metav1.GetOptions{}); return err },
		func() error { _, err := cs.AppsV1().StatefulSets("ci").Get(ctx, "db", metav1.GetOptions{}); return err },
		func() error {
			_, err := cs.AppsV1().DaemonSets("ci").Get(ctx, "agent", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Fatal(err)
		}
	}
	if id, secret := e.TargetValues(target, model.DefaultSecretNames); id != "" || secret != "" {
		t.Fatalf("values before a push: %q", id)
	}
	if !strings.Contains(e.ConfigYAML(ConfigSpec{Users: map[string][]model.Target{"u": {target}}}),
		"kubernetes: {context: emulator, namespace: ci, secret: aws-deployer, restart: [deployment/api, statefulset/db, daemonset/agent]}") {
		t.Fatal("target YAML")
	}
	e.Close()
	if _, err := os.Stat(e.Kubeconfig()); !os.IsNotExist(err) {
		t.Fatalf("kubeconfig left behind: %v", err)
	}
}
