package activities

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/kubeemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	kubeAdminToken = "kube-admin-token"
	kubeNS         = "ci"
	kubeSecretName = "aws-deployer"
	kubeKeyID      = "AKIAIOSFODNN7EXAMPLE"
	kubeKeySecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYKUBEKEY0001"
	secretPath     = "/api/v1/namespaces/ci/secrets/aws-deployer"
)

// kubeEnv is a cluster served by kubeemu over real HTTP, and a kubeconfig
// with a context per token: "admin" (everything), "stranger" (a token the
// cluster does not know) and "other-ns" (granted only namespace other).
type kubeEnv struct {
	emu        *kubeemu.Emulator
	url        string
	ca         []byte
	kubeconfig string
}

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	emu := kubeemu.New(kubeAdminToken)
	emu.SetRolloutStep(2 * time.Millisecond)
	emu.AddNamespace(kubeNS)
	emu.AddNamespace("other")
	emu.AddToken("other-ns-token", "other-ns", kubeemu.InNamespaces("other"))
	// TLS, as clientcmd sends a kubeconfig's credentials to https servers only.
	srv := httptest.NewTLSServer(emu.Handler())
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["emulator"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	for name, token := range map[string]string{"admin": kubeAdminToken, "stranger": "unknown-token", "other-ns": "other-ns-token"} {
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "emulator", AuthInfo: name}
	}
	cfg.CurrentContext = "admin"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return &kubeEnv{emu: emu, url: srv.URL, ca: ca, kubeconfig: path}
}

// activity is the kind as the worker builds it (clients.Kubernetes over
// the kubeconfig), with quick retries and polls.
func (e *kubeEnv) activity(targets ...model.Target) *Kubernetes {
	a := NewKubernetes(clients.NewKubernetes(e.kubeconfig).Clientset, testSealer(), pushConfig(model.SecretNames{}, targets...))
	a.policy = testCallPolicy
	a.pollFirst, a.pollMax = 5*time.Millisecond, 20*time.Millisecond
	return a
}

// admin is a second writer: the real clientset, as another controller.
func (e *kubeEnv) admin(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: e.url, BearerToken: kubeAdminToken, QPS: -1,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.ca}})
	require.NoError(t, err)
	return cs
}

func kubeTarget(context string, restart ...string) model.Target {
	return model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{
		Context: context, Namespace: kubeNS, Secret: kubeSecretName, Restart: restart}}
}

func kubeInput(target model.Target) PushInput {
	return pushInputFor(target, mustSeal(kubeKeyID, kubeKeySecret))
}

// requireHoldsKey checks the Secret holds the pushed pair and the other
// keys in others.
func (e *kubeEnv) requireHoldsKey(t *testing.T, others map[string]string) {
	t.Helper()
	s, ok := e.emu.Secret(kubeNS, kubeSecretName)
	require.True(t, ok)
	want := map[string]string{"AWS_ACCESS_KEY_ID": kubeKeyID, "AWS_SECRET_ACCESS_KEY": kubeKeySecret}
	for k, v := range others {
		want[k] = v
	}
	got := map[string]string{}
	for k, v := range s.Data {
		got[k] = string(v)
	}
	require.Equal(t, want, got)
}

