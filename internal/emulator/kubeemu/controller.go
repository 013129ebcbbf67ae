package kubeemu

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// defaultNodes is how many nodes a DaemonSet runs on unless AddDaemonSet
// says otherwise.
const defaultNodes = 3

// revisionAnnotation is the Deployment controller's revision counter.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// controller is one workload's controller (the Deployment controller and
// its ReplicaSets, the StatefulSet or DaemonSet controller, the kubelets),
// with the pods reduced to three counts. It advances one step per rollout
// step delay:
//
//   - it observes a new generation (status.observedGeneration); a changed
//     pod template makes every pod old;
//   - it starts a pod of the current template (to scale up, or to replace
//     an old one: a Deployment surges one pod above spec.replicas, a
//     StatefulSet or DaemonSet first deletes an old pod, a StatefulSet from
//     its highest ordinal);
//   - a started pod becomes ready (never, while stuck), and a Deployment
//     then retires an old one;
//   - a StatefulSet whose pods all run the new revision makes it current.
//
// A paused Deployment and an OnDelete StatefulSet or DaemonSet observe
// changes but replace no pods; a Recreate Deployment deletes every old pod
// at once; a StatefulSet's partition keeps the ordinals below it.
type controller struct {
	nodes    int32 // a DaemonSet's nodes
	stuck    bool
	idle     bool      // nothing to do until woken
	last     time.Time // the last step, or when the controller was woken
	progress time.Time // the last step that made progress (a Deployment's deadline counts from it)

	observed        int64  // the generation observed
	revision        string // the hash of the pod template new pods run
	currentRevision string // a StatefulSet's revision before the rollout
	revisionNumber  int64  // a Deployment's revision annotation

	old      int32 // ready pods of an older template
	ready    int32 // ready pods of the current template
	starting int32 // pods of the current template, not ready yet
}

// advance lets the controller catch up with the time passed, then writes
// the status. Callers hold mu.
func (e *Emulator) advance(en *entry) {
	c := en.ctl
	if c == nil {
		return
	}
	now := e.now()
	for !c.idle && now.Sub(c.last) >= e.step {
		c.last = c.last.Add(e.step)
		if !c.step(en.obj) {
			c.idle = true
			break
		}
		c.progress = c.last
	}
	e.syncStatus(en, now)
}

// wake makes an idle controller look again one step from now. Callers
// hold mu.
func (e *Emulator) wake(en *entry) {
	if c := en.ctl; c != nil && c.idle {
		c.idle = false
		c.last = e.now()
	}
}

func (c *controller) desired(o object) int32 {
	if _, ok := o.(*appsv1.DaemonSet); ok {
		return c.nodes
	}
	if sp := specOf(o); sp.replicas != nil {
		return *sp.replicas
	}
	return 1
}

// step does one thing and reports whether there was anything to do.
func (c *controller) step(o object) bool {
	if c.observed < o.GetGeneration() {
		c.observed = o.GetGeneration()
		if h := templateHash(o); h != c.revision {
			c.old += c.ready // pods of a superseded template that never became ready are deleted
			c.ready, c.starting = 0, 0
			c.revision = h
			c.revisionNumber++
			if c.currentRevision == "" {
				c.currentRevision = h
			}
		}
		return true
	}
	n := c.desired(o)
	total := c.old + c.ready + c.starting
	surge, hold, recreate, limit := false, false, false, n
	switch w := o.(type) {
	case *appsv1.Deployment:
		surge = true
		hold = w.Spec.Paused
		recreate = w.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType
	case *appsv1.StatefulSet:
		us := w.Spec.UpdateStrategy
		hold = us.Type == appsv1.OnDeleteStatefulSetStrategyType
		if us.RollingUpdate != nil && us.RollingUpdate.Partition != nil {
			limit = max(n-*us.RollingUpdate.Partition, 0)
		}
	case *appsv1.DaemonSet:
		hold = w.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType
	}
	switch {
	case c.starting > 0:
		if c.stuck {
			return false
		}
		c.starting--
		c.ready++
		if surge && c.old > 0 && c.old+c.ready+c.starting > n {
			c.old--
		}
	case total < n:
		c.starting++
	case total > n:
		switch {
		case c.starting > 0:
			c.starting--
		case c.old > 0 && !isStatefulSet(o):
			c.old--
		case c.ready > 0:
			c.ready--
		default:
			c.old--
		}
	case c.old > 0 && !hold && c.ready+c.starting < limit:
		switch {
		case recreate:
			c.old = 0
		case surge:
			c.starting++
		default:
			c.old--
			c.starting++
		}
	case isStatefulSet(o) && c.old == 0 && c.currentRevision != c.revision:
		c.currentRevision = c.revision
	default:
		return false
	}
	return true
}

// settle puts the controller at the end of a rollout of o.
func (c *controller) settle(o object) {
	c.observed = o.GetGeneration()
	c.revision = templateHash(o)
	c.currentRevision = c.revision
	c.revisionNumber = 1
	c.old, c.ready, c.starting = 0, c.desired(o), 0
	c.idle = true
}

func isStatefulSet(o object) bool {
	_, ok := o.(*appsv1.StatefulSet)
	return ok
}

