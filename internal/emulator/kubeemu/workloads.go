package kubeemu

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// spec is what the three workload kinds share.
type spec struct {
	replicas *int32 // nil for a DaemonSet (and before defaulting)
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
}

func specOf(o object) spec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return spec{w.Spec.Replicas, w.Spec.Selector, &w.Spec.Template}
	case *appsv1.StatefulSet:
		return spec{w.Spec.Replicas, w.Spec.Selector, &w.Spec.Template}
	case *appsv1.DaemonSet:
		return spec{nil, w.Spec.Selector, &w.Spec.Template}
	}
	panic("kubeemu: not a workload")
}

// workloadName is the kind as the validation messages name it.
func workloadName(o object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "deployment"
	case *appsv1.StatefulSet:
		return "statefulset"
	}
	return "daemonset"
}

// The apps/v1 defaults (pkg/apis/apps/v1/defaults.go).

func defaultDeployment(o object) {
	d := o.(*appsv1.Deployment)
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptr(int32(1))
	}
	st := &d.Spec.Strategy
	if st.Type == "" {
		st.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if st.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			st.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("25%"))
		}
		if st.RollingUpdate.MaxSurge == nil {
			st.RollingUpdate.MaxSurge = ptr(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptr(int32(10))
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptr(int32(600))
	}
	defaultPodTemplate(&d.Spec.Template)
}

func defaultStatefulSet(o object) {
	s := o.(*appsv1.StatefulSet)
	if s.Spec.Replicas == nil {
		s.Spec.Replicas = ptr(int32(1))
	}
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	us := &s.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if us.Type == appsv1.RollingUpdateStatefulSetStrategyType && us.RollingUpdate != nil && us.RollingUpdate.Partition == nil {
		us.RollingUpdate.Partition = ptr(int32(0))
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Spec.RevisionHistoryLimit == nil {
		s.Spec.RevisionHistoryLimit = ptr(int32(10))
	}
	defaultPodTemplate(&s.Spec.Template)
}

func defaultDaemonSet(o object) {
	d := o.(*appsv1.DaemonSet)
	us := &d.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			us.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(1))
		}
		if us.RollingUpdate.MaxSurge == nil {
			us.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(0))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptr(int32(10))
	}
	defaultPodTemplate(&d.Spec.Template)
}

// defaultPodTemplate applies the core/v1 pod defaults a client most often
// sees come back (pkg/apis/core/v1/defaults.go).
func defaultPodTemplate(t *corev1.PodTemplateSpec) {
	p := &t.Spec
	if p.RestartPolicy == "" {
		p.RestartPolicy = corev1.RestartPolicyAlways
	}
	if p.DNSPolicy == "" {
		p.DNSPolicy = corev1.DNSClusterFirst
	}
	if p.TerminationGracePeriodSeconds == nil {
		p.TerminationGracePeriodSeconds = ptr(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if p.SchedulerName == "" {
		p.SchedulerName = corev1.DefaultSchedulerName
	}
	if p.SecurityContext == nil {
		p.SecurityContext = &corev1.PodSecurityContext{}
	}
	for i := range p.InitContainers {
		defaultContainer(&p.InitContainers[i])
	}
	for i := range p.Containers {
		defaultContainer(&p.Containers[i])
	}
}

func defaultContainer(c *corev1.Container) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		// An image without a tag, or tagged latest, is pulled every time.
		name := c.Image
		if i := strings.LastIndex(name, "@"); i >= 0 {
			name = name[:i]
		}
		tag := ""
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			tag = name[i+1:]
		}
		if tag == "" || tag == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
}

// prepareWorkloadCreate is the strategies' PrepareForCreate: status is the
// controller's, and the first generation is 1.
func prepareWorkloadCreate(o object) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		w.Status = appsv1.DeploymentStatus{}
	case *appsv1.StatefulSet:
		w.Status = appsv1.StatefulSetStatus{}
	case *appsv1.DaemonSet:
		w.Status = appsv1.DaemonSetStatus{}
		setAnnotation(w, appsv1.DeprecatedTemplateGeneration, "1")
	}
	o.SetGeneration(1)
}

