package kubeemu_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/kubeemu"
)

const (
	token = "admin-token"
	ns    = "ci"
	// awsSecret looks like a real AWS secret access key.
	awsSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	step      = 2 * time.Millisecond
)

// wireFormats are the two ways client-go talks to the API server: its
// typed clients' default (protobuf, for built-in types) and JSON.
var wireFormats = []struct{ name, contentType string }{
	{"protobuf", ""},
	{"json", "application/json"},
}

// setup starts an emulator with namespace ci and a fast rollout step.
func setup(t *testing.T) (*kubeemu.Emulator, string) {
	t.Helper()
	emu := kubeemu.New(token)
	emu.SetRolloutStep(step)
	emu.AddNamespace(ns)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

// clientset is the real typed clientset, without client-side throttling.
func clientset(t *testing.T, url, bearer, contentType string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: url, BearerToken: bearer, QPS: -1,
		ContentConfig: rest.ContentConfig{ContentType: contentType},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func awsKeySecret(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"owner": "keyrotor"}},
		Data:       map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAIOSFODNN7EXAMPLE")},
		StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": awsSecret},
	}
}

func TestSecretCreateGetUpdate(t *testing.T) {
	for _, wf := range wireFormats {
		t.Run(wf.name, func(t *testing.T) {
			emu, url := setup(t)
			c := clientset(t, url, token, wf.contentType).CoreV1().Secrets(ns)
			ctx := ctx(t)

			created, err := c.Create(ctx, awsKeySecret("aws"), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
				t.Errorf("created metadata = %+v", created.ObjectMeta)
			}
			if created.Type != corev1.SecretTypeOpaque || created.StringData != nil ||
				string(created.Data["AWS_SECRET_ACCESS_KEY"]) != awsSecret || len(created.Data) != 2 {
				t.Errorf("stringData was not merged into data: type %q, %d keys", created.Type, len(created.Data))
			}

			got, err := c.Get(ctx, "aws", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ResourceVersion != created.ResourceVersion || string(got.Data["AWS_ACCESS_KEY_ID"]) != "AKIAIOSFODNN7EXAMPLE" {
				t.Errorf("get = rv %s, want %s", got.ResourceVersion, created.ResourceVersion)
			}

			got.Data["AWS_SECRET_ACCESS_KEY"] = []byte("rotated")
			updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rv(t, updated.ResourceVersion) <= rv(t, got.ResourceVersion) {
				t.Errorf("update did not bump the resourceVersion: %s after %s", updated.ResourceVersion, got.ResourceVersion)
			}
			if s, ok := emu.Secret(ns, "aws"); !ok || string(s.Data["AWS_SECRET_ACCESS_KEY"]) != "rotated" || s.ResourceVersion != updated.ResourceVersion {
				t.Errorf("stored secret = %v", ok)
			}

			// The same object again changes nothing and is not written.
			again, err := c.Update(ctx, updated, metav1.UpdateOptions{})
			if err != nil || again.ResourceVersion != updated.ResourceVersion {
				t.Errorf("no-op update: rv %s (was %s), %v", again.ResourceVersion, updated.ResourceVersion, err)
			}

			if _, err := c.Create(ctx, awsKeySecret("aws"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
				t.Errorf("second create: %v, want AlreadyExists", err)
			}
			_, err = c.Get(ctx, "nope", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) || err.Error() != `secrets "nope" not found` {
				t.Errorf("get of a missing secret: %v", err)
			}

			list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "owner=keyrotor"})
			if err != nil || len(list.Items) != 1 || list.ResourceVersion == "" {
				t.Errorf("list: %v, %v", list, err)
			}

			if err := c.Delete(ctx, "aws", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, ok := emu.Secret(ns, "aws"); ok {
				t.Error("the secret is still there after delete")
			}
		})
	}
}

func rv(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q", s)
	}
	return n
}