func TestKubernetesPush(t *testing.T) {
	tests := []struct {
		name      string
		seed      func(e *kubeEnv) error
		restart   []string
		kind      kubeemu.Kind
		wantCalls int // without the rollout polls
		others    map[string]string
		confirmed string
	}{
		{name: "creates a missing Secret", wantCalls: 3, confirmed: "read back"},
		{name: "updates a Secret keeping its other keys", wantCalls: 3,
			seed: func(e *kubeEnv) error {
				return e.emu.AddSecret(kubeNS, kubeSecretName, map[string]string{"REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEOLDKEY456"})
			},
			others:    map[string]string{"REGION": "eu-west-1"},
			confirmed: "read back"},
		{name: "restarts a deployment", restart: []string{"deployment/api"}, kind: kubeemu.KindDeployment, wantCalls: 5,
			seed:      func(e *kubeEnv) error { return e.emu.AddDeployment(kubeNS, "api", 3) },
			confirmed: "read back and rolled out deployment/api"},
		{name: "restarts a statefulset", restart: []string{"statefulset/worker"}, kind: kubeemu.KindStatefulSet, wantCalls: 5,
			seed:      func(e *kubeEnv) error { return e.emu.AddStatefulSet(kubeNS, "worker", 2) },
			confirmed: "read back and rolled out statefulset/worker"},
		{name: "restarts a daemonset", restart: []string{"daemonset/agent"}, kind: kubeemu.KindDaemonSet, wantCalls: 5,
			seed:      func(e *kubeEnv) error { return e.emu.AddDaemonSet(kubeNS, "agent", 3) },
			confirmed: "read back and rolled out daemonset/agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newKubeEnv(t)
			if tc.seed != nil {
				require.NoError(t, tc.seed(e))
			}
			target := kubeTarget("admin", tc.restart...)
			a := e.activity(target)
			res, err := a.push(context.Background(), kubeInput(target))
			require.NoError(t, err)
			require.Equal(t, tc.confirmed, res.ConfirmedBy)
			require.Equal(t, "kubernetes admin/ci/aws-deployer", res.Target)
			e.requireHoldsKey(t, tc.others)
			if tc.restart == nil {
				require.Equal(t, tc.wantCalls, res.Calls, e.emu.Faults.Calls())
				return
			}
			require.GreaterOrEqual(t, res.Calls, tc.wantCalls+1, "at least one rollout status read")
			name := strings.Split(tc.restart[0], "/")[1]
			r, ok := e.emu.Rollout(tc.kind, kubeNS, name)
			require.True(t, ok)
			require.True(t, r.Done, "%+v", r)
			require.NotEmpty(t, r.RestartedAt)
			require.Equal(t, int64(2), r.Generation, "restarted once")

			// The same key pushed again: the Secret already holds it and is
			// not written again.
			e.emu.Faults.ResetCalls()
			_, err = a.push(context.Background(), kubeInput(target))
			require.NoError(t, err)
			for op := range e.emu.Faults.Calls() {
				require.False(t, strings.HasPrefix(op, "PUT ") || strings.HasPrefix(op, "POST "), "the Secret is rewritten: %s", op)
			}
		})
	}
}

// Another writer changes the Secret between the push's read and its
// update: the update conflicts, and the push reads again and keeps the
// other writer's change.
func TestKubernetesPushRetriesConflicts(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddSecret(kubeNS, kubeSecretName, map[string]string{"REGION": "eu-west-1"}))
	e.emu.Faults.Add(faults.Rule{Op: "PUT " + secretPath, Delay: 300 * time.Millisecond, Times: 1})
	other := e.admin(t)
	written := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for e.emu.Faults.Calls()["PUT "+secretPath] == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		s, err := other.CoreV1().Secrets(kubeNS).Get(context.Background(), kubeSecretName, metav1.GetOptions{})
		if err == nil {
			s.Data["OWNER"] = []byte("platform")
			_, err = other.CoreV1().Secrets(kubeNS).Update(context.Background(), s, metav1.UpdateOptions{})
		}
		written <- err
	}()
	target := kubeTarget("admin")
	res, err := e.activity(target).push(context.Background(), kubeInput(target))
	require.NoError(t, err)
	require.NoError(t, <-written)
	e.requireHoldsKey(t, map[string]string{"REGION": "eu-west-1", "OWNER": "platform"})
	require.Equal(t, 3, e.emu.Faults.Calls()["PUT "+secretPath], "the push's conflicting update, the other writer's, the push's second")
	require.Equal(t, 5, res.Calls, "get, update (409), get, update, read-back")
}

// A workload whose new pods never become ready fails the target after the
// bound, naming it; the Secret keeps the new key.
func TestKubernetesStuckRolloutFails(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddStatefulSet(kubeNS, "worker", 2))
	require.NoError(t, e.emu.AddDeployment(kubeNS, "api", 1))
	require.NoError(t, e.emu.SetStuck(kubeemu.KindStatefulSet, kubeNS, "worker", true))
	target := kubeTarget("admin", "deployment/api", "statefulset/worker")
	a := e.activity(target)
	a.rolloutTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err := a.push(context.Background(), kubeInput(target))
	requireAppError(t, err, TypeRolloutNotDone, true)
	require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
	require.Contains(t, err.Error(), "kubernetes admin/ci/aws-deployer: statefulset/worker did not roll out within 500ms (statefulset/worker: ")
	require.NotContains(t, err.Error(), "deployment/api", "the deployment rolled out")
	e.requireHoldsKey(t, nil)
}

// A workload that cannot be restarted and waited for is refused before it
// is patched.
func TestKubernetesRefusesPausedDeployment(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddDeployment(kubeNS, "api", 1))
	d, _ := e.emu.Deployment(kubeNS, "api")
	d.Spec.Paused = true
	_, err := e.admin(t).AppsV1().Deployments(kubeNS).Update(context.Background(), d, metav1.UpdateOptions{})
	require.NoError(t, err)
	target := kubeTarget("admin", "deployment/api")
	_, err = e.activity(target).push(context.Background(), kubeInput(target))
	requireAppError(t, err, TypeUnprocessable, true)
	require.Contains(t, err.Error(), "deployment/api is paused")
	require.Zero(t, e.emu.Faults.Calls()["PATCH /apis/apps/v1/namespaces/ci/deployments/api"])
}

