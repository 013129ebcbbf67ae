package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/keyrotor/keyrotor/internal/model"
)

// KubernetesClusters builds the clientset of one cluster: a kubeconfig
// context, or with inCluster the cluster the worker runs in
// ((*clients.Kubernetes).Clientset). The activities call it once per
// cluster and keep the clientset.
type KubernetesClusters func(contextName string, inCluster bool) (kubernetes.Interface, error)

// TypeRolloutNotDone is a restarted workload that did not finish rolling out
// within the bound: the Secret holds the new key, the old key stays.
const TypeRolloutNotDone = "RolloutNotDone"

// The restart annotation `kubectl rollout restart` sets on a workload's pod
// template, and how long a rollout may take before the target fails.
const (
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	defaultRolloutTimeout = 5 * time.Minute
)

// Kubernetes pushes the key into a Secret's two data keys (the rotation's
// secret names), keeping its other keys, then restarts the workloads that
// read it as `kubectl rollout restart` does and waits until they rolled out
// as `kubectl rollout status` decides.
type Kubernetes struct {
	kindBase
	clusters KubernetesClusters

	mu   sync.Mutex
	sets map[string]kubernetes.Interface // by context ("" key prefix: in-cluster)

	// rolloutTimeout bounds a restart's rollout, counted from the restart.
	rolloutTimeout time.Duration
	// pollFirst and pollMax space the rollout status reads: the first
	// after pollFirst, each next one twice as late, up to pollMax.
	pollFirst, pollMax time.Duration
	// callTimeout bounds one call, client-go's own Retry-After waits
	// included, well inside the push's heartbeat timeout.
	callTimeout time.Duration
}

// NewKubernetes returns the kubernetes-secret kind.
func NewKubernetes(clusters KubernetesClusters, s Sealer, rs Rotations, opts ...Option) *Kubernetes {
	return &Kubernetes{
		kindBase: newKindBase("kubernetes", rs, s, opts), clusters: clusters, sets: map[string]kubernetes.Interface{},
		rolloutTimeout: defaultRolloutTimeout, pollFirst: 250 * time.Millisecond, pollMax: 5 * time.Second,
		callTimeout: 30 * time.Second,
	}
}

var _ TargetKind = (*Kubernetes)(nil)

func (a *Kubernetes) kinds() []model.TargetKind { return []model.TargetKind{model.KubernetesSecret} }

// clientset returns the cluster's clientset, building it on first use.
func (a *Kubernetes) clientset(t *model.KubernetesTarget) (kubernetes.Interface, error) {
	key := "context:" + t.Context
	if t.InCluster {
		key = "in-cluster"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cs, ok := a.sets[key]; ok {
		return cs, nil
	}
	cs, err := a.clusters(t.Context, t.InCluster)
	if err != nil {
		return nil, err
	}
	a.sets[key] = cs
	return cs, nil
}

// workload is one item of a target's restart list: deployment/x,
// statefulset/y or daemonset/z.
type workload struct{ kind, name string }

func (w workload) String() string { return w.kind + "/" + w.name }

func parseWorkloads(items []string) ([]workload, error) {
	var out []workload
	for _, s := range items {
		kind, name, ok := strings.Cut(s, "/")
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("restart item %q is not kind/name", s)
		case kind != "deployment" && kind != "statefulset" && kind != "daemonset":
			return nil, fmt.Errorf("restart item %q: the kind is deployment, statefulset or daemonset", s)
		}
		out = append(out, workload{kind, name})
	}
	return out, nil
}

