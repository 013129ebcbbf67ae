package clients

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubernetesUserAgent is how the worker's requests show in the API
// server's audit log.
const kubernetesUserAgent = "keyrotor"

// Kubernetes builds clientsets for the clusters that Kubernetes targets
// name: a context of the kubeconfig, or the cluster the worker runs in.
// It builds a new clientset on every call; the activities keep one per
// cluster.
type Kubernetes struct {
	kubeconfig string
	inCluster  func() (*rest.Config, error)
}

// NewKubernetes reads the kubeconfig file at path, or, when path is empty,
// the files KUBECONFIG lists, else ~/.kube/config (clientcmd's default
// loading rules). Nothing is read before a clientset is asked for.
func NewKubernetes(kubeconfig string) *Kubernetes {
	return &Kubernetes{kubeconfig: kubeconfig, inCluster: rest.InClusterConfig}
}

// RESTConfig is the connection to one cluster: the kubeconfig's context
// contextName, or with inCluster the service account the worker's pod
// runs as (rest.InClusterConfig).
func (k *Kubernetes) RESTConfig(contextName string, inCluster bool) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if inCluster {
		if cfg, err = k.inCluster(); err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		where := "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
		if k.kubeconfig != "" {
			rules.ExplicitPath = k.kubeconfig
			where = "kubeconfig " + k.kubeconfig
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName})
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, fmt.Errorf("%s, context %q: %w", where, contextName, err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = kubernetesUserAgent
	return cfg, nil
}

// Clientset builds the typed clientset of one cluster (see RESTConfig).
func (k *Kubernetes) Clientset(contextName string, inCluster bool) (kubernetes.Interface, error) {
	cfg, err := k.RESTConfig(contextName, inCluster)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}