func TestKubernetesErrors(t *testing.T) {
	tests := []struct {
		name   string
		target model.Target
		setup  func(e *kubeEnv)
		typ    string
		final  bool
		want   string
	}{
		{name: "401", target: kubeTarget("stranger"), typ: TypeUnauthorized, final: true,
			want: "kubernetes stranger/ci/aws-deployer: write the Secret: Unauthorized; the cluster refuses the credentials"},
		{name: "403 without a grant in the namespace", target: kubeTarget("other-ns"), typ: TypeUnauthorized, final: true,
			want: `kubernetes other-ns/ci/aws-deployer: write the Secret: secrets "aws-deployer" is forbidden: User "other-ns" cannot get resource "secrets" in API group "" in the namespace "ci"`},
		{name: "404 namespace", target: model.Target{Kind: model.KubernetesSecret, Kubernetes: &model.KubernetesTarget{Context: "admin", Namespace: "gone", Secret: kubeSecretName}},
			typ: TypeNotFound, final: true, want: `kubernetes admin/gone/aws-deployer: write the Secret: namespaces "gone" not found`},
		{name: "404 workload", target: kubeTarget("admin", "deployment/missing"), typ: TypeNotFound, final: true,
			want: `get deployment/missing: deployments.apps "missing" not found`},
		{name: "422 immutable Secret", target: kubeTarget("admin"), typ: TypeUnprocessable, final: true,
			setup: func(e *kubeEnv) {
				immutable := true
				require.NoError(t, e.emu.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kubeNS, Name: kubeSecretName},
					Immutable: &immutable, Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAOLD")}}))
			},
			want: `write the Secret: Secret "aws-deployer" is invalid`},
		{name: "422 quoting the secret is redacted", target: kubeTarget("admin"), typ: TypeUnprocessable, final: true,
			setup: func(e *kubeEnv) {
				e.emu.Faults.Add(faults.Rule{Op: "POST ", Status: http.StatusUnprocessableEntity,
					Body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,"message":"data: Invalid value: \"` + kubeKeySecret + `\" and a piece ` + kubeKeySecret[5:20] + `"}`})
			},
			want: "[REDACTED]"},
		{name: "429 without end is left to Temporal", target: kubeTarget("admin"), typ: TypeRateLimited, final: false,
			setup: func(e *kubeEnv) {
				e.emu.Faults.Add(faults.Rule{Op: "GET " + secretPath, Status: http.StatusTooManyRequests})
			},
			want: "write the Secret"},
		{name: "a Retry-After longer than a call is retried", target: kubeTarget("admin"), typ: "", final: false,
			setup: func(e *kubeEnv) {
				// client-go sleeps through Retry-After itself, within the
				// call's timeout (shortened here), which then ends the call.
				e.emu.Faults.Add(faults.Rule{Op: "GET " + secretPath, Status: http.StatusTooManyRequests, RetryAfter: 10 * time.Second})
			},
			want: "write the Secret"},
		{name: "5xx retried in place, then left to Temporal", target: kubeTarget("admin"), typ: "", final: false,
			setup: func(e *kubeEnv) {
				e.emu.Faults.Add(faults.Rule{Op: "GET " + secretPath, Status: http.StatusBadGateway})
			},
			want: "write the Secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newKubeEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			a := e.activity(tc.target)
			a.callTimeout = 300 * time.Millisecond
			_, err := a.push(context.Background(), kubeInput(tc.target))
			require.Error(t, err)
			if tc.typ != "" {
				requireAppError(t, err, tc.typ, tc.final)
			}
			require.Contains(t, err.Error(), tc.want, e.emu.Faults.Calls())
			require.NotContains(t, err.Error(), kubeKeySecret)
			require.NotContains(t, err.Error(), kubeKeySecret[5:20])
		})
	}
}

// 429 with a short Retry-After and a 5xx are ridden out within the attempt.
func TestKubernetesRidesOutThrottlingAnd5xx(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddSecret(kubeNS, kubeSecretName, nil))
	require.NoError(t, e.emu.AddDeployment(kubeNS, "api", 1))
	// client-go waits out a Retry-After header itself; a Status that only
	// suggests a delay (details.retryAfterSeconds) is waited out by the push.
	e.emu.Faults.Add(faults.Rule{Op: "PUT " + secretPath, Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 1})
	e.emu.Faults.Add(faults.Rule{Op: "GET /apis/apps/v1/namespaces/ci/deployments/api", Status: http.StatusTooManyRequests, Times: 1,
		Body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429,"message":"slow down","details":{"retryAfterSeconds":1}}`})
	e.emu.Faults.Add(faults.Rule{Op: "PATCH ", Status: http.StatusServiceUnavailable, Times: 1})
	target := kubeTarget("admin", "deployment/api")
	a := e.activity(target)
	start := time.Now()
	_, err := a.push(context.Background(), kubeInput(target))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second, "both waits were waited")
	calls := e.emu.Faults.Calls()
	require.Equal(t, 2, calls["PUT "+secretPath], "the 429, then the write after its Retry-After")
	require.Equal(t, 2, calls["PATCH /apis/apps/v1/namespaces/ci/deployments/api"], "the 503, then the restart")
	require.GreaterOrEqual(t, calls["GET /apis/apps/v1/namespaces/ci/deployments/api"], 3, "the 429, the read before the restart, a status read")
	e.requireHoldsKey(t, nil)
	r, _ := e.emu.Rollout(kubeemu.KindDeployment, kubeNS, "api")
	require.Equal(t, int64(2), r.Generation, "restarted once")
}

// The restart's answer is lost, so the attempt fails; the next attempt,
// resuming from the heartbeat, finds the workload already restarted with
// the recorded time and only waits for it: one restart, not two.
func TestKubernetesRetriedAttemptRestartsOnce(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddSecret(kubeNS, kubeSecretName, map[string]string{"REGION": "eu-west-1"}))
	require.NoError(t, e.emu.AddDeployment(kubeNS, "api", 2))
	patchOp := "PATCH /apis/apps/v1/namespaces/ci/deployments/api"
	e.emu.Faults.Add(faults.Rule{Op: patchOp, Status: http.StatusBadGateway, LoseResult: true, Times: testCallPolicy.tries})
	target := kubeTarget("admin", "deployment/api")
	targets := NewTargets(e.activity(target))
	tl := newTemporalLike(t, targets)
	attempts := tl.run(targets.PushToTarget, kubeInput(target), 3)
	require.Len(t, attempts, 2)
	require.Error(t, attempts[0].err)
	require.NoError(t, attempts[1].err)
	require.Equal(t, "read back and rolled out deployment/api", attempts[1].res.ConfirmedBy)

	calls := e.emu.Faults.Calls()
	require.Equal(t, testCallPolicy.tries, calls[patchOp], "every patch was the first attempt's")
	require.Equal(t, 1, calls["PUT "+secretPath], "the Secret is written once")
	r, _ := e.emu.Rollout(kubeemu.KindDeployment, kubeNS, "api")
	require.True(t, r.Done)
	require.Equal(t, int64(2), r.Generation, "restarted once")
	require.Equal(t, tl.details.RestartedAt.Format(time.RFC3339), r.RestartedAt)
	require.Equal(t, []string{"secret ci/aws-deployer"}, tl.details.Written)
}

