package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeImage runs `make image` against stand-ins for docker: without
// docker, and without a Docker engine, it must fail saying so; with one, it
// must build the Dockerfile from the repository root with the version and
// revision labels.
func TestMakeImage(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	run := func(docker string) (string, string, error) {
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		if docker != "" {
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+docker+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(mk, "--no-print-directory", "-C", root, "image", "IMAGE_VERSION=v9.9.9", "IMAGE_REVISION=abc123")
		cmd.Env = []string{"PATH=" + dir, "LOG=" + log, "HOME=" + dir}
		out, err := cmd.CombinedOutput()
		b, _ := os.ReadFile(log)
		return string(out), strings.TrimSpace(string(b)), err
	}

	out, _, err := run("")
	if err == nil || !strings.Contains(out, "make image: docker not found") {
		t.Errorf("without docker: err %v, output:\n%s", err, out)
	}
	out, calls, err := run(`echo "$*" >> "$LOG"; [ "$1" = info ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }; exit 0`)
	if err == nil || !strings.Contains(out, "make image: no Docker engine answers") || strings.Contains(calls, "build") {
		t.Errorf("without an engine: err %v, calls %q, output:\n%s", err, calls, out)
	}
	out, calls, err = run(`echo "$*" >> "$LOG"; exit 0`)
	want := "info\nbuild --file Dockerfile --tag keyrotor:dev --build-arg VERSION=v9.9.9 --build-arg REVISION=abc123 ."
	if err != nil || calls != want {
		t.Errorf("with an engine: err %v, calls\n%s\nwant\n%s\noutput:\n%s", err, calls, want, out)
	}
}