// push makes, per target: a GET of the Secret and its update (or create),
// each again per resourceVersion conflict; a GET to read it back; per
// workload a GET and a PATCH (none when an earlier attempt's restart is
// already there); then a GET per workload per poll until each rolled out.
func (a *Kubernetes) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		t := p.req.Target.Kubernetes
		if t == nil {
			return "", nonRetryable(TypeValidation, p.target+": not a Kubernetes target", nil)
		}
		workloads, err := parseWorkloads(t.Restart)
		if err != nil {
			return "", nonRetryable(TypeValidation, p.target+": "+err.Error(), nil)
		}
		names := withDefaultNames(p.req.SecretNames)
		if names.AccessKeyID == names.SecretAccessKey {
			return "", nonRetryable(TypeValidation, p.target+": the key ID and the secret need different names", nil)
		}
		cs, err := a.clientset(t)
		if err != nil {
			return "", nonRetryable(TypeNotConfigured, p.target+": "+p.redactor().clean(err.Error()), nil)
		}
		secrets := cs.CoreV1().Secrets(t.Namespace)
		want := map[string][]byte{names.AccessKeyID: []byte(p.req.Key.ID), names.SecretAccessKey: []byte(p.req.Key.Secret.Reveal())}

		// The write: both data keys in one update, so the pair is never torn.
		if err := p.write("secret "+t.Namespace+"/"+t.Secret, func(ctx context.Context) error {
			return a.writeSecret(ctx, p, secrets, t, want)
		}, a.judge(p, "write the Secret")); err != nil {
			return "", err
		}

		// The read-back.
		var got *corev1.Secret
		if err := p.call(ctx, func(ctx context.Context) error {
			return a.request(ctx, p, func(ctx context.Context) (err error) {
				got, err = secrets.Get(ctx, t.Secret, metav1.GetOptions{})
				return err
			})
		}, a.judge(p, "read the Secret back")); err != nil {
			return "", err
		}
		for k, v := range want {
			if string(got.Data[k]) != string(v) {
				return "", p.notConfirmed("the Secret read back does not hold the new key")
			}
		}
		if len(workloads) == 0 {
			return ConfirmedReadBack, nil
		}

		// The restarts, at a time recorded once per key: a retried attempt
		// patches the same value again, which changes nothing.
		if p.progress.RestartedAt.IsZero() {
			p.progress.RestartedAt = a.now().UTC()
			p.progress.Step = "restarting"
			p.calls.heartbeat(ctx)
		}
		stamp := p.progress.RestartedAt.Format(time.RFC3339)
		for _, w := range workloads {
			if err := a.restart(ctx, p, cs, t.Namespace, w, stamp); err != nil {
				return "", err
			}
		}
		p.progress.Step = "restarted " + joinWorkloads(workloads)
		p.calls.heartbeat(ctx)
		if err := a.waitRollouts(ctx, p, cs, t.Namespace, workloads); err != nil {
			return "", err
		}
		return confirmedRolledOut(workloads), nil
	})
}

// joinWorkloads names the workloads, the first three in full.
func joinWorkloads(ws []workload) string {
	var names []string
	for i, w := range ws {
		if i == 3 {
			names = append(names, fmt.Sprintf("%d more", len(ws)-3))
			break
		}
		names = append(names, w.String())
	}
	return strings.Join(names, ", ")
}

// request makes one API request, bounded by callTimeout (client-go sleeps
// through Retry-After answers itself, up to ten times) and after a
// heartbeat, so that a slow one never outlives the heartbeat timeout.
func (a *Kubernetes) request(ctx context.Context, p *pushRun, fn func(ctx context.Context) error) error {
	p.calls.heartbeat(ctx)
	ctx, cancel := context.WithTimeout(ctx, a.callTimeout)
	defer cancel()
	return fn(ctx)
}

// writeSecret puts want into the Secret, keeping its other keys, its type,
// labels and annotations, or creates it. A resourceVersion conflict (or a
// create racing another) reads it again and retries. Every request past
// the first counts as a call of its own.
func (a *Kubernetes) writeSecret(ctx context.Context, p *pushRun, secrets secretsAPI, t *model.KubernetesTarget, want map[string][]byte) error {
	sent := 0
	defer func() { p.calls.calls += max(sent-1, 0) }()
	send := func(fn func(ctx context.Context) error) error {
		sent++
		return a.request(ctx, p, fn)
	}
	// Not retry.OnError: it takes an error wrapping a context deadline for
	// its own timeout and returns nil for it.
	for attempt := 1; ; attempt++ {
		err := writeSecretOnce(secrets, t, want, send)
		if err == nil || !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) || attempt == conflictTries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// conflictTries is how often a write of the Secret reads it again after a
// resourceVersion conflict, within one call.
const conflictTries = 5

// writeSecretOnce reads the Secret and updates it, or creates it.
func writeSecretOnce(secrets secretsAPI, t *model.KubernetesTarget, want map[string][]byte, send func(func(ctx context.Context) error) error) error {
	var cur *corev1.Secret
	err := send(func(ctx context.Context) (err error) {
		cur, err = secrets.Get(ctx, t.Secret, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: t.Secret, Namespace: t.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "keyrotor"}},
			Type: corev1.SecretTypeOpaque,
			Data: want,
		}
		return send(func(ctx context.Context) error {
			_, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: "keyrotor"})
			return err
		})
	case err != nil:
		return err
	}
	if cur.Data == nil {
		cur.Data = map[string][]byte{}
	}
	changed := false
	for k, v := range want {
		if string(cur.Data[k]) != string(v) {
			cur.Data[k] = v
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return send(func(ctx context.Context) error {
		_, err := secrets.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "keyrotor"})
		return err
	})
}

