package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// stubbed runs a deploy/compose script with sh, with the given programs
// replaced by shell stubs (which may log their arguments to $LOG), and
// returns its output, the stubs' log lines and its exit error.
func stubbed(t *testing.T, script string, stubs map[string]string, env ...string) (string, []string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "log")
	cmd := exec.Command("sh", filepath.Join(root, "deploy", "compose", script))
	cmd.Env = append([]string{"PATH=" + dir + ":/usr/bin:/bin", "LOG=" + log, "STATE=" + dir}, env...)
	out, err := cmd.CombinedOutput()
	var lines []string
	if b, rerr := os.ReadFile(log); rerr == nil {
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return string(out), lines, err
}

// TestSetupPostgres runs setup-postgres.sh against a stub temporal-sql-tool:
// it must run Temporal's compose steps for both databases, carry on when a
// database already exists, and stop on any other error.
func TestSetupPostgres(t *testing.T) {
	env := []string{"POSTGRES_SEEDS=postgresql", "POSTGRES_USER=temporal", "SQL_PASSWORD=pw", "DB_PORT=5432"}
	sqlTool := `echo "$*" >> "$LOG"
case "$*" in
*"--db temporal_visibility create") [ -n "$VIS_EXISTS" ] && { echo 'pq: database "temporal_visibility" already exists' >&2; exit 1; } ;;
*" create") [ -n "$AUTH_FAILS" ] && { echo 'pq: password authentication failed for user "temporal"' >&2; exit 1; } ;;
esac
exit 0`
	base := "--plugin postgres12 --ep postgresql -u temporal -p 5432 --db "
	want := []string{
		base + "temporal create",
		base + "temporal setup-schema -v 0.0",
		base + "temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned",
		base + "temporal_visibility create",
		base + "temporal_visibility setup-schema -v 0.0",
		base + "temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned",
	}
	stubs := map[string]string{"temporal-sql-tool": sqlTool}

	out, calls, err := stubbed(t, "setup-postgres.sh", stubs, env...)
	if err != nil || !slices.Equal(calls, want) {
		t.Errorf("fresh database: err %v, calls\n  %s\nwant\n  %s\noutput:\n%s", err, strings.Join(calls, "\n  "), strings.Join(want, "\n  "), out)
	}
	out, calls, err = stubbed(t, "setup-postgres.sh", stubs, append(env, "VIS_EXISTS=1")...)
	if err != nil || !slices.Equal(calls, want) || !strings.Contains(out, "temporal_visibility already exists") {
		t.Errorf("existing database: err %v, calls %q, output:\n%s", err, calls, out)
	}
	out, calls, err = stubbed(t, "setup-postgres.sh", stubs, append(env, "AUTH_FAILS=1")...)
	if err == nil || len(calls) != 1 || !strings.Contains(out, "password authentication failed") {
		t.Errorf("failing create: err %v, calls %q, output:\n%s", err, calls, out)
	}
	if _, _, err := stubbed(t, "setup-postgres.sh", stubs, "POSTGRES_SEEDS=postgresql", "POSTGRES_USER=temporal"); err == nil {
		t.Error("runs without SQL_PASSWORD")
	}
}

