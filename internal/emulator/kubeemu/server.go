package kubeemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"
)

// optimisticLockErrorMsg is the API server's message for a stale
// resourceVersion (registry.OptimisticLockErrorMsg).
const optimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

// request is what the API server's RequestInfo holds.
type request struct {
	verb      string // get, list, watch, create, update, patch, delete, deletecollection
	res       *resource
	namespace string // "" for a list across namespaces
	name      string
	subpath   string // a subresource
	isNS      bool   // /api/v1/namespaces[/name]
}

// resourceName is the resource as RBAC names it.
func (q *request) resourceName() string {
	if q.isNS {
		return "namespaces"
	}
	return q.res.plural
}

func (q *request) group() string {
	if q.isNS {
		return ""
	}
	return q.res.group
}

// parseRequest reads the path the way the API server's RequestInfoFactory
// does, for the paths the emulator serves.
func parseRequest(r *http.Request) (*request, bool) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group, ver string
	switch {
	case len(segs) >= 3 && segs[0] == "api" && segs[1] == "v1":
		ver, segs = "v1", segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		group, ver, segs = segs[1], segs[2], segs[3:]
	default:
		return nil, false
	}
	q := &request{}
	if segs[0] == "namespaces" && group == "" && len(segs) <= 2 {
		q.isNS = true
		if len(segs) == 2 {
			q.name, q.namespace = segs[1], segs[1]
		}
	} else {
		if segs[0] == "namespaces" {
			if len(segs) < 3 {
				return nil, false
			}
			q.namespace, segs = segs[1], segs[2:]
		}
		q.res = lookupResource(group, ver, segs[0])
		if q.res == nil || len(segs) > 3 {
			return nil, false
		}
		if len(segs) >= 2 {
			q.name = segs[1]
		}
		if len(segs) == 3 {
			q.subpath = segs[2]
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q.verb = "get"
		if q.name == "" {
			q.verb = "list"
			if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
				q.verb = "watch"
			}
		}
	case http.MethodPost:
		q.verb = "create"
	case http.MethodPut:
		q.verb = "update"
	case http.MethodPatch:
		q.verb = "patch"
	case http.MethodDelete:
		q.verb = "delete"
		if q.name == "" {
			q.verb = "deletecollection"
		}
	default:
		q.verb = strings.ToLower(r.Method)
	}
	return q, true
}

// serve authenticates, authorizes and routes one request.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	u := e.authenticate(r)
	if u == nil {
		writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	if r.URL.Path == "/version" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(version.Info{
			Major: "1", Minor: "36", GitVersion: "v1.36.6", GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		})
		return
	}
	q, ok := parseRequest(r)
	if !ok {
		writeError(w, r, notFound())
		return
	}
	if !e.authorize(u, q) {
		writeError(w, r, forbidden(u, q))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, apierrors.NewBadRequest("the request body could not be read"))
		return
	}
	if q.subpath != "" {
		writeError(w, r, notFound())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if q.isNS {
		e.serveNamespace(w, r, q)
		return
	}
	code, obj, err := e.route(r, q, body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeObject(w, r, code, obj)
}

func (e *Emulator) route(r *http.Request, q *request, body []byte) (int, k8sruntime.Object, error) {
	query := r.URL.Query()
	dryRun, err := dryRunOf(query["dryRun"])
	if err != nil {
		return 0, nil, err
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case q.verb == "get" && q.name != "":
		o, err := e.read(q.res, q.namespace, q.name)
		return http.StatusOK, o, err
	case q.verb == "list":
		return e.list(q.res, q.namespace, query.Get("labelSelector"), query.Get("fieldSelector"))
	case q.verb == "watch":
		return 0, nil, apierrors.NewMethodNotSupported(q.res.gr(), "watch")
	case q.verb == "create" && q.name == "" && q.namespace != "":
		obj, err := decodeBody(q.res, ct, body)
		if err != nil {
			return 0, nil, err
		}
		o, err := e.create(q.res, q.namespace, obj, dryRun)
		return http.StatusCreated, o, err
	case q.verb == "update" && q.name != "":
		obj, err := decodeBody(q.res, ct, body)
		if err != nil {
			return 0, nil, err
		}
		if err := checkName(obj, q.name, q.namespace); err != nil {
			return 0, nil, err
		}
		o, err := e.update(q.res, q.namespace, q.name, obj, dryRun)
		return http.StatusOK, o, err
	case q.verb == "patch" && q.name != "":
		o, err := e.patch(q.res, q.namespace, q.name, types.PatchType(mediaType(ct)), body, dryRun)
		return http.StatusOK, o, err
	case q.verb == "delete" && q.name != "":
		opts := &metav1.DeleteOptions{}
		if len(body) > 0 {
			if err := decodeOptions(ct, body, opts); err != nil {
				return 0, nil, err
			}
			if len(opts.DryRun) > 0 {
				if dryRun, err = dryRunOf(opts.DryRun); err != nil {
					return 0, nil, err
				}
			}
		}
		st, err := e.delete(q.res, q.namespace, q.name, opts.Preconditions, dryRun)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, st, nil
	default:
		return 0, nil, methodNotAllowed()
	}
}

// authenticate reads the bearer token; nil means 401.
func (e *Emulator) authenticate(r *http.Request) *user {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.users[strings.TrimSpace(token)]
}

func (e *Emulator) authorize(u *user, q *request) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return u.allowed(q.verb, q.resourceName(), q.namespace)
}

