package kubeemu

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// resource is one served resource and the registry strategy the API
// server applies to it.
type resource struct {
	group, version, plural, kind string

	new  func() object
	list func(items []object) runtime.Object

	nameFn apivalidation.ValidateNameFunc
	// normalize does what decoding does: conversion (a Secret's stringData)
	// and defaulting.
	normalize      func(object)
	prepareCreate  func(object)
	prepareUpdate  func(obj, old object)
	validate       func(object) field.ErrorList
	validateUpdate func(obj, old object) field.ErrorList
	fieldLabels    func(object) fields.Set
	workload       Kind // "" for Secrets
}

func (r *resource) gv() schema.GroupVersion {
	return schema.GroupVersion{Group: r.group, Version: r.version}
}
func (r *resource) gvk() schema.GroupVersionKind {
	return r.gv().WithKind(r.kind)
}
func (r *resource) gr() schema.GroupResource {
	return schema.GroupResource{Group: r.group, Resource: r.plural}
}
func (r *resource) gk() schema.GroupKind { return schema.GroupKind{Group: r.group, Kind: r.kind} }

// withKind returns a copy of obj with apiVersion and kind set, as served.
func (r *resource) withKind(obj object) object {
	out := obj.DeepCopyObject().(object)
	out.GetObjectKind().SetGroupVersionKind(r.gvk())
	return out
}

var (
	secrets = &resource{
		version: "v1", plural: "secrets", kind: "Secret",
		new: func() object { return &corev1.Secret{} },
		list: func(items []object) runtime.Object {
			l := &corev1.SecretList{Items: make([]corev1.Secret, 0, len(items))}
			for _, o := range items {
				l.Items = append(l.Items, *o.(*corev1.Secret))
			}
			return l
		},
		nameFn:         apivalidation.NameIsDNSSubdomain,
		normalize:      normalizeSecret,
		prepareCreate:  func(object) {},
		prepareUpdate:  func(object, object) {},
		validate:       validateSecret,
		validateUpdate: validateSecretUpdate,
		fieldLabels: func(o object) fields.Set {
			s := o.(*corev1.Secret)
			return fields.Set{"metadata.name": s.Name, "metadata.namespace": s.Namespace, "type": string(s.Type)}
		},
	}
	deployments = &resource{
		group: "apps", version: "v1", plural: "deployments", kind: "Deployment",
		new: func() object { return &appsv1.Deployment{} },
		list: func(items []object) runtime.Object {
			l := &appsv1.DeploymentList{Items: make([]appsv1.Deployment, 0, len(items))}
			for _, o := range items {
				l.Items = append(l.Items, *o.(*appsv1.Deployment))
			}
			return l
		},
		nameFn:         apivalidation.NameIsDNSSubdomain,
		normalize:      defaultDeployment,
		prepareCreate:  prepareWorkloadCreate,
		prepareUpdate:  prepareWorkloadUpdate,
		validate:       validateWorkload,
		validateUpdate: validateWorkloadUpdate,
		fieldLabels:    metaFields,
		workload:       KindDeployment,
	}
	statefulSets = &resource{
		group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet",
		new: func() object { return &appsv1.StatefulSet{} },
		list: func(items []object) runtime.Object {
			l := &appsv1.StatefulSetList{Items: make([]appsv1.StatefulSet, 0, len(items))}
			for _, o := range items {
				l.Items = append(l.Items, *o.(*appsv1.StatefulSet))
			}
			return l
		},
		nameFn:         apivalidation.NameIsDNSLabel,
		normalize:      defaultStatefulSet,
		prepareCreate:  prepareWorkloadCreate,
		prepareUpdate:  prepareWorkloadUpdate,
		validate:       validateWorkload,
		validateUpdate: validateWorkloadUpdate,
		fieldLabels:    metaFields,
		workload:       KindStatefulSet,
	}
	daemonSets = &resource{
		group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet",
		new: func() object { return &appsv1.DaemonSet{} },
		list: func(items []object) runtime.Object {
			l := &appsv1.DaemonSetList{Items: make([]appsv1.DaemonSet, 0, len(items))}
			for _, o := range items {
				l.Items = append(l.Items, *o.(*appsv1.DaemonSet))
			}
			return l
		},
		nameFn:         apivalidation.NameIsDNSSubdomain,
		normalize:      defaultDaemonSet,
		prepareCreate:  prepareWorkloadCreate,
		prepareUpdate:  prepareWorkloadUpdate,
		validate:       validateWorkload,
		validateUpdate: validateWorkloadUpdate,
		fieldLabels:    metaFields,
		workload:       KindDaemonSet,
	}
	allResources = []*resource{secrets, deployments, statefulSets, daemonSets}
)

func metaFields(o object) fields.Set {
	return fields.Set{"metadata.name": o.GetName(), "metadata.namespace": o.GetNamespace()}
}

// lookupResource finds a served resource by API group and plural name.
func lookupResource(group, version, plural string) *resource {
	for _, r := range allResources {
		if r.group == group && r.version == version && r.plural == plural {
			return r
		}
	}
	return nil
}

func resourceOf(obj runtime.Object) *resource {
	switch obj.(type) {
	case *corev1.Secret:
		return secrets
	case *appsv1.Deployment:
		return deployments
	case *appsv1.StatefulSet:
		return statefulSets
	case *appsv1.DaemonSet:
		return daemonSets
	}
	return nil
}

func resourceOfKind(kind Kind) *resource {
	for _, r := range allResources {
		if r.workload != "" && r.workload == kind {
			return r
		}
	}
	return nil
}

// sortObjects orders objects as etcd lists them: by namespace, then name.
func sortObjects(objs []object) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}
