package config

import (
	"regexp"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// kubernetesTargetKind is the kubernetes target: a Secret in a cluster (a
// kubeconfig context, or the cluster the worker runs in), and the
// workloads to restart once it holds the new key. The top-level kubernetes
// section is optional: without it the kubeconfig is KUBECONFIG's or
// ~/.kube/config.
var kubernetesTargetKind = targetKind{
	key:        "kubernetes",
	fields:     []string{"context", "inCluster", "namespace", "secret", "restart"},
	read:       (*loader).kubernetesTarget,
	configured: func(*Config) bool { return true },
}

var (
	// dns1123LabelRE is a namespace name: at most 63 characters.
	dns1123LabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// dns1123SubdomainRE is a Secret's or a workload's name: labels joined
	// by dots, at most 253 characters (checked apart).
	dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// restartKinds are the workloads a target may restart.
var restartKinds = []string{"deployment", "statefulset", "daemonset"}

func dns1123Subdomain(s string) bool { return len(s) <= 253 && dns1123SubdomainRE.MatchString(s) }

func (l *loader) kubernetesTarget(fs fields, path string) model.Target {
	t := model.KubernetesTarget{Namespace: l.str(fs, "namespace"), Secret: l.str(fs, "secret")}
	inCluster := fs.has("inCluster")
	switch {
	case fs.has("context") && inCluster:
		l.errf(fs.at, path, "context and inCluster are mutually exclusive")
	case inCluster:
		if t.InCluster = l.boolean(fs, "inCluster", false); !t.InCluster {
			l.errf(fs.get("inCluster").valPos(), join(path, "inCluster"), "must be true, or left out for a context")
		}
	case fs.present("context"):
		t.Context = l.nonEmpty(fs, "context", " (a context of the kubeconfig)")
	default:
		l.errf(fs.at, path, "needs context (a context of the kubeconfig) or inCluster: true")
	}
	l.required(fs, "namespace", t.Namespace, dns1123LabelRE, "not a namespace name (lower-case letters, digits and -, at most 63)")
	if l.required(fs, "secret", t.Secret, dns1123SubdomainRE, "not a Secret name (lower-case letters, digits, - and .)") && !dns1123Subdomain(t.Secret) {
		l.errf(fs.get("secret").valPos(), join(path, "secret"), "is longer than 253 characters")
	}
	items := l.seq(fs, "restart")
	if f := fs.get("restart"); f != nil && f.val.kind == kSeq && len(items) == 0 {
		l.errf(f.valPos(), join(path, "restart"), "must list at least one workload, or be left out")
	}
	seen := map[string]bool{}
	for i, item := range items {
		ipath := index(join(path, "restart"), i)
		if item.kind != kScalar || item.typ != tString {
			l.errf(item.pos, ipath, "must be a string (kind/name), not %s", item.describe())
			continue
		}
		kind, name, ok := strings.Cut(item.text, "/")
		switch {
		case !ok || !contains(restartKinds, kind):
			l.errf(item.pos, ipath, "%q is not %s/<name>", item.text, strings.Join(restartKinds, "|"))
		case !dns1123Subdomain(name):
			l.errf(item.pos, ipath, "%q: %q is not a workload name (lower-case letters, digits, - and .)", item.text, name)
		case seen[item.text]:
			l.errf(item.pos, ipath, "%s is listed twice", item.text)
		default:
			seen[item.text] = true
			t.Restart = append(t.Restart, item.text)
		}
	}
	return model.Target{Kind: model.KubernetesSecret, Kubernetes: &t}
}
