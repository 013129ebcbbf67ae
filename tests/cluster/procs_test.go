//go:build linux

package cluster

import (
	"bytes"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a process the test started: PostgreSQL, the Temporal server, the
// codec server, a worker. Its output goes to a log file, which a failure
// quotes (the tail). It is stopped when the test ends, whatever happens; and
// if the test binary itself dies (a timeout, a crash), the kernel kills it
// (Pdeathsig), so nothing outlives the run.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, once done is closed
}

// procOptions say how to run one process.
type procOptions struct {
	env  []string            // added to the test's environment
	dir  string              // working directory
	cred *syscall.Credential // run as another user (PostgreSQL under root)
	stop syscall.Signal      // the polite stop signal; SIGTERM when zero
}

// startProc starts bin with args; its output goes to logPath.
func startProc(t testing.TB, name, logPath string, o procOptions, bin string, args ...string) *proc {
	t.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer out.Close()
	if o.cred != nil {
		// The process writes to the inherited descriptor; chown only so
		// the file can be read by whoever inspects it later.
		_ = os.Chown(logPath, int(o.cred.Uid), int(o.cred.Gid))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Dir = o.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: o.cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	sig := o.stop
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	t.Cleanup(func() { p.stop(sig, 15*time.Second) })
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to end, then kills it.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// tail returns the last n lines of the process's output, for a failure
// message.
func (p *proc) tail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no output from %s: %v)", p.name, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s (%s) ---\n%s", len(lines), p.name, p.logPath, strings.Join(lines, "\n"))
}

// requireRunning fails the test, quoting the output, if the process ended.
func (p *proc) requireRunning(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(40))
	}
}

// run runs a command to completion and returns its combined output.
func run(env []string, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// freePorts returns n distinct loopback ports free right now, below 32768:
// the cluster's membership table keeps ports as SMALLINT, so the kernel's
// ephemeral ports (32768 and up) do not fit.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("found only %d free ports below 32768", len(ports))
		}
		port := 20000 + mathrand.IntN(32768-20000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports
}

// waitUntil polls cond every interval until it holds or within passes; it
// returns the last error cond gave.
func waitUntil(within, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
