//go:build linux

// Package cluster runs keyrotor against a real Temporal cluster: the
// Temporal server binary with PostgreSQL persistence (default and
// visibility stores) and the frontend, history, matching and worker
// services, set up the way a self-hosted deployment is (database creation,
// schema setup and upgrades with temporal-sql-tool, a namespace, a dynamic
// config file). Two worker processes and the codec server run against it,
// and the emulators stand in for IAM, GitHub and GitLab.
//
// It lives apart from tests/ so the dev-server tests do not wait for it.
// It needs PostgreSQL (initdb and postgres; on Debian: apt-get install -y
// postgresql) and the pinned server binaries (make tools), and skips,
// saying how to install what is missing, without them.
package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/devstack"
)

// Where the test finds what it runs. The Makefile exports the first two
// (and KEYROTOR_TEMPORAL_CLI) pointing into bin/.
const (
	envServer    = "KEYROTOR_TEMPORAL_SERVER"     // the temporal-server binary
	envSQLTool   = "KEYROTOR_TEMPORAL_SQL_TOOL"   // the temporal-sql-tool binary
	envSchemaDir = "KEYROTOR_TEMPORAL_SCHEMA_DIR" // the server's schema/postgresql/v12 (default: from the module cache)
	envPGBinDir  = "KEYROTOR_POSTGRES_BINDIR"     // the directory holding initdb and postgres
)

const installServer = "run `make tools` (it installs go.temporal.io/server/cmd/server and go.temporal.io/server/cmd/tools/sql, at the version pinned in the Makefile, as bin/temporal-server and bin/temporal-sql-tool), or set " + envServer + " and " + envSQLTool

const installPostgres = "install PostgreSQL (Debian/Ubuntu: apt-get install -y postgresql), or set " + envPGBinDir + " to the directory holding initdb and postgres"

// toolset is what the test runs, found once in TestMain.
type toolset struct {
	server, sqlTool, cli string // temporal-server, temporal-sql-tool, the temporal CLI
	schemaDir            string // the server's schema/postgresql/v12
	pgBin                string // holds initdb, postgres and pg_isready
	// pgCred runs PostgreSQL as the postgres user when the test runs as
	// root (PostgreSQL refuses to run as root); nil runs it as ourselves.
	pgCred *syscall.Credential
}

var (
	tools      toolset
	skipReason string // why the test skips, when something is missing
	binDir     string // the worker and starter binaries built for this run
	repoDir    string // the repository root
	buildTime  time.Duration
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	repoDir = root
	tools, skipReason = findTools()
	if skipReason != "" {
		// The test itself reports the reason as its skip message.
		return m.Run()
	}
	binDir, err = os.MkdirTemp("", "keyrotor-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	t0 := time.Now()
	build := exec.Command("go", "build", "-o", binDir+"/", "./worker", "./starter")
	build.Dir = repoDir
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster: build the worker and starter:", err)
		return 1
	}
	buildTime = time.Since(t0)
	return m.Run()
}

// findTools finds every binary the test needs, or says what is missing and
// how to install it.
func findTools() (toolset, string) {
	var ts toolset
	var missing []string
	var err error
	if ts.cli, err = devstack.TemporalCLI(); err != nil {
		missing = append(missing, err.Error())
	}
	ts.server = findBinary(envServer, "temporal-server")
	ts.sqlTool = findBinary(envSQLTool, "temporal-sql-tool")
	if ts.server == "" || ts.sqlTool == "" {
		missing = append(missing, "the Temporal server binaries (temporal-server, temporal-sql-tool) are not installed: "+installServer)
	} else if ts.schemaDir, err = schemaDir(ts.server); err != nil {
		missing = append(missing, err.Error())
	}
	if ts.pgBin = postgresBinDir(); ts.pgBin == "" {
		missing = append(missing, "PostgreSQL (initdb, postgres, pg_isready) is not installed: "+installPostgres)
	} else if ts.pgCred, err = postgresCredential(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		return ts, strings.Join(missing, "; ")
	}
	return ts, ""
}

// findBinary looks at $env, then bin/<name> in the repository, then PATH.
func findBinary(env, name string) string {
	candidates := []string{os.Getenv(env), filepath.Join(repoDir, "bin", name)}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// schemaDir finds the PostgreSQL schema of the server's version: $env, else
// the server module in the Go module cache (go install put it there).
func schemaDir(server string) (string, error) {
	if d := os.Getenv(envSchemaDir); d != "" {
		return d, nil
	}
	out, err := exec.Command(server, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", server, err)
	}
	fields := strings.Fields(string(out)) // "temporal version 1.29.1"
	if len(fields) == 0 {
		return "", fmt.Errorf("%s --version printed nothing", server)
	}
	version := "v" + strings.TrimPrefix(fields[len(fields)-1], "v")
	dl := exec.Command("go", "mod", "download", "-json", "go.temporal.io/server@"+version)
	dl.Dir = os.TempDir() // outside any module: nothing to update
	out, err = dl.Output()
	if err != nil {
		return "", fmt.Errorf("find the schema of Temporal server %s (go mod download go.temporal.io/server@%s: %v); set %s to its schema/postgresql/v12", version, version, err, envSchemaDir)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download go.temporal.io/server@%s: no module directory", version)
	}
	d := filepath.Join(mod.Dir, "schema", "postgresql", "v12")
	if _, err := os.Stat(filepath.Join(d, "temporal", "versioned")); err != nil {
		return "", fmt.Errorf("no PostgreSQL schema in %s: %w", d, err)
	}
	return d, nil
}

// postgresBinDir finds the directory holding initdb, postgres and
// pg_isready: $env, pg_config --bindir, the newest /usr/lib/postgresql/*/bin
// (Debian keeps them off PATH), then initdb on PATH.
func postgresBinDir() string {
	var candidates []string
	if d := os.Getenv(envPGBinDir); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(resolved))
		}
	}
	for _, d := range candidates {
		ok := true
		for _, name := range []string{"initdb", "postgres", "pg_isready"} {
			if _, err := os.Stat(filepath.Join(d, name)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// postgresCredential is the postgres user's, when we are root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as another user and there is no postgres user (apt-get install -y postgresql creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user: uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module github.com/keyrotor/keyrotor")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/keyrotor/keyrotor above the working directory")
		}
		dir = parent
	}
}
