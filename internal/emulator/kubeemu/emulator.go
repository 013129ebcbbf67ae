// Package kubeemu emulates the parts of the Kubernetes API server that a
// Kubernetes target needs: core/v1 Secrets (get, list, create, update,
// patch, delete) and the apps/v1 workloads whose pods read them
// (Deployments, StatefulSets and DaemonSets: the same verbs), with a
// controller that rolls their pods over real time, so that a restart after a
// key is pushed can be waited for. It serves real HTTP so that the typed
// clientset of k8s.io/client-go can be tested against it, and it enforces
// what the API server enforces, with its status codes and metav1.Status
// bodies:
//
//   - optimistic concurrency: every write bumps one cluster-wide
//     resourceVersion counter; an update or patch carrying a stale
//     resourceVersion gets 409 Conflict ("the object has been modified"), so
//     client-go's retry.RetryOnConflict behaves as in production; a write
//     that changes nothing does not bump it;
//   - 404 NotFound, 409 AlreadyExists, 422 Invalid (names, Secret data keys
//     and size, Secret types' required keys, immutable Secrets and fields,
//     workload selectors), 400 BadRequest (a name or namespace that differs
//     from the URL's);
//   - bearer-token authentication (401 Unauthorized, as with
//     --anonymous-auth=false) and RBAC-like authorization (403 Forbidden with
//     the authorizer's message: `secrets "x" is forbidden: User "u" cannot
//     get resource "secrets" in API group "" in the namespace "ns"`);
//   - the server's write semantics: stringData merged into data, defaults
//     (Secret type Opaque, a workload's replicas, strategy and pod template
//     defaults), status ignored on the main resource, metadata.generation
//     bumped by a change to a workload's spec (and, for a Deployment, its
//     annotations), as the registry strategies do;
//   - JSON and protobuf: client-go's typed clients send protobuf for
//     built-in types unless rest.Config.ContentType says otherwise, and
//     accept protobuf or JSON; the emulator decodes either and answers in
//     the first type the client accepts.
//
// Patches: strategic merge patch (what `kubectl rollout restart` sends),
// JSON merge patch and JSON patch, applied with the same libraries as the
// API server. Server-side apply is not emulated (415), nor are watches,
// managedFields, finalizers and graceful deletion, the /status and /scale
// subresources, discovery and OpenAPI.
//
// The rollout controller runs lazily: every request that touches a workload
// first lets its controller catch up with the time passed, one step per
// SetRolloutStep delay (observe the new generation; start a new pod; make it
// ready and retire an old one; ...), each step a status write that bumps
// the resourceVersion as the real controllers' writes do. SetStuck makes a
// workload's new pods never become ready, so its rollout never completes.
//
// Unlike the real API server, no error message ever quotes a request body:
// a Secret's data never appears in an error.
//
// The API, as emulated:
//   - API concepts (resourceVersion, patches, dry run):
//     https://kubernetes.io/docs/reference/using-api/api-concepts/
//   - Secret: https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/
//     and https://kubernetes.io/docs/concepts/configuration/secret/
//   - Deployment: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
//     and https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
//   - StatefulSet: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/stateful-set-v1/
//   - DaemonSet: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/daemon-set-v1/
//   - Status: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
//   - authentication: https://kubernetes.io/docs/reference/access-authn-authz/authentication/
//   - RBAC: https://kubernetes.io/docs/reference/access-authn-authz/rbac/
//   - kubectl rollout restart and status:
//     https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/
package kubeemu

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

// AdminUser is the user name of the token given to New.
const AdminUser = "kubernetes-admin"

// DefaultRolloutStep is the controller's delay between two rollout steps
// until SetRolloutStep changes it.
const DefaultRolloutStep = 200 * time.Millisecond

// RestartedAtAnnotation is the pod template annotation that
// `kubectl rollout restart` sets to the time of the restart.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Kind names a workload kind.
type Kind string

// The workload kinds the emulator rolls.
const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
	KindDaemonSet   Kind = "DaemonSet"
)

// Grant allows a token some verbs on some resources in some namespaces,
// like a RoleBinding of a Role with one rule, or with no Namespaces a
// ClusterRoleBinding. An empty list allows everything of its kind.
type Grant struct {
	Namespaces []string // empty: every namespace, and lists across all of them
	Resources  []string // "secrets", "deployments", "statefulsets", "daemonsets", "namespaces"
	Verbs      []string // "get", "list", "create", "update", "patch", "delete"
}

// InNamespaces is a grant of every verb on every resource in namespaces.
func InNamespaces(namespaces ...string) Grant { return Grant{Namespaces: namespaces} }

