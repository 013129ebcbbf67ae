package devstack

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/keyrotor/keyrotor/internal/emulator/kubeemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// KubeContext is the kubeconfig context that reaches the Kubernetes
// emulator; kubernetes targets of the dev stack name it.
const KubeContext = "emulator"

// kubeRolloutStep is the emulated controllers' pace: fast, so that a push
// waiting for a rollout takes a fraction of a second.
const kubeRolloutStep = 20 * time.Millisecond

// kubeStack is the Kubernetes emulator, its server and the kubeconfig that
// reaches it.
type kubeStack struct {
	emu        *kubeemu.Emulator
	kubeconfig string
}

func init() {
	registerKind(&kindHarness{
		provider: "kubernetes",
		demo:     []model.Target{{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{Context: KubeContext, Namespace: "ci", Secret: "aws-deployer", Restart: []string{"deployment/api"}}}},
		start:    startKube,
		seed: func(e *Emulators, t model.Target) {
			if err := e.kube().seed(t.Kubernetes); err != nil {
				panic(fmt.Sprintf("seed %s: %v", t, err))
			}
		},
		values: func(e *Emulators, t model.Target, names model.SecretNames) (string, string) {
			s, ok := e.Kubernetes().Secret(t.Kubernetes.Namespace, t.Kubernetes.Secret)
			if !ok {
				return "", ""
			}
			return string(s.Data[names.AccessKeyID]), string(s.Data[names.SecretAccessKey])
		},
		section: func(e *Emulators) string { return "kubernetes:\n  kubeconfig: " + e.kube().kubeconfig + "\n" },
		yaml:    kubeTargetYAML,
	})
}

// Kubernetes is the Kubernetes API emulator.
func (e *Emulators) Kubernetes() *kubeemu.Emulator { return e.kube().emu }

// Kubeconfig is the kubeconfig file whose context KubeContext reaches the
// Kubernetes emulator with a bearer token.
func (e *Emulators) Kubeconfig() string { return e.kube().kubeconfig }

func (e *Emulators) kube() *kubeStack { return e.kinds["kubernetes"].(*kubeStack) }

// startKube serves the emulator over TLS (clientcmd sends a kubeconfig's
// token to https servers only) and writes a kubeconfig for it into a
// directory of its own, removed when the server is closed.
func startKube(e *Emulators) {
	token := "kube-" + randomHex(16)
	emu := kubeemu.New(token)
	emu.SetRolloutStep(kubeRolloutStep)
	dir, err := os.MkdirTemp("", "keyrotor-kube-")
	if err != nil {
		panic(fmt.Sprintf("kubeconfig directory: %v", err))
	}
	s := httptest.NewUnstartedServer(emu.Handler())
	s.Listener = removeOnClose{Listener: s.Listener, dir: dir}
	s.StartTLS()
	e.servers = append(e.servers, s)

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeContext] = &clientcmdapi.Cluster{Server: s.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})}
	cfg.AuthInfos["keyrotor"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[KubeContext] = &clientcmdapi.Context{Cluster: KubeContext, AuthInfo: "keyrotor"}
	cfg.CurrentContext = KubeContext
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		panic(fmt.Sprintf("write kubeconfig: %v", err))
	}
	e.kinds["kubernetes"] = &kubeStack{emu: emu, kubeconfig: path}
}

// removeOnClose removes the kubeconfig's directory with the server.
type removeOnClose struct {
	net.Listener
	dir string
}

func (l removeOnClose) Close() error {
	err := l.Listener.Close()
	_ = os.RemoveAll(l.dir)
	return err
}

// seed makes the namespace, the Secret (holding another key, which a push
// must keep) and the workloads to restart exist.
func (k *kubeStack) seed(t *model.KubernetesTarget) error {
	k.emu.AddNamespace(t.Namespace)
	if _, ok := k.emu.Secret(t.Namespace, t.Secret); !ok {
		if err := k.emu.AddSecret(t.Namespace, t.Secret, map[string]string{"AWS_REGION": Region}); err != nil {
			return err
		}
	}
	for _, w := range t.Restart {
		kind, name, _ := strings.Cut(w, "/")
		var err error
		switch kind {
		case "deployment":
			if _, ok := k.emu.Deployment(t.Namespace, name); !ok {
				err = k.emu.AddDeployment(t.Namespace, name, 2)
			}
		case "statefulset":
			if _, ok := k.emu.StatefulSet(t.Namespace, name); !ok {
				err = k.emu.AddStatefulSet(t.Namespace, name, 2)
			}
		case "daemonset":
			if _, ok := k.emu.DaemonSet(t.Namespace, name); !ok {
				err = k.emu.AddDaemonSet(t.Namespace, name, 2)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// kubeTargetYAML renders a kubernetes target as a targets item.
func kubeTargetYAML(t model.Target) string {
	k := t.Kubernetes
	cluster := "context: " + k.Context
	if k.InCluster {
		cluster = "inCluster: true"
	}
	s := "kubernetes: {" + cluster + ", namespace: " + k.Namespace + ", secret: " + k.Secret
	if len(k.Restart) > 0 {
		s += ", restart: [" + strings.Join(k.Restart, ", ") + "]"
	}
	return s + "}"
}
