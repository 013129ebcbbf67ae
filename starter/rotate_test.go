package main

import (
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