// forbidden is the authorizer's 403 (responsewriters.Forbidden).
func forbidden(u *user, q *request) error {
	resource := q.resourceName()
	if q.subpath != "" {
		resource += "/" + q.subpath
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", u.name, q.verb, resource, q.group())
	if q.namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", q.namespace)
	} else {
		msg += " at the cluster scope"
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: q.group(), Resource: q.resourceName()}, q.name, errors.New(msg))
}

func notFound() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{},
	}}
}

func methodNotAllowed() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed, Reason: metav1.StatusReasonMethodNotAllowed,
		Message: "the server does not allow this method on the requested resource", Details: &metav1.StatusDetails{},
	}}
}

func dryRunOf(values []string) (bool, error) {
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "Options"}, "",
				field.ErrorList{field.NotSupported(field.NewPath("dryRun"), v, []string{metav1.DryRunAll})})
		}
	}
	return len(values) > 0, nil
}

// serveNamespace answers GET /api/v1/namespaces/{name}. Callers hold mu.
func (e *Emulator) serveNamespace(w http.ResponseWriter, r *http.Request, q *request) {
	if q.verb != "get" || q.name == "" {
		writeError(w, r, methodNotAllowed())
		return
	}
	ns, ok := e.namespaces[q.name]
	if !ok {
		writeError(w, r, apierrors.NewNotFound(namespacesGR, q.name))
		return
	}
	out := ns.DeepCopy()
	out.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	writeObject(w, r, http.StatusOK, out)
}

// read returns an object, its controller caught up. Callers hold mu.
func (e *Emulator) read(res *resource, namespace, name string) (object, error) {
	en, ok := e.objects[key{res.plural, namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(res.gr(), name)
	}
	e.advance(en)
	return res.withKind(en.obj), nil
}

// list answers a list in one namespace or (namespace "") all. Callers hold mu.
func (e *Emulator) list(res *resource, namespace, labelSelector, fieldSelector string) (int, k8sruntime.Object, error) {
	lsel, err := labels.Parse(labelSelector)
	if err != nil {
		return 0, nil, apierrors.NewBadRequest(err.Error())
	}
	fsel, err := fields.ParseSelector(fieldSelector)
	if err != nil {
		return 0, nil, apierrors.NewBadRequest(err.Error())
	}
	known := res.fieldLabels(res.new())
	for _, req := range fsel.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return 0, nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	var items []object
	for k, en := range e.objects {
		if k.resource != res.plural || (namespace != "" && k.namespace != namespace) {
			continue
		}
		e.advance(en)
		if lsel.Matches(labels.Set(en.obj.GetLabels())) && fsel.Matches(res.fieldLabels(en.obj)) {
			items = append(items, en.obj.DeepCopyObject().(object))
		}
	}
	sortObjects(items)
	l := res.list(items)
	l.GetObjectKind().SetGroupVersionKind(res.gv().WithKind(res.kind + "List"))
	if lm, err := meta.ListAccessor(l); err == nil {
		lm.SetResourceVersion(strconv.FormatUint(e.rv, 10))
	}
	return http.StatusOK, l, nil
}

// create is the registry's Create. Callers hold mu.
func (e *Emulator) create(res *resource, namespace string, obj object, dryRun bool) (object, error) {
	if err := ensureNamespace(namespace, obj); err != nil {
		return nil, err
	}
	if _, ok := e.namespaces[namespace]; !ok {
		return nil, apierrors.NewNotFound(namespacesGR, namespace)
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + utilrand.String(5))
	}
	name := obj.GetName()
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // stored without; served with
	obj.SetUID(uuid.NewUUID())
	obj.SetCreationTimestamp(metav1.NewTime(e.now().Truncate(time.Second)))
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	obj.SetGeneration(0)
	res.prepareCreate(obj)
	errs := apivalidation.ValidateObjectMeta(objectMeta(obj), true, res.nameFn, field.NewPath("metadata"))
	errs = append(errs, res.validate(obj)...)
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.gk(), name, errs)
	}
	k := key{res.plural, namespace, name}
	if _, ok := e.objects[k]; ok {
		return nil, apierrors.NewAlreadyExists(res.gr(), name)
	}
	if rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64); err == nil && rv != 0 {
		return nil, errors.New("resourceVersion should not be set on objects to be created")
	}
	obj.SetResourceVersion("")
	if dryRun {
		return res.withKind(obj), nil
	}
	e.rv++
	obj.SetResourceVersion(strconv.FormatUint(e.rv, 10))
	en := &entry{obj: obj}
	if res.workload != "" {
		en.ctl = &controller{nodes: defaultNodes, last: e.now(), progress: e.now()}
	}
	e.objects[k] = en
	return res.withKind(obj), nil
}

