package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// After Ctrl-C the starter prints the command that picks up where it
// stopped: the same flags, with --skip-rotated-within covering the run.
func TestResumeCommand(t *testing.T) {
	fs := newFlagSet("rotate", rotateSynopsis)
	addCommonFlags(fs)
	fs.Bool("wait", false, "")
	fs.Bool("all", false, "")
	fs.Int("max-concurrent", 20, "")
	fs.String("skip-rotated-within", "", "")
	if err := fs.Parse([]string{"--config", "k.yaml", "--all", "--max-concurrent", "3", "--wait", "--skip-rotated-within", "1m"}); err != nil {
		t.Fatal(err)
	}
	got := resumeCommand(fs, 4*time.Minute)
	want := "starter rotate --all --config k.yaml --max-concurrent 3 --wait --skip-rotated-within 4m0s"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// rotate --dry-run refuses the flags that only mean something when
// rotations start, and needs one user or --all (exit status 2).
func TestRotateDryRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"rotate", "--dry-run", "--config", "k.yaml"},
		{"rotate", "--dry-run", "--config", "k.yaml", "--user", "u", "--all"},
		{"rotate", "--dry-run", "--config", "k.yaml", "--user", "u", "--wait"},
		{"rotate", "--dry-run", "--config", "k.yaml", "--all", "--max-concurrent", "3"},
		{"rotate", "--dry-run", "--config", "k.yaml", "--all", "--skip-rotated-within", "2h"},
		{"rotate", "--dry-run", "--config", "k.yaml", "--user", "u", "--output", "yaml"},
		{"rotate", "--dry-run", "--user", "u"},
	} {
		var out, errOut strings.Builder
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit status %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}
