//go:build linux

package cluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/contract"
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

// windowedFleet rotates every user, window rotations at a time, starting
// the next as one ends (as `starter rotate --all --max-concurrent` does),
// and fails unless every rotation ends done. It returns the wall time.
func (s *stack) windowedFleet(users []string, window int) time.Duration {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	errs := make([]error, len(users))
	next := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range min(window, len(users)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = s.rotateOne(ctx, users[i])
			}
		})
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(began)
	for i, err := range errs {
		if err != nil {
			s.t.Fatalf("%s: %v\n%s", users[i], err, s.workerTails(15))
		}
	}
	return wall
}

// rotateOne starts a rotation of user and waits for it to end done.
func (s *stack) rotateOne(ctx context.Context, user string) error {
	rot, err := s.cfg.Rotation("", user)
	if err != nil {
		return err
	}
	started, err := operator.StartRotation(ctx, s.client, taskQueue, rot)
	if err != nil {
		return err
	}
	st, err := operator.Wait(ctx, s.client, started)
	if err == nil && st.Phase != contract.PhaseDone {
		err = fmt.Errorf("ended %s: %s", st.Phase, st.Error)
	}
	return err
}

// stopAll stops the stack's worker processes.
func (s *stack) stopAll() {
	for _, w := range s.workers {
		w.stop(syscall.SIGTERM, 30*time.Second)
	}
}