func (g Grant) allows(verb, resource, namespace string) bool {
	if len(g.Namespaces) > 0 && (namespace == "" || !slices.Contains(g.Namespaces, namespace)) {
		return false
	}
	return (len(g.Resources) == 0 || slices.Contains(g.Resources, resource)) &&
		(len(g.Verbs) == 0 || slices.Contains(g.Verbs, verb))
}

type user struct {
	name   string
	admin  bool
	grants []Grant
}

func (u *user) allowed(verb, resource, namespace string) bool {
	if u.admin {
		return true
	}
	for _, g := range u.grants {
		if g.allows(verb, resource, namespace) {
			return true
		}
	}
	return false
}

// object is what the emulator stores: a typed API object.
type object interface {
	runtime.Object
	metav1.Object
}

type key struct{ resource, namespace, name string }

type entry struct {
	obj object
	ctl *controller // workloads only
}

// Emulator is an in-memory Kubernetes API server. It is safe for
// concurrent use.
type Emulator struct {
	// Faults injects failures and counts calls; operations are named
	// "METHOD path", e.g. "PUT /api/v1/namespaces/ci/secrets/aws" or
	// "PATCH /apis/apps/v1/namespaces/ci/deployments/web".
	Faults *faults.Injector

	handler http.Handler
	now     func() time.Time

	mu         sync.Mutex
	users      map[string]*user // by bearer token
	rv         uint64           // the cluster-wide resourceVersion counter
	namespaces map[string]*corev1.Namespace
	objects    map[key]*entry
	step       time.Duration
}

// New returns a cluster with the namespaces default and kube-system that
// accepts token as AdminUser with full access.
func New(token string) *Emulator {
	e := &Emulator{
		Faults:     faults.New(),
		now:        time.Now,
		users:      map[string]*user{token: {name: AdminUser, admin: true}},
		namespaces: map[string]*corev1.Namespace{},
		objects:    map[key]*entry{},
		step:       DefaultRolloutStep,
	}
	e.AddNamespace(metav1.NamespaceDefault)
	e.AddNamespace(metav1.NamespaceSystem)
	e.handler = e.Faults.Middleware(http.HandlerFunc(e.serve), opOf)
	return e
}

// Handler serves the API under /api/v1 and /apis/apps/v1, and /version.
func (e *Emulator) Handler() http.Handler { return e.handler }

// AddToken accepts another token, authenticated as userName and allowed
// what grants allow (nothing without grants: every request is then 403).
func (e *Emulator) AddToken(token, userName string, grants ...Grant) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[token] = &user{name: userName, grants: slices.Clone(grants)}
}

// SetRolloutStep sets the controllers' delay between two rollout steps (0:
// every step is due at once).
func (e *Emulator) SetRolloutStep(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.objects {
		e.advance(en) // steps already due run at the old pace
	}
	e.step = d
}

// ResourceVersion returns the cluster's current resourceVersion.
func (e *Emulator) ResourceVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprint(e.rv)
}

// AddNamespace creates an active namespace (or does nothing if it exists).
func (e *Emulator) AddNamespace(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addNamespace(name)
}

func (e *Emulator) addNamespace(name string) {
	if _, ok := e.namespaces[name]; ok {
		return
	}
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelMetadataName: name}},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	e.fillCreated(ns)
	e.namespaces[name] = ns
}

// AddSecret creates or replaces an Opaque Secret holding data, creating
// its namespace if needed, without authorization (to seed a state).
func (e *Emulator) AddSecret(namespace, name string, data map[string]string) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{},
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return e.Add(s)
}

// AddDeployment creates or replaces a Deployment of replicas pods, rolled
// out and available (its pods run container "app" of image
// "registry.example/<name>:1", labelled app=<name>).
func (e *Emulator) AddDeployment(namespace, name string, replicas int32) error {
	return e.Add(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: appLabels(name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: appLabels(name)},
			Template: podTemplate(name),
		},
	})
}

// AddStatefulSet creates or replaces a StatefulSet of replicas pods, rolled
// out and ready (see AddDeployment for its pods).
func (e *Emulator) AddStatefulSet(namespace, name string, replicas int32) error {
	return e.Add(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: appLabels(name)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: appLabels(name)},
			Template:    podTemplate(name),
		},
	})
}

// AddDaemonSet creates or replaces a DaemonSet running on nodes nodes,
// rolled out and available (see AddDeployment for its pods).
func (e *Emulator) AddDaemonSet(namespace, name string, nodes int32) error {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: appLabels(name)},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels(name)},
			Template: podTemplate(name),
		},
	}
	return e.add(ds, nodes)
}

// Add creates or replaces any object the emulator serves (a
// *corev1.Secret, *appsv1.Deployment, *appsv1.StatefulSet or
// *appsv1.DaemonSet) as the API server would store it (defaults applied,
// validated), creating its namespace if needed; a workload starts rolled
// out, a DaemonSet on 3 nodes.
func (e *Emulator) Add(obj runtime.Object) error { return e.add(obj, defaultNodes) }

