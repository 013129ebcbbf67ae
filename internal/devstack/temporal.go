package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/contract"
)

// TemporalOptions configure the dev server.
type TemporalOptions struct {
	CodecEndpoint string    // the Web UI decodes payloads through this codec server
	UI            bool      // serve the Web UI too
	UIPort        string    // fixed UI port; a free one when empty
	Port          string    // fixed frontend port; a free one when empty
	Output        io.Writer // server logs; discarded when nil
}

// StartTemporal starts `temporal server start-dev` (in-memory) with the
// pinned CLI, never downloading one.
func StartTemporal(ctx context.Context, o TemporalOptions) (*testsuite.DevServer, error) {
	cli, err := TemporalCLI()
	if err != nil {
		return nil, err
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	opts := testsuite.DevServerOptions{
		ExistingPath: cli,
		EnableUI:     o.UI,
		UIPort:       o.UIPort,
		LogLevel:     "error",
		// A quiet logger: the SDK logs the server's command line at info
		// level, and it carries the codec endpoint with its token.
		ClientOptions: &client.Options{Namespace: "default", Logger: quietLogger()},
		Stdout:        out,
		Stderr:        out,
	}
	opts.ExtraArgs = append(opts.ExtraArgs, devServerArgs()...)
	if o.CodecEndpoint != "" {
		opts.ExtraArgs = append(opts.ExtraArgs, "--ui-codec-endpoint", o.CodecEndpoint)
	}
	if o.Port != "" {
		opts.ClientOptions.HostPort = "127.0.0.1:" + o.Port
	}
	s, err := startWithEnv(devServerGOGC, func() (*testsuite.DevServer, error) { return testsuite.StartDevServer(ctx, opts) })
	if err != nil {
		return nil, fmt.Errorf("start Temporal dev server with %s: %w", cli, err)
	}
	return s, nil
}

// devServerArgs register keyrotor's search attributes as the server starts
// and tune it for many short rotations, as deploy/temporal/dynamicconfig.yaml
// does for a real cluster:
//   - eager activities: a worker that schedules an activity it has a free
//     slot for gets the task in the answer to its workflow task, without a
//     trip through matching (a quarter of the fleet benchmark's time);
//   - the search attribute cache as on a real server: the dev server reads
//     the attributes from its database on every upsert by default (so that
//     attributes added while it runs show at once), which the attributes
//     registered here do not need (a tenth of the fleet benchmark's CPU);
//   - the database in SQLite's memdb VFS (devServerStore).
//
// The history service's cache keeps the dev server's 8,096 workflows: a
// fleet run a window at a time (starter rotate --all --max-concurrent)
// holds far fewer open, and a larger cache only keeps more closed ones in
// memory (a 10,000-user fleet took no less time with room for 32,768).
func devServerArgs() []string {
	args := []string{
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false",
	}
	args = append(args, devServerStore...)
	for _, name := range contract.SearchAttributeNames {
		args = append(args, "--search-attribute", name+"=Keyword")
	}
	return args
}

// devServerStore keeps the dev server's database in memory, as the CLI
// does by default, but in SQLite's memdb VFS instead of its in-memory
// pager (mode=memory). The in-memory pager's page cache holds the whole
// database, and SQLite walks all of it at the commit after any b-tree
// balance that renumbers pages (it parks a page at the lock-byte page's
// number on the way): a cost per rotation that grew with the database,
// from 1% of the dev server's CPU early in a 10,000-user fleet to a tenth
// late. Through memdb the pager keeps its usual bounded cache and reads
// the rest from memory.
//
// The CLI passes --sqlite-pragma values on as connection attributes:
// mode and vfs are URI parameters; setup=true makes the server create its
// schema, which the CLI does itself only for mode=memory. A memdb
// database holds at most 1 GiB (SQLite's default), far more than any test
// or the demo writes (a 10,000-user fleet writes a few hundred MiB).
var devServerStore = []string{
	"--sqlite-pragma", "mode=rwc",
	"--sqlite-pragma", "vfs=memdb",
	"--sqlite-pragma", "setup=true",
}

// devServerGOGC is the dev server's garbage collector setting: a fleet's
// worth of rotations held in memory made the collector a sixth of the
// server's CPU at the default 100; at 400 it runs a quarter as often, for
// a larger heap (a few hundred MiB more for 10,000 open rotations). A
// GOGC already set in the environment wins.
const devServerGOGC = "400"

// envMu serializes startWithEnv: the environment is the process's.
var envMu sync.Mutex

// startWithEnv runs start, which starts the dev server's process, with
// GOGC set to gogc in the environment that process inherits (the SDK's
// DevServerOptions take no environment), then puts the variable back.
func startWithEnv(gogc string, start func() (*testsuite.DevServer, error)) (*testsuite.DevServer, error) {
	if _, set := os.LookupEnv("GOGC"); set {
		return start()
	}
	envMu.Lock()
	defer envMu.Unlock()
	if err := os.Setenv("GOGC", gogc); err != nil {
		return start()
	}
	s, err := start()
	_ = os.Unsetenv("GOGC") // fails only for an invalid name
	return s, err
}

// TemporalCLI finds the pinned temporal CLI: $KEYROTOR_TEMPORAL_CLI, then
// bin/temporal in the repository, then PATH.
func TemporalCLI() (string, error) {
	if p := os.Getenv("KEYROTOR_TEMPORAL_CLI"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if root, ok := repoRoot(); ok {
		p := filepath.Join(root, "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the temporal CLI is not installed: run `make tools` (it installs github.com/temporalio/cli/cmd/temporal@v1.5.1 into bin/)")
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Dial connects to the dev server with the payload codec and the
// encrypting failure converter, like the worker and the starter
// (connect.ClientConverters; strict as for connect.WithStrictInputs, for a
// worker's client), and an SDK logger that only reports warnings and
// errors, so the demo's and the tests' output stays readable.
func Dial(s *testsuite.DevServer, keys *codec.Keyring, strict ...reflect.Type) (client.Client, error) {
	dc, fc := connect.ClientConverters(keys, strict...)
	return client.Dial(client.Options{
		HostPort:          s.FrontendHostPort(),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: connect.Compression(os.LookupEnv)},
		Namespace:         client.DefaultNamespace,
		Logger:            quietLogger(),
		DataConverter:     dc,
		FailureConverter:  fc,
	})
}

// NewCodecKey writes a fresh payload encryption key into dir and loads it.
func NewCodecKey(dir string) (path string, keys *codec.Keyring, err error) {
	path = filepath.Join(dir, "codec.key")
	if err := codec.GenerateKeyFile(path); err != nil {
		return "", nil, err
	}
	keys, err = codec.LoadKeyring([]string{path})
	return path, keys, err
}

// quietLogger reports only the SDK's warnings and errors.
func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