// update is the registry's Update: the resourceVersion is checked first,
// then the strategy prepares and validates the object; an update that
// changes nothing is not written. Callers hold mu.
func (e *Emulator) update(res *resource, namespace, name string, obj object, dryRun bool) (object, error) {
	en, ok := e.objects[key{res.plural, namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(res.gr(), name)
	}
	e.advance(en)
	old := en.obj
	if rv := obj.GetResourceVersion(); rv != "" {
		n, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return nil, err
		}
		if cur, _ := strconv.ParseUint(old.GetResourceVersion(), 10, 64); n != cur {
			return nil, apierrors.NewConflict(res.gr(), name, errors.New(optimisticLockErrorMsg))
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	obj.SetResourceVersion(old.GetResourceVersion())
	if obj.GetUID() == "" {
		obj.SetUID(old.GetUID())
	}
	obj.SetCreationTimestamp(old.GetCreationTimestamp())
	obj.SetGeneration(old.GetGeneration())
	obj.SetDeletionTimestamp(old.GetDeletionTimestamp())
	obj.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	res.prepareUpdate(obj, old)
	errs := apivalidation.ValidateObjectMetaUpdate(objectMeta(obj), objectMeta(old), field.NewPath("metadata"))
	errs = append(errs, res.validateUpdate(obj, old)...)
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.gk(), name, errs)
	}
	if apiequality.Semantic.DeepEqual(obj, old) || dryRun {
		return res.withKind(obj), nil
	}
	e.rv++
	obj.SetResourceVersion(strconv.FormatUint(e.rv, 10))
	en.obj = obj
	if obj.GetGeneration() != old.GetGeneration() {
		e.wake(en)
	}
	return res.withKind(obj), nil
}

// delete is the registry's Delete with the preconditions' check; the
// objects the emulator serves have no finalizers and go at once. Callers
// hold mu.
func (e *Emulator) delete(res *resource, namespace, name string, pre *metav1.Preconditions, dryRun bool) (*metav1.Status, error) {
	k := key{res.plural, namespace, name}
	en, ok := e.objects[k]
	if !ok {
		return nil, apierrors.NewNotFound(res.gr(), name)
	}
	e.advance(en)
	// rest.BeforeDelete checks the preconditions, naming the kind.
	if pre != nil {
		kind := schema.GroupResource{Group: res.group, Resource: res.kind}
		if pre.UID != nil && *pre.UID != en.obj.GetUID() {
			return nil, apierrors.NewConflict(kind, name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *pre.UID, en.obj.GetUID()))
		}
		if pre.ResourceVersion != nil && *pre.ResourceVersion != en.obj.GetResourceVersion() {
			return nil, apierrors.NewConflict(kind, name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *pre.ResourceVersion, en.obj.GetResourceVersion()))
		}
	}
	if !dryRun {
		delete(e.objects, k)
		e.rv++
	}
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: statusGVK.Version, Kind: statusGVK.Kind},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: name, Group: res.group, Kind: res.plural, UID: en.obj.GetUID()},
	}, nil
}

// checkName is the handlers' checkName and namespace check for a body
// sent to a named URL.
func checkName(obj object, name, namespace string) error {
	if obj.GetName() != name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", obj.GetName(), name))
	}
	return ensureNamespace(namespace, obj)
}

// ensureNamespace is rest.EnsureObjectNamespaceMatchesRequestNamespace.
func ensureNamespace(namespace string, obj object) error {
	switch obj.GetNamespace() {
	case namespace:
	case "":
		obj.SetNamespace(namespace)
	default:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

func objectMeta(o object) *metav1.ObjectMeta {
	return o.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
}

// fillCreated sets the fields the API server sets on a created object.
// Callers hold mu.
func (e *Emulator) fillCreated(o metav1.Object) {
	e.rv++
	o.SetUID(uuid.NewUUID())
	o.SetCreationTimestamp(metav1.NewTime(e.now().Truncate(time.Second)))
	o.SetResourceVersion(strconv.FormatUint(e.rv, 10))
}
