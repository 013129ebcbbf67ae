package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const k8sDir = "deploy/kubernetes"

// podMonitor is the part of the Prometheus Operator's PodMonitor
// (monitoring.coreos.com/v1) this base uses, with the CRD's field names;
// decoding is strict, so any other field is an error.
type podMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// kustomization is the part of kustomize's Kustomization this base uses.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Labels          []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources"`
}

// unmarshalStrict decodes YAML as the API server decodes a request in
// strict mode: field names are case-sensitive, and unknown or duplicate
// fields are errors (encoding/json alone would accept readOnlyRootFileSystem
// for readOnlyRootFilesystem).
func unmarshalStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// manifests holds the decoded objects of the base.
type manifests struct {
	deployments    map[string]*appsv1.Deployment
	services       map[string]*corev1.Service
	serviceAccount map[string]*corev1.ServiceAccount
	pdbs           map[string]*policyv1.PodDisruptionBudget
	podMonitors    map[string]*podMonitor
}

// decodeManifests strictly decodes every YAML document of r (unknown or
// duplicate fields are errors) into the Kubernetes API type of its kind.
// A Secret, or any kind the base should not hold, is an error.
func decodeManifests(t *testing.T, where string, r io.Reader, m *manifests) int {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	n := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var obj any
		var name func() string
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			obj, name = d, func() string { m.deployments[d.Name] = d; return d.Name }
		case "v1 Service":
			s := &corev1.Service{}
			obj, name = s, func() string { m.services[s.Name] = s; return s.Name }
		case "v1 ServiceAccount":
			s := &corev1.ServiceAccount{}
			obj, name = s, func() string { m.serviceAccount[s.Name] = s; return s.Name }
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			obj, name = p, func() string { m.pdbs[p.Name] = p; return p.Name }
		case "monitoring.coreos.com/v1 PodMonitor":
			p := &podMonitor{}
			obj, name = p, func() string { m.podMonitors[p.Metadata.Name] = p; return p.Metadata.Name }
		case "v1 Secret":
			t.Errorf("%s: a Secret: the base references Secrets, it never holds one", where)
			continue
		default:
			t.Errorf("%s: unexpected kind %s %s", where, tm.APIVersion, tm.Kind)
			continue
		}
		if err := unmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %s: %v", where, tm.Kind, err)
			continue
		}
		if name() == "" {
			t.Errorf("%s: %s without a name", where, tm.Kind)
		}
		n++
	}
}

func newManifests() *manifests {
	return &manifests{
		deployments:    map[string]*appsv1.Deployment{},
		services:       map[string]*corev1.Service{},
		serviceAccount: map[string]*corev1.ServiceAccount{},
		pdbs:           map[string]*policyv1.PodDisruptionBudget{},
		podMonitors:    map[string]*podMonitor{},
	}
}

// loadKubernetes decodes kustomization.yaml and every manifest it lists,
// strictly, and checks that it lists every YAML file of the directory.
func loadKubernetes(t *testing.T) *manifests {
	t.Helper()
	var k kustomization
	if err := unmarshalStrict(readFile(t, k8sDir+"/kustomization.yaml"), &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob(filepath.Join(root, k8sDir, "*.yaml"))
	var all []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			all = append(all, b)
		}
	}
	res := slices.Clone(k.Resources)
	slices.Sort(res)
	if !slices.Equal(res, all) {
		t.Errorf("kustomization.yaml lists %v; the directory holds %v", res, all)
	}
	m := newManifests()
	for _, r := range k.Resources {
		decodeManifests(t, r, bytes.NewReader(readFile(t, k8sDir+"/"+r)), m)
	}
	return m
}

// TestKubernetesKustomizeBuild renders the base with kubectl's kustomize,
// where kubectl is installed, and decodes the result strictly as well.
func TestKubernetesKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: the base is checked file by file only")
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, k8sDir)).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	m := newManifests()
	if n := decodeManifests(t, "kustomize output", bytes.NewReader(out), m); n != 6 {
		t.Errorf("kustomize rendered %d objects, want 6", n)
	}
	for name, d := range m.deployments {
		if d.Labels["app.kubernetes.io/part-of"] != "keyrotor" || d.Spec.Selector.MatchLabels["app.kubernetes.io/part-of"] != "" {
			t.Errorf("%s: the part-of label must be on the object and not in its selector", name)
		}
	}
}

