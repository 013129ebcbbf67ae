//go:build linux

package cluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// benchFleetEnv sets the cluster benchmark's fleet size (users; 1,000 when
// unset), as it does the dev-server fleet benchmark's in tests/.
const benchFleetEnv = "KEYROTOR_BENCH_FLEET"

// benchWindow is how many of the benchmark's rotations run at once, as in
// the dev-server fleet benchmark.
const benchWindow = 50

// BenchmarkClusterFleet rotates the same fleet on the PostgreSQL cluster
// and on a dev server, one after the other: 1,000 users
// (KEYROTOR_BENCH_FLEET sets another size) with five targets each, zero
// waits and no idle check, 50 rotations at a time, two worker processes on
// each. It reports both wall times and the cluster's time over the dev
// server's.
func BenchmarkClusterFleet(b *testing.B) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	n := 1000
	if v := os.Getenv(benchFleetEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number of users", benchFleetEnv, v)
		}
	}
	names := make([]string, n)
	users := map[string][]model.Target{}
	zeroWaits := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("fleet-%05d", i)
		users[names[i]] = fleetTargets(names[i])
		zeroWaits[names[i]] = "{gracePeriod: 0s, deleteAfter: 0s, requireOldKeyIdle: false}"
	}
	var cluster, dev time.Duration
	for range b.N {
		b.StopTimer()
		ports := freePorts(b, 10)
		pg := startPostgres(b, ports[0])
		setupSchema(b, pg)
		srv := startServer(b, pg, newServerPorts(ports[1:10]))
		createNamespace(b, srv)
		s := newStack(b, srv.address, users, zeroWaits)
		s.startWorkers()
		b.StartTimer()
		cluster += s.windowedFleet(names, benchWindow)
		b.StopTimer()
		s.stopAll()
		srv.proc.stop(syscall.SIGTERM, 30*time.Second)

		d, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s = newStack(b, d.FrontendHostPort(), users, zeroWaits)
		s.startWorkers()
		b.StartTimer()
		dev += s.windowedFleet(names, benchWindow)
		b.StopTimer()
		s.stopAll()
		_ = d.Stop()
		b.StartTimer()
	}
	runs := float64(b.N)
	b.ReportMetric(float64(n), "users")
	b.ReportMetric(cluster.Seconds()/runs, "cluster-wall-s")
	b.ReportMetric(float64(n)*runs/cluster.Seconds(), "cluster-rotations/s")
	b.ReportMetric(dev.Seconds()/runs, "devserver-wall-s")
	b.ReportMetric(float64(n)*runs/dev.Seconds(), "devserver-rotations/s")
	b.ReportMetric(cluster.Seconds()/dev.Seconds(), "cluster/devserver")
}

// windowedFleet rotates every user, window rotations at a time, through
// operator.RunFleet (what `starter rotate --all --max-concurrent` runs),
// and fails unless every rotation ends done. It returns the wall time.
func (s *stack) windowedFleet(users []string, window int) time.Duration {
	s.t.Helper()
	rots := make([]model.Rotation, len(users))
	for i, u := range users {
		rot, err := s.cfg.Rotation("", u)
		if err != nil {
			s.t.Fatal(err)
		}
		rots[i] = rot
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	runner := operator.FleetClient{Client: s.client, TaskQueue: taskQueue, Namespace: "default"}
	began := time.Now()
	results := operator.RunFleet(ctx, runner, rots, operator.FleetOptions{MaxConcurrent: window, Wait: true})
	wall := time.Since(began)
	for _, res := range results {
		if res.Outcome != operator.OutcomeDone {
			s.t.Fatalf("%s: %s (phase %s) %s\n%s", res.User, res.Outcome, res.Phase, res.Error, s.workerTails(15))
		}
	}
	return wall
}

// stopAll stops the stack's worker processes.
func (s *stack) stopAll() {
	for _, w := range s.workers {
		w.stop(syscall.SIGTERM, 30*time.Second)
	}
}
