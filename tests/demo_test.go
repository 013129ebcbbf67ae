package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// demoKeyLine is the demo's line naming the user's key before rotation.
var demoKeyLine = regexp.MustCompile(`IAM user ci-deployer has key (AKIA[A-Z0-9]{16})`)

// TestDemoOperatorSide runs the README's "Try the operator side on the
// demo" as a new user would: the demo with a long grace period, then, from
// a shell that sources the .demo/env it wrote, starter status --summary,
// audit, a dry run of the fleet and revoke with the leaked key's ID alone,
// which ends the rotation. The demo then stops cleanly on Ctrl-C, and none
// of the credentials in .demo/env appear in anything it or the starter
// printed.
func TestDemoOperatorSide(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, filepath.Join(binDir, "demo"), "--grace", "10m")
	demo.Dir = dir
	stdout, err := demo.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	demo.Stderr = &stderr
	// Its own process group, so that a failed test stops the dev server the
	// demo started too (the demo stops it itself on Ctrl-C, not on a kill).
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, demo.Start())
	defer func() { _ = syscall.Kill(-demo.Process.Pid, syscall.SIGKILL) }()

	// The demo is up when its rotation waits in the grace period.
	var printed strings.Builder
	lines := bufio.NewScanner(stdout)
	oldKey := ""
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if m := demoKeyLine.FindStringSubmatch(lines.Text()); m != nil {
			oldKey = m[1]
		}
		if strings.Contains(lines.Text(), "… grace") {
			break
		}
	}
	require.NotEmpty(t, oldKey, "the demo names the user's key:\n%s\n%s", printed.String(), stderr.String())
	require.Contains(t, printed.String(), "… grace", "the rotation reaches its grace period:\n%s", stderr.String())
	require.Contains(t, printed.String(), ". .demo/env")

	envFile := filepath.Join(dir, ".demo", "env")
	info, err := os.Stat(envFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the env file holds credentials: its owner's only")
	secrets := demoEnvSecrets(t, envFile)

	// starter runs the starter from a shell that sources .demo/env, in a
	// process environment that points nowhere (the file must say it all).
	starter := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `. ./.demo/env && exec "$0" "$@"`, filepath.Join(binDir, "starter")}, args...)...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		out, err := cmd.CombinedOutput()
		for _, s := range secrets {
			require.NotContains(t, string(out), s, "starter %v printed a credential", args)
		}
		if exit, ok := err.(*exec.ExitError); ok {
			return string(out), exit.ExitCode()
		}
		require.NoError(t, err, string(out))
		return string(out), 0
	}
	cfg := []string{"--config", ".demo/keyrotor.yaml"}

	out, code := starter(append([]string{"status", "--summary"}, cfg...)...)
	require.Zero(t, code, out)
	require.Contains(t, out, "1 users, 1 with a running rotation")
	require.Contains(t, out, "oldest key: "+oldKey+" of demo/ci-deployer")

	out, code = starter(append([]string{"audit", "--output", "json"}, cfg...)...)
	require.Zero(t, code, out)
	require.True(t, json.Valid([]byte(out)), out)
	require.Contains(t, out, oldKey, "the audit lists the user's keys")

	out, code = starter(append([]string{"rotate", "--dry-run", "--all"}, cfg...)...)
	require.Zero(t, code, out)
	require.Contains(t, out, "result: OK")

	out, code = starter(append([]string{"revoke", "--key", oldKey, "--reason", "printed in build 1234", "--wait"}, cfg...)...)
	require.Zero(t, code, out)
	require.Contains(t, out, "key "+oldKey+": account demo")
	require.Contains(t, out, "Rotation rotate/demo/ci-deployer: DONE")
	require.Contains(t, out, oldKey+" done by")

	// Ctrl-C: the demo stops everything and exits 0.
	require.NoError(t, demo.Process.Signal(syscall.SIGINT))
	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	printed.Write(rest)
	require.NoError(t, demo.Wait(), "the demo exits 0 on Ctrl-C:\n%s\n%s", printed.String(), stderr.String())
	for _, s := range secrets {
		require.NotContains(t, printed.String()+stderr.String(), s, "the demo printed a credential")
	}
}

// demoEnvSecrets are the credentials .demo/env holds (the values of its
// *_SECRET_* and *_TOKEN variables), each of which must be longer than a
// few characters for a leak check to mean anything.
func demoEnvSecrets(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var secrets []string
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !(strings.Contains(name, "SECRET") || strings.HasSuffix(name, "_TOKEN")) {
			continue
		}
		value = strings.Trim(value, "'")
		require.Greater(t, len(value), 8, name)
		secrets = append(secrets, value)
	}
	require.NotEmpty(t, secrets)
	return secrets
}