func (e *Emulator) add(obj runtime.Object, nodes int32) error {
	o, ok := obj.DeepCopyObject().(object)
	res := resourceOf(obj)
	if !ok || res == nil {
		return fmt.Errorf("kubeemu: cannot store a %T", obj)
	}
	ns, name := o.GetNamespace(), o.GetName()
	if ns == "" {
		return fmt.Errorf("kubeemu: %s %q has no namespace", res.kind, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addNamespace(ns)
	k := key{res.plural, ns, name}
	old, existed := e.objects[k]
	delete(e.objects, k)
	o.SetResourceVersion("")
	res.normalize(o)
	if _, err := e.create(res, ns, o, false); err != nil {
		if existed {
			e.objects[k] = old
		}
		return fmt.Errorf("kubeemu: seeding %s %s/%s: %s", res.kind, ns, name, messageOf(err))
	}
	if en := e.objects[k]; en.ctl != nil {
		en.ctl.nodes = nodes
		en.ctl.settle(en.obj)
		e.syncStatus(en, e.now())
	}
	return nil
}

// Secret returns a copy of a Secret.
func (e *Emulator) Secret(namespace, name string) (*corev1.Secret, bool) {
	o, ok := e.get("secrets", namespace, name)
	if !ok {
		return nil, false
	}
	return o.(*corev1.Secret), true
}

// Deployment returns a copy of a Deployment, its status brought up to date.
func (e *Emulator) Deployment(namespace, name string) (*appsv1.Deployment, bool) {
	o, ok := e.get("deployments", namespace, name)
	if !ok {
		return nil, false
	}
	return o.(*appsv1.Deployment), true
}

// StatefulSet returns a copy of a StatefulSet, its status brought up to date.
func (e *Emulator) StatefulSet(namespace, name string) (*appsv1.StatefulSet, bool) {
	o, ok := e.get("statefulsets", namespace, name)
	if !ok {
		return nil, false
	}
	return o.(*appsv1.StatefulSet), true
}

// DaemonSet returns a copy of a DaemonSet, its status brought up to date.
func (e *Emulator) DaemonSet(namespace, name string) (*appsv1.DaemonSet, bool) {
	o, ok := e.get("daemonsets", namespace, name)
	if !ok {
		return nil, false
	}
	return o.(*appsv1.DaemonSet), true
}

func (e *Emulator) get(resource, namespace, name string) (object, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.objects[key{resource, namespace, name}]
	if !ok {
		return nil, false
	}
	e.advance(en)
	return en.obj.DeepCopyObject().(object), true
}

// Rollout is a workload's rollout as the emulator's controller sees it.
type Rollout struct {
	Generation         int64
	ObservedGeneration int64
	Desired            int32 // spec.replicas, or a DaemonSet's nodes
	Total              int32 // pods, old and new
	Updated            int32 // pods running the current pod template
	Ready              int32
	Available          int32
	RestartedAt        string // the pod template's RestartedAtAnnotation
	Stuck              bool
	// Done is what `kubectl rollout status` would call complete.
	Done bool
}

// Rollout reports a workload's rollout, brought up to date.
func (e *Emulator) Rollout(kind Kind, namespace, name string) (Rollout, bool) {
	res := resourceOfKind(kind)
	if res == nil {
		return Rollout{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.objects[key{res.plural, namespace, name}]
	if !ok {
		return Rollout{}, false
	}
	e.advance(en)
	return en.ctl.report(en.obj), true
}

// SetStuck makes a workload's new pods never become ready (an image that
// cannot be pulled, a crash loop), so that its rollouts never complete
// (a Deployment's progress deadline then passes); false lets them go on.
func (e *Emulator) SetStuck(kind Kind, namespace, name string, stuck bool) error {
	res := resourceOfKind(kind)
	if res == nil {
		return fmt.Errorf("kubeemu: %q is not a workload kind", kind)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.objects[key{res.plural, namespace, name}]
	if !ok {
		return fmt.Errorf("kubeemu: no %s %s/%s", kind, namespace, name)
	}
	e.advance(en)
	en.ctl.stuck = stuck
	e.wake(en)
	return nil
}

func appLabels(name string) map[string]string { return map[string]string{"app": name} }

func podTemplate(name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: appLabels(name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example/" + name + ":1",
		}}},
	}
}

// opOf names a request for the fault injector: method and path.
//
// It also reads the body up front (leaving a copy for the handler): the
// HTTP server notices a client hanging up only once the body is consumed,
// and an injected Delay must end when a client times out, not run its course.
func opOf(r *http.Request) string {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err == nil {
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	return r.Method + " " + r.URL.Path
}