// TestCreateNamespace runs create-namespace.sh against a stub temporal CLI:
// it waits for the server, creates the namespace once, and registers
// exactly keyrotor's search attributes (contract.SearchAttributeNames, all
// Keyword) that the namespace lacks.
func TestCreateNamespace(t *testing.T) {
	temporal := `echo "$*" >> "$LOG"
case "$*" in
"operator cluster health"*)
	n=$(cat "$STATE/health" 2>/dev/null || echo 0); echo $((n + 1)) > "$STATE/health"
	[ "$n" -ge 2 ] ;;
"operator namespace describe"*) [ -n "$NS_EXISTS" ] ;;
"operator namespace create"*) exit 0 ;;
"operator search-attribute list"*) printf 'Name  Type\nWorkflowId  Keyword\n%s\n' "$HAVE" ;;
"operator search-attribute create"*) exit 0 ;;
*) exit 3 ;;
esac`
	env := []string{"TEMPORAL_ADDRESS=temporal:7233", "TEMPORAL_NAMESPACE=keyrotor", "WAIT_SECONDS=0", "WAIT_ATTEMPTS=5"}
	stubs := map[string]string{"temporal": temporal}
	const addr = " --address temporal:7233"

	out, calls, err := stubbed(t, "create-namespace.sh", stubs, env...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{
		"operator cluster health" + addr, "operator cluster health" + addr, "operator cluster health" + addr,
		"operator namespace describe --namespace keyrotor" + addr,
		"operator namespace create --namespace keyrotor --retention 30d" + addr,
		"operator search-attribute list --namespace keyrotor" + addr,
	}
	for _, name := range contract.SearchAttributeNames {
		want = append(want, "operator search-attribute create --namespace keyrotor --name "+name+" --type Keyword"+addr)
	}
	if !slices.Equal(calls, want) {
		t.Errorf("new namespace: calls\n  %s\nwant\n  %s", strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
	}

	// Again, with the namespace and one attribute in place.
	have := contract.SearchAttributeNames[0] + "  Keyword"
	_, calls, err = stubbed(t, "create-namespace.sh", stubs, append(env, "NS_EXISTS=1", "HAVE="+have)...)
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	for _, c := range calls {
		if strings.HasPrefix(c, "operator namespace create") {
			t.Errorf("created an existing namespace: %s", c)
		}
		if strings.HasPrefix(c, "operator search-attribute create") {
			created = append(created, strings.Fields(c)[6])
		}
	}
	if !slices.Equal(created, contract.SearchAttributeNames[1:]) {
		t.Errorf("with %s in place created %v, want %v", contract.SearchAttributeNames[0], created, contract.SearchAttributeNames[1:])
	}

	// A server that never answers: the script gives up.
	stubs["temporal"] = `echo "$*" >> "$LOG"; exit 1`
	if _, calls, err := stubbed(t, "create-namespace.sh", stubs, env...); err == nil || len(calls) != 5 {
		t.Errorf("unreachable server: err %v after %d calls, want an error after 5", err, len(calls))
	}
}

// TestInitSecrets runs init-secrets.sh: what it writes must be accepted by
// keyrotor (the payload key, the codec server token), the env files must
// hold what the compose services read, nothing may be readable by others
// where it need not be, and a second run must change nothing.
func TestInitSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	initSecrets(t, dir)

	if _, err := codec.LoadKeyring([]string{filepath.Join(dir, "codec.key")}); err != nil {
		t.Errorf("codec.key: %v", err)
	}
	token := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "codec-server.token"))))
	if err := codec.CheckToken(model.Secret(token)); err != nil {
		t.Errorf("codec-server.token: %v", err)
	}
	if got := string(mustRead(t, filepath.Join(dir, "ui.env"))); got != "TEMPORAL_CODEC_ENDPOINT=http://localhost:8081/"+token+"\n" {
		t.Errorf("ui.env = %q", got)
	}
	pg := map[string]string{}
	for _, line := range strings.Fields(string(mustRead(t, filepath.Join(dir, "postgres.env")))) {
		k, v, _ := strings.Cut(line, "=")
		pg[k] = v
	}
	if len(pg["POSTGRES_PASSWORD"]) < 32 || pg["POSTGRES_PWD"] != pg["POSTGRES_PASSWORD"] || pg["SQL_PASSWORD"] != pg["POSTGRES_PASSWORD"] {
		t.Errorf("postgres.env: want one random password as POSTGRES_PASSWORD, POSTGRES_PWD and SQL_PASSWORD, got %d keys", len(pg))
	}
	if got, want := string(mustRead(t, filepath.Join(dir, "keyrotor.env"))), string(readFile(t, "deploy/compose/keyrotor.env.example")); got != want {
		t.Error("keyrotor.env is not a copy of keyrotor.env.example")
	}
	modes := map[string]os.FileMode{
		"":                   0o700,
		"codec.key":          0o644, // mounted into containers that run as 65532
		"codec-server.token": 0o644,
		"ui.env":             0o600,
		"postgres.env":       0o600,
		"keyrotor.env":       0o600,
	}
	before := map[string]string{}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Join("secrets", name), fi.Mode().Perm(), want)
		}
		if name != "" {
			before[name] = string(mustRead(t, filepath.Join(dir, name)))
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(modes)-1 {
		t.Errorf("secrets holds %d files, want %d", len(entries), len(modes)-1)
	}

	out := initSecrets(t, dir)
	for name, was := range before {
		if string(mustRead(t, filepath.Join(dir, name))) != was {
			t.Errorf("a second run replaced %s", name)
		}
	}
	if strings.Contains(out, "created") {
		t.Errorf("a second run created files:\n%s", out)
	}
}