// An update from a stale copy conflicts as on a real cluster, and
// retry.RetryOnConflict gets through; concurrent writers lose nothing.
func TestStaleUpdateConflictsAndRetrySucceeds(t *testing.T) {
	for _, wf := range wireFormats {
		t.Run(wf.name, func(t *testing.T) {
			emu, url := setup(t)
			if err := emu.AddSecret(ns, "aws", map[string]string{"n": "0"}); err != nil {
				t.Fatal(err)
			}
			c := clientset(t, url, token, wf.contentType).CoreV1().Secrets(ns)
			ctx := ctx(t)

			stale, err := c.Get(ctx, "aws", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fresh := stale.DeepCopy()
			fresh.Data["other"] = []byte("writer")
			if _, err := c.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			stale.Data["n"] = []byte("1")
			_, err = c.Update(ctx, stale, metav1.UpdateOptions{})
			if !apierrors.IsConflict(err) || err.Error() != `Operation cannot be fulfilled on secrets "aws": the object has been modified; please apply your changes to the latest version and try again` {
				t.Fatalf("stale update: %v", err)
			}

			attempts := 0
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				attempts++
				s := stale // the first attempt writes the stale copy
				if attempts > 1 {
					if s, err = c.Get(ctx, "aws", metav1.GetOptions{}); err != nil {
						return err
					}
				}
				s.Data["n"] = []byte("1")
				_, err := c.Update(ctx, s, metav1.UpdateOptions{})
				return err
			})
			if err != nil || attempts != 2 {
				t.Fatalf("RetryOnConflict: %v after %d attempts", err, attempts)
			}
			if s, _ := emu.Secret(ns, "aws"); string(s.Data["n"]) != "1" || string(s.Data["other"]) != "writer" {
				t.Errorf("data = n %q, other %q", s.Data["n"], s.Data["other"])
			}

			// Eight writers each add one to n through get-modify-update.
			var wg sync.WaitGroup
			backoff := retry.DefaultBackoff
			backoff.Steps = 100
			for range 8 {
				wg.Go(func() {
					err := retry.RetryOnConflict(backoff, func() error {
						s, err := c.Get(ctx, "aws", metav1.GetOptions{})
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(string(s.Data["n"]))
						s.Data["n"] = []byte(strconv.Itoa(n + 1))
						_, err = c.Update(ctx, s, metav1.UpdateOptions{})
						return err
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if s, _ := emu.Secret(ns, "aws"); string(s.Data["n"]) != "9" {
				t.Errorf("n = %s after 8 concurrent increments from 1, want 9", s.Data["n"])
			}
		})
	}
}

// A patch of one key keeps the Secret's other keys, whatever the patch type.
func TestPatchKeepsOtherDataKeys(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		pt    types.PatchType
		patch string
	}{
		{"strategic merge", types.StrategicMergePatchType, `{"data":{"AWS_SECRET_ACCESS_KEY":"` + b64(awsSecret) + `"}}`},
		{"merge", types.MergePatchType, `{"data":{"AWS_SECRET_ACCESS_KEY":"` + b64(awsSecret) + `"}}`},
		{"merge with stringData", types.MergePatchType, `{"stringData":{"AWS_SECRET_ACCESS_KEY":"` + awsSecret + `"}}`},
		{"strategic merge with stringData", types.StrategicMergePatchType, `{"stringData":{"AWS_SECRET_ACCESS_KEY":"` + awsSecret + `"}}`},
		{"JSON patch", types.JSONPatchType, `[{"op":"replace","path":"/data/AWS_SECRET_ACCESS_KEY","value":"` + b64(awsSecret) + `"}]`},
	}
	for _, wf := range wireFormats {
		for _, tt := range tests {
			t.Run(wf.name+"/"+tt.name, func(t *testing.T) {
				emu, url := setup(t)
				if err := emu.AddSecret(ns, "aws", map[string]string{
					"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "old", "region": "eu-west-1",
				}); err != nil {
					t.Fatal(err)
				}
				before, _ := emu.Secret(ns, "aws")
				c := clientset(t, url, token, wf.contentType).CoreV1().Secrets(ns)
				got, err := c.Patch(ctx(t), "aws", tt.pt, []byte(tt.patch), metav1.PatchOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": awsSecret, "region": "eu-west-1"}
				stored, _ := emu.Secret(ns, "aws")
				for _, s := range []*corev1.Secret{got, stored} {
					if len(s.Data) != len(want) || s.StringData != nil {
						t.Errorf("%d keys, stringData %v", len(s.Data), s.StringData != nil)
					}
					for k, v := range want {
						if string(s.Data[k]) != v {
							t.Errorf("key %s changed", k)
						}
					}
				}
				if rv(t, got.ResourceVersion) <= rv(t, before.ResourceVersion) {
					t.Errorf("resourceVersion %s after %s", got.ResourceVersion, before.ResourceVersion)
				}
			})
		}
	}
}

// A patch that names a resourceVersion is a precondition.
func TestPatchWithStaleResourceVersionConflicts(t *testing.T) {
	emu, url := setup(t)
	if err := emu.AddSecret(ns, "aws", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	s, _ := emu.Secret(ns, "aws")
	c := clientset(t, url, token, "").CoreV1().Secrets(ns)
	patch := func(rv string) error {
		_, err := c.Patch(ctx(t), "aws", types.MergePatchType,
			[]byte(`{"metadata":{"resourceVersion":"`+rv+`"},"stringData":{"k":"w"}}`), metav1.PatchOptions{})
		return err
	}
	if err := patch(s.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	if err := patch(s.ResourceVersion); !apierrors.IsConflict(err) {
		t.Fatalf("patch at a stale resourceVersion: %v, want Conflict", err)
	}
	if _, err := c.Patch(ctx(t), "nope", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing secret: %v", err)
	}
}

// rolloutStatus is `kubectl rollout status`'s decision for each kind
// (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go).
func rolloutStatus(t *testing.T, cs *kubernetes.Clientset, kind kubeemu.Kind, name string) (done bool, generation int64) {
	t.Helper()
	apps := cs.AppsV1()
	switch kind {
	case kubeemu.KindDeployment:
		d, err := apps.Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := d.Status
		return d.Generation <= st.ObservedGeneration && st.UpdatedReplicas >= *d.Spec.Replicas &&
			st.Replicas <= st.UpdatedReplicas && st.AvailableReplicas >= st.UpdatedReplicas, d.Generation
	case kubeemu.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := s.Status
		if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration || st.ReadyReplicas < *s.Spec.Replicas {
			return false, s.Generation
		}
		return st.UpdatedReplicas >= *s.Spec.Replicas-*s.Spec.UpdateStrategy.RollingUpdate.Partition, s.Generation
	default:
		d, err := apps.DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := d.Status
		return d.Generation <= st.ObservedGeneration && st.UpdatedNumberScheduled >= st.DesiredNumberScheduled &&
			st.NumberAvailable >= st.DesiredNumberScheduled, d.Generation
	}
}

// waitRollout polls as `kubectl rollout status --timeout` does.
func waitRollout(t *testing.T, cs *kubernetes.Clientset, kind kubeemu.Kind, name string, timeout time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if done, _ := rolloutStatus(t, cs, kind, name); done {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(step)
	}
}

// restartPatch is what `kubectl rollout restart` sends.
func restartPatch(at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, at.Format(time.RFC3339)))
}

func restart(ctx context.Context, cs *kubernetes.Clientset, kind kubeemu.Kind, name string, at time.Time) (generation int64, annotation string, err error) {
	apps, p := cs.AppsV1(), restartPatch(at)
	switch kind {
	case kubeemu.KindDeployment:
		d, err := apps.Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		if err != nil {
			return 0, "", err
		}
		return d.Generation, d.Spec.Template.Annotations[kubeemu.RestartedAtAnnotation], nil
	case kubeemu.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		if err != nil {
			return 0, "", err
		}
		return s.Generation, s.Spec.Template.Annotations[kubeemu.RestartedAtAnnotation], nil
	default:
		d, err := apps.DaemonSets(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		if err != nil {
			return 0, "", err
		}
		return d.Generation, d.Spec.Template.Annotations[kubeemu.RestartedAtAnnotation], nil
	}
}

var kinds = []struct {
	kind kubeemu.Kind
	add  func(e *kubeemu.Emulator, name string) error
}{
	{kubeemu.KindDeployment, func(e *kubeemu.Emulator, name string) error { return e.AddDeployment(ns, name, 3) }},
	{kubeemu.KindStatefulSet, func(e *kubeemu.Emulator, name string) error { return e.AddStatefulSet(ns, name, 3) }},
	{kubeemu.KindDaemonSet, func(e *kubeemu.Emulator, name string) error { return e.AddDaemonSet(ns, name, 3) }},
}

// A restart bumps the generation and the rollout completes; a stuck one
// never does, until it is unstuck.
func TestRolloutRestart(t *testing.T) {
	for _, wf := range wireFormats {
		for _, k := range kinds {
			t.Run(wf.name+"/"+string(k.kind), func(t *testing.T) {
				t.Parallel()
				emu, url := setup(t)
				cs := clientset(t, url, token, wf.contentType)
				for _, name := range []string{"web", "stuck"} {
					if err := k.add(emu, name); err != nil {
						t.Fatal(err)
					}
				}
				if err := emu.SetStuck(k.kind, ns, "stuck", true); err != nil {
					t.Fatal(err)
				}
				if done, gen := rolloutStatus(t, cs, k.kind, "web"); !done || gen != 1 {
					t.Fatalf("seeded workload: done %v, generation %d", done, gen)
				}
				at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
				for _, name := range []string{"web", "stuck"} {
					gen, ann, err := restart(ctx(t), cs, k.kind, name, at)
					if err != nil {
						t.Fatal(err)
					}
					if gen != 2 || ann != "2026-05-06T07:08:09Z" {
						t.Fatalf("after the restart patch: generation %d, restartedAt %q", gen, ann)
					}
				}
				if err := waitRollout(t, cs, k.kind, "web", 2*time.Second); err != nil {
					t.Fatalf("rollout of web: %v", err)
				}
				r, _ := emu.Rollout(k.kind, ns, "web")
				if !r.Done || r.ObservedGeneration != 2 || r.Updated != 3 || r.Ready != 3 || r.Available != 3 || r.Total != 3 {
					t.Errorf("rollout = %+v", r)
				}

				// 100 steps later the stuck one is still not done.
				if err := waitRollout(t, cs, k.kind, "stuck", 100*step); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("stuck rollout: %v, want it never to finish", err)
				}
				r, _ = emu.Rollout(k.kind, ns, "stuck")
				if r.Done || !r.Stuck || r.ObservedGeneration != 2 || r.Available >= 3 && r.Updated >= 3 {
					t.Errorf("stuck rollout = %+v", r)
				}
				if err := emu.SetStuck(k.kind, ns, "stuck", false); err != nil {
					t.Fatal(err)
				}
				if err := waitRollout(t, cs, k.kind, "stuck", 2*time.Second); err != nil {
					t.Fatalf("unstuck rollout: %v", err)
				}
			})
		}
	}
}

// A PUT of a workload ignores the status sent, bumps the generation only
// when the spec changes, and keeps the selector.
func TestWorkloadUpdate(t *testing.T) {
	emu, url := setup(t)
	if err := emu.AddDeployment(ns, "web", 2); err != nil {
		t.Fatal(err)
	}
	c := clientset(t, url, token, "").AppsV1().Deployments(ns)
	ctx := ctx(t)
	d, err := c.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Labels["team"] = "platform"
	d.Status.ObservedGeneration = 99
	d, err = c.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || d.Status.ObservedGeneration != 1 {
		t.Errorf("label change: generation %d, observed %d", d.Generation, d.Status.ObservedGeneration)
	}
	d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:2"
	if d, err = c.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 2 {
		t.Fatalf("image change: %v, generation %d", err, d.Generation)
	}
	// The rollout under way writes the status, so an update from the copy
	// just returned may conflict, as on a real cluster.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		d.Spec.Template.Labels = map[string]string{"app": "other"}
		_, err = c.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.selector: Invalid value") || !strings.Contains(err.Error(), "field is immutable") {
		t.Errorf("selector change: %v", err)
	}
	if _, err := c.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) || err.Error() != `deployments.apps "nope" not found` {
		t.Errorf("get of a missing deployment: %v", err)
	}

	// A Deployment created through the API starts its pods.
	created, err := c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || *created.Spec.Replicas != 1 || created.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("created deployment was not defaulted: %+v", created.Spec)
	}
	cs := clientset(t, url, token, "")
	if err := waitRollout(t, cs, kubeemu.KindDeployment, "api", 2*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestAuthentication(t *testing.T) {
	_, url := setup(t)
	v, err := clientset(t, url, token, "").Discovery().ServerVersion()
	if err != nil || v.Major != "1" || v.Minor != "36" {
		t.Errorf("server version %v: %v", v, err)
	}
	if _, err := clientset(t, url, "", "").Discovery().ServerVersion(); !apierrors.IsUnauthorized(err) {
		t.Errorf("server version without a token: %v", err)
	}
	for _, bearer := range []string{"", "wrong-token"} {
		_, err := clientset(t, url, bearer, "").CoreV1().Secrets(ns).Get(ctx(t), "aws", metav1.GetOptions{})
		if !apierrors.IsUnauthorized(err) || err.Error() != "Unauthorized" {
			t.Errorf("token %q: %v, want Unauthorized", bearer, err)
		}
	}
}

func TestAuthorization(t *testing.T) {
	emu, url := setup(t)
	emu.AddNamespace("prod")
	for _, n := range []string{ns, "prod"} {
		if err := emu.AddSecret(n, "aws", map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if err := emu.AddDeployment(n, "web", 1); err != nil {
			t.Fatal(err)
		}
	}
	emu.AddToken("bot-token", "system:serviceaccount:ci:keyrotor",
		kubeemu.Grant{Namespaces: []string{ns}, Resources: []string{"secrets"}, Verbs: []string{"get", "update", "patch"}},
		kubeemu.Grant{Namespaces: []string{ns}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	)
	emu.AddToken("nobody-token", "nobody")
	bot := clientset(t, url, "bot-token", "")
	ctx := ctx(t)
	const user = `User "system:serviceaccount:ci:keyrotor"`
	tests := []struct {
		name string
		call func() error
		want string // "" for success
	}{
		{"get in its namespace", func() error {
			_, err := bot.CoreV1().Secrets(ns).Get(ctx, "aws", metav1.GetOptions{})
			return err
		}, ""},
		{"patch in its namespace", func() error {
			_, err := bot.CoreV1().Secrets(ns).Patch(ctx, "aws", types.MergePatchType, []byte(`{"stringData":{"k":"w"}}`), metav1.PatchOptions{})
			return err
		}, ""},
		{"get in another namespace", func() error {
			_, err := bot.CoreV1().Secrets("prod").Get(ctx, "aws", metav1.GetOptions{})
			return err
		}, `secrets "aws" is forbidden: ` + user + ` cannot get resource "secrets" in API group "" in the namespace "prod"`},
		{"get a missing one elsewhere", func() error {
			_, err := bot.CoreV1().Secrets("prod").Get(ctx, "nope", metav1.GetOptions{})
			return err
		}, `secrets "nope" is forbidden: ` + user + ` cannot get resource "secrets" in API group "" in the namespace "prod"`},
		{"create", func() error {
			_, err := bot.CoreV1().Secrets(ns).Create(ctx, awsKeySecret("new"), metav1.CreateOptions{})
			return err
		}, `secrets is forbidden: ` + user + ` cannot create resource "secrets" in API group "" in the namespace "ci"`},
		{"list across namespaces", func() error {
			_, err := bot.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}, `secrets is forbidden: ` + user + ` cannot list resource "secrets" in API group "" at the cluster scope`},
		{"restart", func() error {
			_, err := bot.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, restartPatch(time.Now()), metav1.PatchOptions{})
			return err
		}, `deployments.apps "web" is forbidden: ` + user + ` cannot patch resource "deployments" in API group "apps" in the namespace "ci"`},
		{"no grants", func() error {
			_, err := clientset(t, url, "nobody-token", "").CoreV1().Secrets(ns).Get(ctx, "aws", metav1.GetOptions{})
			return err
		}, `secrets "aws" is forbidden: User "nobody" cannot get resource "secrets" in API group "" in the namespace "ci"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (!apierrors.IsForbidden(err) || err.Error() != tt.want):
				t.Fatalf("error = %v\nwant Forbidden %s", err, tt.want)
			}
		})
	}
}

// The API server's validation and write rules, through client-go.
func TestSecretRules(t *testing.T) {
	emu, url := setup(t)
	c := clientset(t, url, token, "").CoreV1().Secrets(ns)
	ctx := ctx(t)
	immutable := true
	if err := emu.Add(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frozen"},
		Immutable:  &immutable,
		Data:       map[string][]byte{"k": []byte("v")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := emu.AddSecret(ns, "aws", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	seeded, _ := emu.Secret(ns, "aws")
	if s, err := c.Update(ctx, seeded, metav1.UpdateOptions{}); err != nil || s.ResourceVersion != seeded.ResourceVersion {
		t.Errorf("a no-op update of a seeded secret: %v, rv %s after %s", err, s.ResourceVersion, seeded.ResourceVersion)
	}
	if err := emu.AddSecret(ns, "aws", map[string]string{"bad key": "v"}); err == nil || !strings.Contains(err.Error(), "data[bad key]") {
		t.Errorf("seeding an invalid secret: %v", err)
	}
	if s, ok := emu.Secret(ns, "aws"); !ok || s.ResourceVersion != seeded.ResourceVersion {
		t.Error("a failed seeding lost the secret it was to replace")
	}
	tests := []struct {
		name  string
		call  func() error
		check func(error) bool
		want  string // a part of the message
	}{
		{"invalid key", func() error {
			_, err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}, StringData: map[string]string{"bad key": awsSecret}}, metav1.CreateOptions{})
			return err
		}, apierrors.IsInvalid, `Secret "x" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters`},
		{"invalid name", func() error {
			_, err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "Not_A_Name"}}, metav1.CreateOptions{})
			return err
		}, apierrors.IsInvalid, `metadata.name: Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain`},
		{"too large", func() error {
			_, err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string][]byte{"k": make([]byte, 1<<20+1)}}, metav1.CreateOptions{})
			return err
		}, apierrors.IsInvalid, `data: Too long: may not be more than 1048576 bytes`},
		{"TLS without its keys", func() error {
			_, err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Type: corev1.SecretTypeTLS}, metav1.CreateOptions{})
			return err
		}, apierrors.IsInvalid, `data[tls.crt]: Required value`},
		{"missing namespace", func() error {
			_, err := clientset(t, url, token, "").CoreV1().Secrets("nope").Create(ctx, awsKeySecret("x"), metav1.CreateOptions{})
			return err
		}, apierrors.IsNotFound, `namespaces "nope" not found`},
		{"resourceVersion on create", func() error {
			s := awsKeySecret("x")
			s.ResourceVersion = "5"
			_, err := c.Create(ctx, s, metav1.CreateOptions{})
			return err
		}, apierrors.IsInternalError, `resourceVersion should not be set on objects to be created`},
		{"name differs from the URL", func() error {
			s, _ := emu.Secret(ns, "aws")
			_, err := clientset(t, url, token, "").CoreV1().RESTClient().Put().Namespace(ns).Resource("secrets").Name("other").Body(s).Do(ctx).Get()
			return err
		}, apierrors.IsBadRequest, `the name of the object (aws) does not match the name on the URL (other)`},
		{"type change", func() error {
			s, _ := emu.Secret(ns, "aws")
			s.Type = corev1.SecretTypeBasicAuth
			_, err := c.Update(ctx, s, metav1.UpdateOptions{})
			return err
		}, apierrors.IsInvalid, `type: Invalid value: "kubernetes.io/basic-auth": field is immutable`},
		{"immutable data", func() error {
			_, err := c.Patch(ctx, "frozen", types.MergePatchType, []byte(`{"stringData":{"k":"w"}}`), metav1.PatchOptions{})
			return err
		}, apierrors.IsInvalid, "data: Forbidden: field is immutable when `immutable` is set"},
		{"update of a missing secret", func() error {
			_, err := c.Update(ctx, awsKeySecret("nope"), metav1.UpdateOptions{})
			return err
		}, apierrors.IsNotFound, `secrets "nope" not found`},
		{"delete with a stale precondition", func() error {
			stale := "1"
			return c.Delete(ctx, "aws", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}})
		}, apierrors.IsConflict, `Operation cannot be fulfilled on Secret "aws": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (`},
		{"server-side apply", func() error {
			_, err := c.Patch(ctx, "aws", types.ApplyYAMLPatchType, []byte(`{}`), metav1.PatchOptions{FieldManager: "t"})
			return err
		}, apierrors.IsUnsupportedMediaType, `415: Unsupported Media Type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), awsSecret) {
				t.Fatal("the error quotes the secret value")
			}
		})
	}

	// A dry run answers as a create would and stores nothing.
	s, err := c.Create(ctx, awsKeySecret("dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || s.Name != "dry" || s.ResourceVersion != "" {
		t.Errorf("dry run: %v, %+v", err, s.ObjectMeta)
	}
	if _, ok := emu.Secret(ns, "dry"); ok {
		t.Error("a dry run stored the secret")
	}
}

// The wire format as a plain HTTP client sees it: apiVersion and kind on
// every object, metav1.Status bodies for errors, JSON unless protobuf is
// asked for.
func TestWireFormat(t *testing.T) {
	emu, url := setup(t)
	if err := emu.AddSecret(ns, "aws", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, accept, contentType, body string) (int, string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, resp.Header.Get("Content-Type"), m
	}
	tests := []struct {
		name, method, path, accept, body string
		code                             int
		contentType                      string
		want                             map[string]any
	}{
		{"get", "GET", "/api/v1/namespaces/ci/secrets/aws", "", "", 200, "application/json",
			map[string]any{"apiVersion": "v1", "kind": "Secret"}},
		{"create", "POST", "/api/v1/namespaces/ci/secrets", "application/json", `{"metadata":{"name":"new"},"stringData":{"a":"b"}}`, 201, "application/json",
			map[string]any{"apiVersion": "v1", "kind": "Secret"}},
		{"deployment", "GET", "/apis/apps/v1/namespaces/default/deployments/none", "*/*", "", 404, "application/json",
			map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404.0,
				"message": `deployments.apps "none" not found`}},
		{"conflict", "PUT", "/api/v1/namespaces/ci/secrets/aws", "", `{"metadata":{"name":"aws","resourceVersion":"1"}}`, 409, "application/json",
			map[string]any{"kind": "Status", "reason": "Conflict", "code": 409.0,
				"details": map[string]any{"name": "aws", "kind": "secrets"}}},
		{"unknown resource", "GET", "/api/v1/namespaces/ci/configmaps/x", "", "", 404, "application/json",
			map[string]any{"kind": "Status", "reason": "NotFound", "message": "the server could not find the requested resource"}},
		{"namespace", "GET", "/api/v1/namespaces/ci", "", "", 200, "application/json",
			map[string]any{"apiVersion": "v1", "kind": "Namespace"}},
		{"protobuf", "GET", "/api/v1/namespaces/ci/secrets/aws", "application/vnd.kubernetes.protobuf,application/json", "", 200, "application/vnd.kubernetes.protobuf", nil},
		{"not acceptable", "GET", "/api/v1/namespaces/ci/secrets/aws", "text/html", "", 406, "application/json",
			map[string]any{"kind": "Status", "reason": "NotAcceptable",
				"message": "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf"}},
		{"unknown body type", "POST", "/api/v1/namespaces/ci/secrets", "", "", 415, "application/json",
			map[string]any{"kind": "Status", "reason": "UnsupportedMediaType"}},
		{"POST to a name", "POST", "/api/v1/namespaces/ci/secrets/aws", "", `{}`, 405, "application/json",
			map[string]any{"kind": "Status", "reason": "MethodNotAllowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodyType := "application/json"
			if tt.code == http.StatusUnsupportedMediaType {
				bodyType = "text/plain"
			}
			code, ct, m := do(tt.method, tt.path, tt.accept, bodyType, tt.body)
			if code != tt.code || ct != tt.contentType {
				t.Fatalf("%d %s, want %d %s", code, ct, tt.code, tt.contentType)
			}
			for k, v := range tt.want {
				if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
}

// No error ever quotes a Secret's value, however malformed the request
// (keys are names, and are quoted as the API server quotes them).
func TestSecretValueNeverInErrors(t *testing.T) {
	emu, url := setup(t)
	if err := emu.AddSecret(ns, "aws", map[string]string{"AWS_SECRET_ACCESS_KEY": awsSecret}); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(awsSecret))
	path := "/api/v1/namespaces/ci/secrets/aws"
	tests := []struct {
		name, method, path, contentType, body string
	}{
		{"malformed JSON", "PUT", path, "application/json", `{"metadata":{"name":"aws"},"stringData":{"k":"` + awsSecret + `"`},
		{"not base64", "PUT", path, "application/json", `{"metadata":{"name":"aws"},"data":{"k":"` + awsSecret + `!!"}}`},
		{"wrong type", "POST", "/api/v1/namespaces/ci/secrets", "application/json", `{"metadata":{"name":"x"},"data":"` + awsSecret + `"}`},
		{"invalid key", "POST", "/api/v1/namespaces/ci/secrets", "application/json", `{"metadata":{"name":"x"},"stringData":{"bad key":"` + awsSecret + `"}}`},
		{"malformed merge patch", "PATCH", path, "application/merge-patch+json", `{"stringData":{"k":"` + awsSecret + `"}`},
		{"malformed JSON patch", "PATCH", path, "application/json-patch+json", `[{"op":"add","path":"/data/k","value":"` + b64 + `"}`},
		{"failed JSON patch test", "PATCH", path, "application/json-patch+json", `[{"op":"test","path":"/data/AWS_SECRET_ACCESS_KEY","value":"` + b64 + `x"}]`},
		{"bad patch directive", "PATCH", path, "application/strategic-merge-patch+json", `{"data":{"$patch":"` + awsSecret + `"}}`},
		{"patched into a wrong type", "PATCH", path, "application/merge-patch+json", `{"data":"` + awsSecret + `"}`},
		{"patch of the kind", "PATCH", path, "application/merge-patch+json", `{"kind":"` + awsSecret + `"}`},
		{"dockerconfig", "POST", "/api/v1/namespaces/ci/secrets", "application/json", `{"metadata":{"name":"x"},"type":"kubernetes.io/dockerconfigjson","stringData":{".dockerconfigjson":"` + awsSecret + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 {
				t.Fatalf("status %d, want an error", resp.StatusCode)
			}
			for i := 0; i+8 <= len(awsSecret); i++ {
				if strings.Contains(string(b), awsSecret[i:i+8]) {
					t.Fatalf("the error quotes the secret: %s", b)
				}
			}
			if s, _ := emu.Secret(ns, "aws"); string(s.Data["AWS_SECRET_ACCESS_KEY"]) != awsSecret || len(s.Data) != 1 {
				t.Fatal("a failed request changed the secret")
			}
		})
	}
}

// Faults reach client-go as a real server's would, and calls are counted.
func TestFaultsAndCalls(t *testing.T) {
	emu, url := setup(t)
	if err := emu.AddSecret(ns, "aws", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	const op = "PUT /api/v1/namespaces/ci/secrets/aws"
	emu.Faults.Add(faults.Rule{Op: op, Status: http.StatusServiceUnavailable, Times: 1})
	c := clientset(t, url, token, "").CoreV1().Secrets(ns)
	s, err := c.Get(ctx(t), "aws", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx(t), s, metav1.UpdateOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("update: %v, want ServiceUnavailable", err)
	}
	if _, err := c.Update(ctx(t), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	calls := emu.Faults.Calls()
	if calls[op] != 2 || calls["GET /api/v1/namespaces/ci/secrets/aws"] != 1 {
		t.Errorf("calls = %v", calls)
	}
}