func TestKubernetesCheck(t *testing.T) {
	e := newKubeEnv(t)
	require.NoError(t, e.emu.AddDeployment(kubeNS, "api", 1))
	e.emu.AddToken("read-only", "auditor", kubeemu.Grant{Verbs: []string{"get", "list"}})
	cfg := clientcmd.GetConfigFromFileOrDie(e.kubeconfig)
	cfg.AuthInfos["auditor"] = &clientcmdapi.AuthInfo{Token: "read-only"}
	cfg.Contexts["auditor"] = &clientcmdapi.Context{Cluster: "emulator", AuthInfo: "auditor"}
	require.NoError(t, clientcmd.WriteToFile(*cfg, e.kubeconfig))

	a := e.activity()
	c := a.check(context.Background(), kubeTarget("admin", "deployment/api"))
	require.True(t, c.OK, c.Detail)
	require.Equal(t, "the Secret does not exist yet and may be created (dry run); deployment/api may be restarted (dry run)", c.Detail)

	require.NoError(t, e.emu.AddSecret(kubeNS, kubeSecretName, map[string]string{"REGION": "eu-west-1"}))
	c = a.check(context.Background(), kubeTarget("admin"))
	require.True(t, c.OK, c.Detail)
	require.Equal(t, "the Secret is readable and writable (dry run)", c.Detail)

	c = a.check(context.Background(), kubeTarget("auditor", "deployment/api"))
	require.False(t, c.OK)
	require.Contains(t, c.Detail, `update the Secret (dry run): secrets "aws-deployer" is forbidden: User "auditor" cannot update`)

	c = a.check(context.Background(), kubeTarget("nowhere"))
	require.False(t, c.OK)
	require.Contains(t, c.Detail, `context "nowhere"`)

	r, _ := e.emu.Rollout(kubeemu.KindDeployment, kubeNS, "api")
	require.Equal(t, int64(1), r.Generation, "the check restarted nothing")
	s, _ := e.emu.Secret(kubeNS, kubeSecretName)
	require.Equal(t, map[string][]byte{"REGION": []byte("eu-west-1")}, s.Data, "the check wrote nothing")
}
