package clients

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/keyrotor/keyrotor/internal/emulator/kubeemu"
)

// writeKubeconfig points contexts "prod" (a token the emulator accepts) and
// "stale" (one it does not) at url, trusting ca.
func writeKubeconfig(t *testing.T, url string, ca []byte) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["emu"] = &clientcmdapi.Cluster{Server: url, CertificateAuthorityData: ca}
	cfg.AuthInfos["prod"] = &clientcmdapi.AuthInfo{Token: "prod-token"}
	cfg.AuthInfos["stale"] = &clientcmdapi.AuthInfo{Token: "stale-token"}
	cfg.Contexts["prod"] = &clientcmdapi.Context{Cluster: "emu", AuthInfo: "prod"}
	cfg.Contexts["stale"] = &clientcmdapi.Context{Cluster: "emu", AuthInfo: "stale"}
	cfg.CurrentContext = "stale"
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKubernetesClientsets(t *testing.T) {
	emu := kubeemu.New("prod-token")
	srv := httptest.NewTLSServer(emu.Handler())
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	path := writeKubeconfig(t, srv.URL, ca)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	get := func(k *Kubernetes, contextName string) error {
		cs, err := k.Clientset(contextName, false)
		if err != nil {
			return err
		}
		_, err = cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		return err
	}
	t.Run("explicit kubeconfig, named context", func(t *testing.T) {
		if err := get(NewKubernetes(path), "prod"); err != nil {
			t.Fatal(err)
		}
		if err := get(NewKubernetes(path), "stale"); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Fatalf("stale token: %v", err)
		}
	})
	t.Run("KUBECONFIG when no path is configured", func(t *testing.T) {
		t.Setenv("KUBECONFIG", path)
		if err := get(NewKubernetes(""), "prod"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown context", func(t *testing.T) {
		err := get(NewKubernetes(path), "nowhere")
		if err == nil || !strings.Contains(err.Error(), "kubeconfig "+path+`, context "nowhere"`) {
			t.Fatalf("unknown context: %v", err)
		}
	})
	t.Run("user agent", func(t *testing.T) {
		cfg, err := NewKubernetes(path).RESTConfig("prod", false)
		if err != nil || cfg.UserAgent != "keyrotor" || cfg.BearerToken != "prod-token" {
			t.Fatalf("config %v, %v", cfg, err)
		}
	})
	t.Run("in cluster", func(t *testing.T) {
		k := NewKubernetes(path)
		if _, err := k.Clientset("", true); err == nil || !strings.Contains(err.Error(), "in-cluster configuration") {
			t.Fatalf("outside a pod: %v", err)
		}
		k.inCluster = func() (*rest.Config, error) {
			return &rest.Config{Host: srv.URL, BearerToken: "prod-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, nil
		}
		cs, err := k.Clientset("ignored", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		k.inCluster = func() (*rest.Config, error) { return nil, errors.New("no service account") }
		if _, err := k.Clientset("", true); err == nil {
			t.Fatal("want an error")
		}
	})
}