// templateHash names a pod template as the controllers do (the
// pod-template-hash label, a ControllerRevision's suffix).
func templateHash(o object) string {
	b, _ := json.Marshal(specOf(o).template)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return utilrand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// syncStatus writes the status the controller's counts make, and bumps
// the resourceVersion if it changed, as a controller's status update does.
// Callers hold mu.
func (e *Emulator) syncStatus(en *entry, now time.Time) {
	c := en.ctl
	if c == nil || c.observed == 0 {
		return // not yet seen by its controller: status stays empty
	}
	before := en.obj.DeepCopyObject()
	total, updated, avail := c.old+c.ready+c.starting, c.ready+c.starting, c.old+c.ready
	n := c.desired(en.obj)
	switch w := en.obj.(type) {
	case *appsv1.Deployment:
		setAnnotation(w, revisionAnnotation, strconv.FormatInt(c.revisionNumber, 10))
		st := &w.Status
		st.ObservedGeneration = c.observed
		st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = total, updated, avail, avail
		st.UnavailableReplicas = max(total-avail, 0)
		e.deploymentConditions(w, c, now)
	case *appsv1.StatefulSet:
		st := &w.Status
		st.ObservedGeneration = c.observed
		st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = total, updated, avail, avail
		st.CurrentReplicas = c.old
		if c.currentRevision == c.revision {
			st.CurrentReplicas = updated
		}
		st.CurrentRevision = w.Name + "-" + c.currentRevision
		st.UpdateRevision = w.Name + "-" + c.revision
	case *appsv1.DaemonSet:
		st := &w.Status
		st.ObservedGeneration = c.observed
		st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.UpdatedNumberScheduled = n, total, updated
		st.NumberReady, st.NumberAvailable = avail, avail
		st.NumberUnavailable = max(n-avail, 0)
	}
	if !apiequality.Semantic.DeepEqual(before, en.obj) {
		e.rv++
		en.obj.SetResourceVersion(strconv.FormatUint(e.rv, 10))
	}
}

// deploymentConditions sets Available and Progressing as the Deployment
// controller does (pkg/controller/deployment/util).
func (e *Emulator) deploymentConditions(d *appsv1.Deployment, c *controller, now time.Time) {
	n := *d.Spec.Replicas
	maxUnavailable := int32(0)
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType && ru != nil && ru.MaxUnavailable != nil {
		v, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(n), false)
		maxUnavailable = int32(v)
	}
	if d.Status.AvailableReplicas >= n-maxUnavailable {
		setCondition(&d.Status, appsv1.DeploymentAvailable, corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
	} else {
		setCondition(&d.Status, appsv1.DeploymentAvailable, corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now)
	}
	rs := fmt.Sprintf("%q", d.Name+"-"+c.revision)
	complete := c.old == 0 && c.starting == 0 && c.ready == n
	deadline := d.Spec.ProgressDeadlineSeconds
	switch {
	case d.Spec.Paused:
		setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionUnknown, "DeploymentPaused", "Deployment is paused", now)
	case complete:
		setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionTrue, "NewReplicaSetAvailable", "ReplicaSet "+rs+" has successfully progressed.", now)
	case deadline != nil && now.Sub(c.progress) > time.Duration(*deadline)*time.Second:
		setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionFalse, "ProgressDeadlineExceeded", "ReplicaSet "+rs+" has timed out progressing.", now)
	default:
		setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionTrue, "ReplicaSetUpdated", "ReplicaSet "+rs+" is progressing.", now)
	}
}

func setCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) {
	ts := metav1.NewTime(now.Truncate(time.Second))
	for i := range st.Conditions {
		cond := &st.Conditions[i]
		if cond.Type != t {
			continue
		}
		if cond.Status == status && cond.Reason == reason && cond.Message == msg {
			return
		}
		if cond.Status != status {
			cond.LastTransitionTime = ts
		}
		cond.Status, cond.Reason, cond.Message, cond.LastUpdateTime = status, reason, msg, ts
		return
	}
	st.Conditions = append(st.Conditions, appsv1.DeploymentCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts,
	})
}

// report describes the rollout, Done as `kubectl rollout status` decides
// from the object (polymorphichelpers' status viewers).
func (c *controller) report(o object) Rollout {
	r := Rollout{
		Generation:  o.GetGeneration(),
		Desired:     c.desired(o),
		Total:       c.old + c.ready + c.starting,
		RestartedAt: specOf(o).template.Annotations[RestartedAtAnnotation],
		Stuck:       c.stuck,
	}
	switch w := o.(type) {
	case *appsv1.Deployment:
		st := w.Status
		r.ObservedGeneration, r.Updated, r.Ready, r.Available = st.ObservedGeneration, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas
		r.Done = w.Generation <= st.ObservedGeneration && st.UpdatedReplicas >= *w.Spec.Replicas &&
			st.Replicas <= st.UpdatedReplicas && st.AvailableReplicas >= st.UpdatedReplicas
	case *appsv1.StatefulSet:
		st := w.Status
		r.ObservedGeneration, r.Updated, r.Ready, r.Available = st.ObservedGeneration, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas
		r.Done = st.ObservedGeneration != 0 && w.Generation <= st.ObservedGeneration && st.ReadyReplicas >= *w.Spec.Replicas
		if ru := w.Spec.UpdateStrategy.RollingUpdate; r.Done && ru != nil && ru.Partition != nil {
			r.Done = st.UpdatedReplicas >= *w.Spec.Replicas-*ru.Partition
		} else if r.Done {
			r.Done = st.UpdateRevision == st.CurrentRevision
		}
	case *appsv1.DaemonSet:
		st := w.Status
		r.ObservedGeneration, r.Updated, r.Ready, r.Available = st.ObservedGeneration, st.UpdatedNumberScheduled, st.NumberReady, st.NumberAvailable
		r.Done = w.Generation <= st.ObservedGeneration && st.UpdatedNumberScheduled >= st.DesiredNumberScheduled &&
			st.NumberAvailable >= st.DesiredNumberScheduled
	}
	return r
}