// secretsAPI is the part of a namespace's Secrets client a push uses.
type secretsAPI interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error)
	Create(ctx context.Context, s *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error)
	Update(ctx context.Context, s *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error)
}

// rollout is a workload as `kubectl rollout status` sees it.
type rollout struct {
	restartedAt string
	done        bool
	waiting     string // why not done yet
	refuse      string // why it cannot be restarted and waited for
	failed      string // why it will not finish (a Deployment past its progress deadline)
}

// getWorkload reads a workload and judges its rollout.
func getWorkload(ctx context.Context, cs kubernetes.Interface, ns string, w workload) (rollout, error) {
	apps := cs.AppsV1()
	switch w.kind {
	case "deployment":
		d, err := apps.Deployments(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return rollout{}, err
		}
		return deploymentRollout(d), nil
	case "statefulset":
		s, err := apps.StatefulSets(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return rollout{}, err
		}
		return statefulSetRollout(s), nil
	default:
		d, err := apps.DaemonSets(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return rollout{}, err
		}
		return daemonSetRollout(d), nil
	}
}

// patchWorkload sends a strategic merge patch to a workload.
func patchWorkload(ctx context.Context, cs kubernetes.Interface, ns string, w workload, patch []byte, opts metav1.PatchOptions) error {
	apps := cs.AppsV1()
	var err error
	switch w.kind {
	case "deployment":
		_, err = apps.Deployments(ns).Patch(ctx, w.name, types.StrategicMergePatchType, patch, opts)
	case "statefulset":
		_, err = apps.StatefulSets(ns).Patch(ctx, w.name, types.StrategicMergePatchType, patch, opts)
	default:
		_, err = apps.DaemonSets(ns).Patch(ctx, w.name, types.StrategicMergePatchType, patch, opts)
	}
	return err
}

// The rollout status of each kind, as kubectl's status viewers decide it
// (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go).

func deploymentRollout(d *appsv1.Deployment) rollout {
	r := rollout{restartedAt: d.Spec.Template.Annotations[restartedAtAnnotation]}
	if d.Spec.Paused {
		r.refuse = "is paused (kubectl rollout resume it, or take it off restart)"
		return r
	}
	st := d.Status
	if d.Generation > st.ObservedGeneration {
		r.waiting = "its new generation is not observed yet"
		return r
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			r.failed = "exceeded its progress deadline"
			return r
		}
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	switch {
	case st.UpdatedReplicas < replicas:
		r.waiting = fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, replicas)
	case st.Replicas > st.UpdatedReplicas:
		r.waiting = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.waiting = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.done = true
	}
	return r
}

func statefulSetRollout(s *appsv1.StatefulSet) rollout {
	r := rollout{restartedAt: s.Spec.Template.Annotations[restartedAtAnnotation]}
	if t := s.Spec.UpdateStrategy.Type; t != "" && t != appsv1.RollingUpdateStatefulSetStrategyType {
		r.refuse = "uses the " + string(t) + " update strategy: a restart replaces none of its pods"
		return r
	}
	st := s.Status
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		r.waiting = "its new generation is not observed yet"
		return r
	}
	if s.Spec.Replicas != nil && st.ReadyReplicas < *s.Spec.Replicas {
		r.waiting = fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, *s.Spec.Replicas)
		return r
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && s.Spec.Replicas != nil {
		if want := *s.Spec.Replicas - *ru.Partition; st.UpdatedReplicas < want {
			r.waiting = fmt.Sprintf("%d of %d new pods rolled out (partition %d)", st.UpdatedReplicas, want, *ru.Partition)
			return r
		}
		r.done = true
		return r
	}
	if st.UpdateRevision != st.CurrentRevision {
		r.waiting = fmt.Sprintf("%d pods at the new revision", st.UpdatedReplicas)
		return r
	}
	r.done = true
	return r
}