// prepareWorkloadUpdate is the strategies' PrepareForUpdate: an update of
// the main resource keeps the status, and a change of the spec (for a
// Deployment also of its annotations, which its ReplicaSets copy) bumps
// the generation.
func prepareWorkloadUpdate(o, oldObj object) {
	bump := false
	switch w := o.(type) {
	case *appsv1.Deployment:
		old := oldObj.(*appsv1.Deployment)
		w.Status = old.Status
		bump = !apiequality.Semantic.DeepEqual(w.Spec, old.Spec) ||
			!apiequality.Semantic.DeepEqual(w.Annotations, old.Annotations)
	case *appsv1.StatefulSet:
		old := oldObj.(*appsv1.StatefulSet)
		w.Status = old.Status
		bump = !apiequality.Semantic.DeepEqual(w.Spec, old.Spec)
	case *appsv1.DaemonSet:
		old := oldObj.(*appsv1.DaemonSet)
		w.Status = old.Status
		tg, _ := strconv.ParseInt(old.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
		if !apiequality.Semantic.DeepEqual(w.Spec.Template, old.Spec.Template) {
			tg++
		}
		setAnnotation(w, appsv1.DeprecatedTemplateGeneration, strconv.FormatInt(tg, 10))
		bump = !apiequality.Semantic.DeepEqual(w.Spec, old.Spec)
	}
	if bump {
		o.SetGeneration(oldObj.GetGeneration() + 1)
	}
}

func setAnnotation(o object, k, v string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
}

// validateWorkload checks what the apps validation checks of the parts the
// emulator models: replicas, the selector and that it selects the pod
// template, the template's containers and restart policy.
func validateWorkload(o object) field.ErrorList {
	sp := specOf(o)
	path := field.NewPath("spec")
	var errs field.ErrorList
	if sp.replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*sp.replicas), path.Child("replicas"))...)
	}
	if sp.selector == nil {
		errs = append(errs, field.Required(path.Child("selector"), ""))
	} else {
		errs = append(errs, metavalidation.ValidateLabelSelector(sp.selector, metavalidation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
		if len(sp.selector.MatchLabels)+len(sp.selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(path.Child("selector"), sp.selector, "empty selector is invalid for "+workloadName(o)))
		} else if sel, err := metav1.LabelSelectorAsSelector(sp.selector); err == nil && !sel.Matches(labels.Set(sp.template.Labels)) {
			errs = append(errs, field.Invalid(path.Child("template", "metadata", "labels"), sp.template.Labels, "`selector` does not match template `labels`"))
		}
	}
	tpath := path.Child("template", "spec")
	if len(sp.template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(tpath.Child("containers"), ""))
	}
	for i, c := range sp.template.Spec.Containers {
		if c.Name == "" {
			errs = append(errs, field.Required(tpath.Child("containers").Index(i).Child("name"), ""))
		}
		if c.Image == "" {
			errs = append(errs, field.Required(tpath.Child("containers").Index(i).Child("image"), ""))
		}
	}
	if rp := sp.template.Spec.RestartPolicy; rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tpath.Child("restartPolicy"), rp, []string{string(corev1.RestartPolicyAlways)}))
	}
	return errs
}

// validateWorkloadUpdate adds the update rules: the selector is immutable
// in apps/v1, and a StatefulSet's spec may change only in some fields.
func validateWorkloadUpdate(o, old object) field.ErrorList {
	errs := apivalidation.ValidateImmutableField(specOf(o).selector, specOf(old).selector, field.NewPath("spec", "selector"))
	if s, ok := o.(*appsv1.StatefulSet); ok {
		oldS := old.(*appsv1.StatefulSet)
		clone := s.Spec.DeepCopy()
		clone.Replicas = oldS.Spec.Replicas
		clone.Template = oldS.Spec.Template
		clone.UpdateStrategy = oldS.Spec.UpdateStrategy
		clone.MinReadySeconds = oldS.Spec.MinReadySeconds
		clone.Ordinals = oldS.Spec.Ordinals
		clone.RevisionHistoryLimit = oldS.Spec.RevisionHistoryLimit
		clone.PersistentVolumeClaimRetentionPolicy = oldS.Spec.PersistentVolumeClaimRetentionPolicy
		if !apiequality.Semantic.DeepEqual(*clone, oldS.Spec) {
			errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
		}
	}
	return append(errs, validateWorkload(o)...)
}

func ptr[T any](v T) *T { return &v }
