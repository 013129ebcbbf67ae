//go:build linux

package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// pgUser is the database superuser initdb makes, as the PostgreSQL image of
// Temporal's compose setup does with POSTGRES_USER.
const pgUser = "temporal"

// postgres is a PostgreSQL server of our own: a fresh cluster in a
// temporary directory, on a loopback port, password authentication over
// TCP (a random password, never printed).
type postgres struct {
	port     int
	password string
	proc     *proc
}

// startPostgres makes and starts the cluster and waits until it accepts
// connections.
func startPostgres(t testing.TB, port int) *postgres {
	t.Helper()
	// Not t.TempDir: the postgres user must own the directory, and the
	// test's temporary directories are private to us.
	dir, err := os.MkdirTemp("", "keyrotor-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	own := func(path string) {
		if c := tools.pgCred; c != nil {
			if err := os.Chown(path, int(c.Uid), int(c.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	own(dir)
	pg := &postgres{port: port, password: randomHex(16)}
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(pg.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	own(pwFile)
	data := filepath.Join(dir, "data")
	initdb := startProc(t, "initdb", filepath.Join(dir, "initdb.log"), procOptions{dir: dir, cred: tools.pgCred},
		filepath.Join(tools.pgBin, "initdb"), "-D", data, "-U", pgUser, "--pwfile", pwFile,
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync")
	<-initdb.done
	if initdb.err != nil {
		t.Fatalf("initdb: %v\n%s", initdb.err, initdb.tail(30))
	}
	_ = os.Remove(pwFile)

	// fsync and synchronous commits off: the test measures Temporal and
	// keyrotor, not this machine's disk (and the data is thrown away).
	pg.proc = startProc(t, "postgres", filepath.Join(dir, "postgres.log"), procOptions{dir: dir, cred: tools.pgCred, stop: syscall.SIGINT},
		filepath.Join(tools.pgBin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	err = waitUntil(30*time.Second, 100*time.Millisecond, func() error {
		pg.proc.requireRunning(t)
		out, err := run(nil, filepath.Join(tools.pgBin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("pg_isready: %v %s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("PostgreSQL never accepted connections: %v\n%s", err, pg.proc.tail(30))
	}
	return pg
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