const (
	workerName      = "keyrotor-worker"
	codecServerName = "keyrotor-codec-server"
)

// The Secrets and ConfigMap the base references (README.md says how to
// make them).
var referencedObjects = map[string]string{
	"keyrotor-config":             "ConfigMap",
	"keyrotor-codec-key":          "Secret",
	"keyrotor-codec-server-token": "Secret",
	"keyrotor-credentials":        "Secret",
}

// TestKubernetesManifests checks the base: replicas, the commands against
// the binaries' --help, the security settings, probes, the PodMonitor,
// where every file and secret comes from, images and environment.
func TestKubernetesManifests(t *testing.T) {
	m := loadKubernetes(t)
	w, c := m.deployments[workerName], m.deployments[codecServerName]
	if w == nil || c == nil {
		t.Fatalf("want Deployments %s and %s, have %v", workerName, codecServerName, slices.Collect(mapsKeys(m.deployments)))
	}
	if w.Spec.Replicas == nil || *w.Spec.Replicas != 2 {
		t.Errorf("%s: want 2 replicas", workerName)
	}
	if len(m.serviceAccount) != 1 {
		t.Fatalf("want one ServiceAccount, have %d", len(m.serviceAccount))
	}

	for _, d := range []*appsv1.Deployment{w, c} {
		checkDeployment(t, d, m)
	}

	// The worker: --config in the config volume, metrics port = probes =
	// PodMonitor.
	wc := w.Spec.Template.Spec.Containers[0]
	inv := checkInvocation(t, workerName, append(slices.Clone(wc.Command), wc.Args...))
	if inv.bin != "worker" {
		t.Errorf("%s runs %s", workerName, inv.bin)
	}
	checkPathFromVolume(t, workerName+" --config", inv.flags["config"], w, "ConfigMap", "keyrotor-config")
	metrics := port(t, wc, "metrics")
	if _, p, err := net.SplitHostPort(inv.flags["metrics-addr"]); err != nil || p != strconv.Itoa(int(metrics)) {
		t.Errorf("%s: --metrics-addr %q does not listen on the metrics port %d", workerName, inv.flags["metrics-addr"], metrics)
	}
	for probe, want := range map[*corev1.Probe]string{wc.LivenessProbe: "/healthz", wc.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s: want an HTTP probe on %s, port metrics", workerName, want)
		}
	}
	if len(m.podMonitors) != 1 {
		t.Fatalf("want one PodMonitor, have %d", len(m.podMonitors))
	}
	for name, pm := range m.podMonitors {
		sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(w.Spec.Template.Labels)) || sel.Matches(labels.Set(c.Spec.Template.Labels)) {
			t.Errorf("PodMonitor %s: its selector must pick the worker's pods only", name)
		}
		if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != "metrics" || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
			t.Errorf("PodMonitor %s: want one endpoint, port metrics, path /metrics", name)
		}
	}
	for name, pdb := range m.pdbs {
		sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if !sel.Matches(labels.Set(w.Spec.Template.Labels)) || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget %s: want minAvailable 1 of the worker's pods", name)
		}
	}

	// The codec server: listens on its port, token and key from Secrets,
	// behind the Service.
	cc := c.Spec.Template.Spec.Containers[0]
	inv = checkInvocation(t, codecServerName, append(slices.Clone(cc.Command), cc.Args...))
	if inv.bin != "starter" || inv.sub != "codec-server" {
		t.Fatalf("%s runs %s %s", codecServerName, inv.bin, inv.sub)
	}
	httpPort := port(t, cc, "http")
	if _, p, err := net.SplitHostPort(inv.flags["listen"]); err != nil || p != strconv.Itoa(int(httpPort)) {
		t.Errorf("%s: --listen %q is not its http port %d", codecServerName, inv.flags["listen"], httpPort)
	}
	checkPathFromVolume(t, codecServerName+" --token-file", inv.flags["token-file"], c, "Secret", "keyrotor-codec-server-token")
	for _, p := range []*corev1.Probe{cc.LivenessProbe, cc.ReadinessProbe} {
		if p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "http" {
			t.Errorf("%s: want TCP probes on port http (it serves POST only)", codecServerName)
		}
	}
	svc := m.services[codecServerName]
	if svc == nil {
		t.Fatalf("no Service %s", codecServerName)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(c.Spec.Template.Labels)) ||
		labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Spec.Template.Labels)) {
		t.Errorf("Service %s: its selector must pick the codec server's pods only", svc.Name)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service %s: want one port targeting http", svc.Name)
	}
	if w.Spec.Template.Spec.Containers[0].Env == nil || envVar(wc, "TEMPORAL_NAMESPACE") != inv.flags["namespace"] {
		t.Errorf("%s --namespace %q is not the worker's TEMPORAL_NAMESPACE %q", codecServerName, inv.flags["namespace"], envVar(wc, "TEMPORAL_NAMESPACE"))
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func port(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

func envVar(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// checkPathFromVolume checks that file lies under a read-only mount of a
// volume made from the named ConfigMap or Secret.
func checkPathFromVolume(t *testing.T, where, file string, d *appsv1.Deployment, kind, name string) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, vm := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if path.Dir(file) != vm.MountPath {
			continue
		}
		v := vols[vm.Name]
		ok := kind == "ConfigMap" && v.ConfigMap != nil && v.ConfigMap.Name == name ||
			kind == "Secret" && v.Secret != nil && v.Secret.SecretName == name
		if ok && vm.ReadOnly {
			return
		}
	}
	t.Errorf("%s: %s is not in a read-only mount of the %s %s", where, file, kind, name)
}

// checkDeployment checks what every keyrotor Deployment must have.
func checkDeployment(t *testing.T, d *appsv1.Deployment, m *manifests) {
	t.Helper()
	name := d.Name
	spec := d.Spec.Template.Spec
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: the selector does not match the pod template", name)
	}
	if m.serviceAccount[spec.ServiceAccountName] == nil {
		t.Errorf("%s: service account %q is not the base's", name, spec.ServiceAccountName)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false (keyrotor does not call the Kubernetes API)", name)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext: want runAsNonRoot, runAsUser 65532 (the image's user), seccomp RuntimeDefault", name)
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%s: want exactly one container", name)
	}
	c := spec.Containers[0]
	checkImagePinned(t, name, c.Image)
	if n, _, _ := imageRef(c.Image); n != "keyrotor" {
		t.Errorf("%s: image %s: want keyrotor (overlays set the registry and tag with images:)", name, c.Image)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: no container securityContext", name)
	default:
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", name)
		}
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: runAsNonRoot must be true", name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", name)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile must be RuntimeDefault", name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", name)
		}
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Errorf("%s: needs liveness and readiness probes", name)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: needs memory requests and limits", name)
	}

	// Environment: only variables keyrotor reads; secrets only through
	// secretKeyRef, and the payload key as a file from its Secret.
	for _, e := range c.Env {
		checkEnvIsRead(t, name, e.Name)
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil || referencedObjects[ref.Name] != "Secret" {
				t.Errorf("%s: %s must come from one of the base's Secrets", name, e.Name)
			}
			continue
		}
		checkNoLiteralSecret(t, name+" env", e.Name, e.Value)
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom would pass variables nobody checks", name)
	}
	for _, a := range c.Args {
		checkNoLiteralSecret(t, name+" args", "", a)
	}
	checkPathFromVolume(t, name+" KEYROTOR_CODEC_KEY_FILE", envVar(c, "KEYROTOR_CODEC_KEY_FILE"), d, "Secret", "keyrotor-codec-key")
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			if referencedObjects[v.Secret.SecretName] != "Secret" {
				t.Errorf("%s: volume %s: unknown Secret %s", name, v.Name, v.Secret.SecretName)
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
				t.Errorf("%s: volume %s: want defaultMode 0440 (readable by the pod's fsGroup only)", name, v.Name)
			}
		case v.ConfigMap != nil:
			if referencedObjects[v.ConfigMap.Name] != "ConfigMap" {
				t.Errorf("%s: volume %s: unknown ConfigMap %s", name, v.Name, v.ConfigMap.Name)
			}
		case v.EmptyDir != nil:
		default:
			t.Errorf("%s: volume %s: only Secrets, ConfigMaps and emptyDirs", name, v.Name)
		}
	}
}

// TestKubernetesNoSecretInFiles scans the raw files as well.
func TestKubernetesNoSecretInFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, k8sDir, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if looksSecret(string(b)) {
			t.Errorf("%s holds what looks like a secret", filepath.Base(f))
		}
		if strings.Contains(string(b), "kind: Secret") {
			t.Errorf("%s defines a Secret", filepath.Base(f))
		}
	}
}
