package kubeemu

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeClock drives the controllers step by step.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) tick(d time.Duration) { c.t = c.t.Add(d) }
func newClocked(t *testing.T) (*Emulator, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := New("t")
	e.now = clock.now
	e.SetRolloutStep(time.Second)
	return e, clock
}

const restartPatch = `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-02T03:04:05Z"}}}}}`

func restart(t *testing.T, e *Emulator, kind Kind, name string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	o, err := e.patch(resourceOfKind(kind), "ci", name, types.StrategicMergePatchType, []byte(restartPatch), false)
	if err != nil {
		t.Fatal(err)
	}
	if o.GetGeneration() != 2 {
		t.Fatalf("generation after the restart = %d, want 2", o.GetGeneration())
	}
}

// Each step of a rollout of 3 pods, as Rollout reports it: observed
// generation, total, updated, ready, available, done.
func TestRolloutSteps(t *testing.T) {
	type state struct {
		observed                        int64
		total, updated, ready, availble int32
		done                            bool
	}
	tests := []struct {
		kind  Kind
		add   func(*Emulator) error
		steps []state
	}{
		{KindDeployment, func(e *Emulator) error { return e.AddDeployment("ci", "w", 3) }, []state{
			{1, 3, 3, 3, 3, false}, // generation 2 not yet observed
			{2, 3, 0, 3, 3, false}, // observed: every pod is old
			{2, 4, 1, 3, 3, false}, // a surge pod starts
			{2, 3, 1, 3, 3, false}, // it is ready, an old one retires
			{2, 4, 2, 3, 3, false},
			{2, 3, 2, 3, 3, false},
			{2, 4, 3, 3, 3, false},
			{2, 3, 3, 3, 3, true},
		}},
		{KindStatefulSet, func(e *Emulator) error { return e.AddStatefulSet("ci", "w", 3) }, []state{
			{1, 3, 3, 3, 3, false},
			{2, 3, 0, 3, 3, false},
			{2, 3, 1, 2, 2, false}, // pod 2 deleted and recreated at the new revision
			{2, 3, 1, 3, 3, false},
			{2, 3, 2, 2, 2, false},
			{2, 3, 2, 3, 3, false},
			{2, 3, 3, 2, 2, false},
			{2, 3, 3, 3, 3, true}, // partition 0: kubectl calls it complete
		}},
		{KindDaemonSet, func(e *Emulator) error { return e.AddDaemonSet("ci", "w", 3) }, []state{
			{1, 3, 3, 3, 3, false},
			{2, 3, 0, 3, 3, false},
			{2, 3, 1, 2, 2, false}, // maxUnavailable 1: an old pod goes first
			{2, 3, 1, 3, 3, false},
			{2, 3, 2, 2, 2, false},
			{2, 3, 2, 3, 3, false},
			{2, 3, 3, 2, 2, false},
			{2, 3, 3, 3, 3, true},
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			e, clock := newClocked(t)
			if err := tt.add(e); err != nil {
				t.Fatal(err)
			}
			if r, _ := e.Rollout(tt.kind, "ci", "w"); !r.Done || r.Generation != 1 {
				t.Fatalf("seeded rollout = %+v, want done at generation 1", r)
			}
			restart(t, e, tt.kind, "w")
			for i, want := range tt.steps {
				r, _ := e.Rollout(tt.kind, "ci", "w")
				got := state{r.ObservedGeneration, r.Total, r.Updated, r.Ready, r.Available, r.Done}
				if got != want {
					t.Fatalf("step %d: %+v, want %+v", i, got, want)
				}
				if r.RestartedAt != "2026-01-02T03:04:05Z" {
					t.Fatalf("restartedAt = %q", r.RestartedAt)
				}
				clock.tick(time.Second)
			}
			if tt.kind == KindStatefulSet {
				s, _ := e.StatefulSet("ci", "w")
				if s.Status.CurrentRevision != s.Status.UpdateRevision || s.Status.CurrentReplicas != 3 {
					t.Errorf("status after the rollout = %+v", s.Status)
				}
			}
		})
	}
}

// Steps due while nobody looked all happen at the next read, and each
// status write bumped the resourceVersion once per read.
func TestRolloutCatchesUpLazily(t *testing.T) {
	e, clock := newClocked(t)
	if err := e.AddDeployment("ci", "w", 2); err != nil {
		t.Fatal(err)
	}
	restart(t, e, KindDeployment, "w")
	before := e.ResourceVersion()
	clock.tick(time.Hour)
	if r, _ := e.Rollout(KindDeployment, "ci", "w"); !r.Done || r.ObservedGeneration != 2 {
		t.Fatalf("rollout an hour later = %+v", r)
	}
	d, _ := e.Deployment("ci", "w")
	if d.ResourceVersion == before || d.Annotations[revisionAnnotation] != "2" {
		t.Errorf("resourceVersion %s (before %s), revision %q", d.ResourceVersion, before, d.Annotations[revisionAnnotation])
	}
	if again := e.ResourceVersion(); again != d.ResourceVersion {
		t.Errorf("an idle controller wrote again: %s after %s", again, d.ResourceVersion)
	}
}

// A stuck Deployment observes the change, starts one pod that never gets
// ready, and its progress deadline passes; unstuck, it completes.
func TestStuckDeploymentMissesItsDeadline(t *testing.T) {
	e, clock := newClocked(t)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "w"},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr(int32(2)),
			ProgressDeadlineSeconds: ptr(int32(30)),
			Selector:                &metav1.LabelSelector{MatchLabels: appLabels("w")},
			Template:                podTemplate("w"),
		},
	}
	if err := e.Add(d); err != nil {
		t.Fatal(err)
	}
	if err := e.SetStuck(KindDeployment, "ci", "w", true); err != nil {
		t.Fatal(err)
	}
	restart(t, e, KindDeployment, "w")
	clock.tick(10 * time.Second)
	r, _ := e.Rollout(KindDeployment, "ci", "w")
	if r.Done || r.ObservedGeneration != 2 || r.Total != 3 || r.Updated != 1 || r.Available != 2 {
		t.Fatalf("stuck rollout = %+v", r)
	}
	if c := progressing(t, e); c.Reason != "ReplicaSetUpdated" {
		t.Fatalf("Progressing before the deadline = %+v", c)
	}
	clock.tick(30 * time.Second)
	if c := progressing(t, e); c.Status != "False" || c.Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("Progressing after the deadline = %+v", c)
	}
	if err := e.SetStuck(KindDeployment, "ci", "w", false); err != nil {
		t.Fatal(err)
	}
	clock.tick(time.Minute)
	if r, _ := e.Rollout(KindDeployment, "ci", "w"); !r.Done {
		t.Fatalf("unstuck rollout = %+v", r)
	}
	if c := progressing(t, e); c.Reason != "NewReplicaSetAvailable" {
		t.Fatalf("Progressing after the rollout = %+v", c)
	}
}

func progressing(t *testing.T, e *Emulator) appsv1.DeploymentCondition {
	t.Helper()
	d, _ := e.Deployment("ci", "w")
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c
		}
	}
	t.Fatal("no Progressing condition")
	return appsv1.DeploymentCondition{}
}