func daemonSetRollout(d *appsv1.DaemonSet) rollout {
	r := rollout{restartedAt: d.Spec.Template.Annotations[restartedAtAnnotation]}
	if t := d.Spec.UpdateStrategy.Type; t != "" && t != appsv1.RollingUpdateDaemonSetStrategyType {
		r.refuse = "uses the " + string(t) + " update strategy: a restart replaces none of its pods"
		return r
	}
	st := d.Status
	switch {
	case d.Generation > st.ObservedGeneration:
		r.waiting = "its new generation is not observed yet"
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		r.waiting = fmt.Sprintf("%d of %d new pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		r.waiting = fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	default:
		r.done = true
	}
	return r
}

// restartPatch is what `kubectl rollout restart` sends.
func restartPatch(stamp string) []byte {
	b, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{restartedAtAnnotation: stamp}}}}})
	return b
}

// restart reads the workload and, unless it already carries this key's
// restart stamp, patches it with it.
func (a *Kubernetes) restart(ctx context.Context, p *pushRun, cs kubernetes.Interface, ns string, w workload, stamp string) error {
	var r rollout
	if err := p.call(ctx, func(ctx context.Context) error {
		return a.request(ctx, p, func(ctx context.Context) (err error) { r, err = getWorkload(ctx, cs, ns, w); return err })
	}, a.judge(p, "get "+w.String())); err != nil {
		return err
	}
	if r.refuse != "" {
		return nonRetryable(TypeUnprocessable, p.target+": "+w.String()+" "+r.refuse+"; the Secret holds the new key", nil)
	}
	if r.restartedAt == stamp {
		return nil
	}
	return p.call(ctx, func(ctx context.Context) error {
		return a.request(ctx, p, func(ctx context.Context) error {
			return patchWorkload(ctx, cs, ns, w, restartPatch(stamp), metav1.PatchOptions{FieldManager: "keyrotor"})
		})
	}, a.judge(p, "restart "+w.String()))
}

// waitRollouts polls the workloads until each rolled out, heartbeating
// while it sleeps. The bound counts from the restart, across attempts; an
// attempt whose deadline comes first ends retryable, and the next one
// waits on without restarting again.
func (a *Kubernetes) waitRollouts(ctx context.Context, p *pushRun, cs kubernetes.Interface, ns string, ws []workload) error {
	bound := p.progress.RestartedAt.Add(a.rolloutTimeout)
	pending := ws
	pause := a.pollFirst
	for {
		var still []workload
		var why []string
		for _, w := range pending {
			var r rollout
			if err := p.call(ctx, func(ctx context.Context) error {
				return a.request(ctx, p, func(ctx context.Context) (err error) { r, err = getWorkload(ctx, cs, ns, w); return err })
			}, a.judge(p, "rollout status of "+w.String())); err != nil {
				return err
			}
			switch {
			case r.refuse != "":
				return nonRetryable(TypeUnprocessable, p.target+": "+w.String()+" "+r.refuse+"; the Secret holds the new key", nil)
			case r.failed != "":
				return nonRetryable(TypeRolloutNotDone, p.target+": "+w.String()+" "+r.failed+"; the Secret holds the new key, the old key stays active", nil)
			case !r.done:
				still = append(still, w)
				why = append(why, w.String()+": "+r.waiting)
			}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		p.progress.Step = "rolling out " + joinWorkloads(pending)
		if !a.now().Before(bound) {
			return nonRetryable(TypeRolloutNotDone, fmt.Sprintf("%s: %s did not roll out within %s (%s); the Secret holds the new key, the old key stays active",
				p.target, joinWorkloads(pending), a.rolloutTimeout, strings.Join(why, "; ")), nil)
		}
		if !p.calls.fitsDeadline(ctx, pause) {
			return retryable(TypeNotConfirmed, p.target+": still rolling out "+joinWorkloads(pending)+"; the next attempt waits on without restarting", nil)
		}
		if err := p.calls.sleep(ctx, min(pause, time.Until(bound)+time.Millisecond)); err != nil {
			return err
		}
		pause = min(2*pause, a.pollMax)
	}
}

// judge classifies an API error in the one vocabulary, naming the target
// and what was done: refused credentials, a missing namespace or object
// and an invalid object are final; 429 waits as asked; conflicts, 5xx and
// timeouts are retried.
func (a *Kubernetes) judge(p *pushRun, what string) func(error) failure {
	return func(err error) failure {
		msg := p.target + ": " + what + ": " + p.redactor().clean(err.Error())
		switch {
		case apierrors.IsTooManyRequests(err):
			wait := time.Duration(0)
			if secs, ok := apierrors.SuggestsClientDelay(err); ok {
				wait = time.Duration(secs) * time.Second
			}
			return failure{err: rateLimited(msg, wait, nil), wait: wait, transient: wait == 0}
		case apierrors.IsUnauthorized(err):
			return failure{err: nonRetryable(TypeUnauthorized, msg+"; the cluster refuses the credentials of the worker's kubeconfig context", nil)}
		case apierrors.IsForbidden(err):
			return failure{err: nonRetryable(TypeUnauthorized, msg+"; grant the worker the Role in docs/targets/kubernetes.md", nil)}
		case apierrors.IsNotFound(err):
			return failure{err: nonRetryable(TypeNotFound, msg, nil)}
		case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err),
			apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err), apierrors.IsRequestEntityTooLargeError(err):
			return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
		case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
			return failure{err: errors.New(msg), transient: true}
		}
		var se apierrors.APIStatus
		if errors.As(err, &se) {
			if code := se.Status().Code; code >= 400 && code < 500 && code != 408 {
				return failure{err: nonRetryable(TypeUnprocessable, msg, nil)}
			}
		}
		return failure{err: errors.New(msg), transient: true}
	}
}

// check reads the Secret and the workloads, and asks the API server to
// dry-run the writes a push makes (an update of the Secret, or its create,
// and a patch of each workload), so that RBAC answers for each verb while
// nothing changes.
func (a *Kubernetes) check(ctx context.Context, t model.Target) TargetCheck {
	kt := t.Kubernetes
	if kt == nil {
		return TargetCheck{Detail: "not a Kubernetes target"}
	}
	workloads, err := parseWorkloads(kt.Restart)
	if err != nil {
		return TargetCheck{Detail: err.Error()}
	}
	cs, err := a.clientset(kt)
	if err != nil {
		return TargetCheck{Detail: (&redactor{}).clean(err.Error())}
	}
	ctx, cancel := context.WithTimeout(ctx, a.callTimeout)
	defer cancel()
	need := "; the worker needs get, create and update on the Secret and get and patch on the workloads it restarts (docs/targets/kubernetes.md)"
	fail := func(what string, err error) TargetCheck {
		return TargetCheck{Detail: what + ": " + (&redactor{}).clean(err.Error()) + need}
	}
	dry := []string{metav1.DryRunAll}
	secrets := cs.CoreV1().Secrets(kt.Namespace)
	s, err := secrets.Get(ctx, kt.Secret, metav1.GetOptions{})
	detail := "the Secret is readable and writable (dry run)"
	switch {
	case apierrors.IsNotFound(err):
		_, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: kt.Secret}, Type: corev1.SecretTypeOpaque},
			metav1.CreateOptions{DryRun: dry})
		if err != nil {
			return fail("create the Secret (dry run)", err)
		}
		detail = "the Secret does not exist yet and may be created (dry run)"
	case err != nil:
		return fail("get the Secret", err)
	default:
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{DryRun: dry}); err != nil {
			return fail("update the Secret (dry run)", err)
		}
	}
	for _, w := range workloads {
		r, err := getWorkload(ctx, cs, kt.Namespace, w)
		if err != nil {
			return fail("get "+w.String(), err)
		}
		if r.refuse != "" {
			return TargetCheck{Detail: w.String() + " " + r.refuse}
		}
		if err := patchWorkload(ctx, cs, kt.Namespace, w, []byte("{}"), metav1.PatchOptions{DryRun: dry}); err != nil {
			return fail("patch "+w.String()+" (dry run)", err)
		}
	}
	if len(workloads) > 0 {
		detail += "; " + joinWorkloads(workloads) + " may be restarted (dry run)"
	}
	return TargetCheck{OK: true, Detail: detail}
}

// confirmedRolledOut is how a Kubernetes push with restarts is confirmed.
func confirmedRolledOut(ws []workload) string {
	return ConfirmedReadBack + " and rolled out " + joinWorkloads(ws)
}

// plan: the Secret's two data keys, read back, then the restarts.
func (a *Kubernetes) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: names, Where: "data keys of the Secret", ConfirmedBy: ConfirmedReadBack}
	if t.Kubernetes == nil {
		return p
	}
	p.Restarts = slices.Clone(t.Kubernetes.Restart)
	if len(t.Kubernetes.Restart) == 0 {
		return p
	}
	ws, err := parseWorkloads(t.Kubernetes.Restart)
	if err != nil {
		p.Detail = err.Error()
		return p
	}
	p.ConfirmedBy = confirmedRolledOut(ws)
	return p
}
