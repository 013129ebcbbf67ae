package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
)

const rotateSynopsis = `rotate --config FILE --user NAME [--account NAME] [--wait] [--output text|json]
       starter rotate --config FILE --all [--account NAME] [--max-concurrent N] [--skip-rotated-within D] [--wait] [--output text|json]
       starter rotate --config FILE --dry-run (--user NAME | --all) [--account NAME] [--output text|json]

Starts the rotation of one IAM user (or reports the one already running).

With --all, starts the rotation of every configured user (of one account with
--account), at most --max-concurrent running at once: a rotation counts until
it ends, so with more users than that the starter stays until the last one has
started, waiting for rotations to end. With --wait it also waits for the last
ones to end. A live progress line shows the counts; at the end a table lists
every user's outcome, new key ID, duration and error; the exit status is 1 if
any rotation failed. A user whose rotation already runs is not started again:
it counts against the limit and, with --wait, its end is reported. Ctrl-C
stops starting rotations; those running go on in Temporal. To pick up where
a run stopped, run it again with --skip-rotated-within covering it (the
starter prints the command).

With --dry-run, nothing is created or started (Temporal is not contacted):
for each user (a block per user) it shows the workflow it would start and,
per target, its kind, the two names the rotation writes there (secret or
variable names, an AWS secret's JSON fields, a Kubernetes Secret's data keys
and the workloads it restarts) and how the write is confirmed (read back,
metadata, or a masked value's end). It then checks harmlessly, with the
worker's credentials, that every permission is there: the IAM actions on the
user (ListAccessKeys, and SimulatePrincipalPolicy for the others, as
validate --check-access does) and each target's read-only check. The exit
status is 1 if anything is missing.`

func rotateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("rotate", rotateSynopsis)
	common := addCommonFlags(fs)
	fs.Lookup("user").Usage = "IAM user (required, unless --all)"
	fs.Lookup("account").Usage = "account of the user (needed when the user is configured in several accounts); with --all: only this account's users"
	wait := fs.Bool("wait", false, "wait for the rotation to end and print its report (with --all: every rotation, then the table); exit status 1 if it failed")
	all := fs.Bool("all", false, "rotate every configured user (of --account, when given) instead of one --user")
	maxConcurrent := fs.Int("max-concurrent", operator.DefaultMaxConcurrent, "with --all: the most rotations running at once, counting those already running")
	skipWithin := fs.String("skip-rotated-within", "", "with --all: skip users whose last rotation ended done within this duration (e.g. 2h, 7d)")
	dryRun := fs.Bool("dry-run", false, "create no key and start nothing: show what the rotation would write to each target and how it\n"+
		"would confirm it, and check harmlessly that the IAM actions and every target are allowed;\nexit status 1 if anything is missing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dryRun {
		for _, name := range []string{"wait", "max-concurrent", "skip-rotated-within"} {
			if flagSet(fs, name) {
				return usageError("--%s cannot be used with --dry-run", name)
			}
		}
		return rotateDryRun(ctx, fs, common, *all, stdout)
	}
	if *all {
		return rotateAll(ctx, fs, common, *wait, *maxConcurrent, *skipWithin, stdout)
	}
	for _, name := range []string{"max-concurrent", "skip-rotated-within"} {
		if flagSet(fs, name) {
			return usageError("--%s needs --all", name)
		}
	}
	env, err := common.load(ctx, fs)
	if err != nil {
		return err
	}
	defer env.close()

	started, err := operator.StartRotation(ctx, env.client, env.cfg.TaskQueue, env.rotation)
	if err != nil {
		return err
	}
	verb := "started"
	if started.AlreadyRunning {
		verb = "already running"
	}
	return followRotation(ctx, env, started, fmt.Sprintf("rotation %s %s (run %s)", started.WorkflowID, verb, started.RunID), *wait, *common.output, stdout)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// fleetReport is the JSON form of `starter rotate --all`.
type fleetReport struct {
	Counts      operator.FleetProgress `json:"counts"`
	Results     []operator.FleetResult `json:"results"`
	Interrupted bool                   `json:"interrupted,omitempty"`
}

func rotateAll(ctx context.Context, fs *flag.FlagSet, common commonFlags, wait bool, maxConcurrent int, skipWithin string, stdout io.Writer) error {
	switch {
	case *common.config == "":
		fs.Usage()
		return usageError("--config is required")
	case *common.user != "":
		return usageError("--all and --user are mutually exclusive")
	case *common.output != "text" && *common.output != "json":
		return usageError("--output must be text or json, not %q", *common.output)
	case maxConcurrent < 1:
		return usageError("--max-concurrent must be at least 1, not %d", maxConcurrent)
	}
	var skip time.Duration
	if skipWithin != "" {
		d, err := config.ParseDuration(skipWithin)
		if err != nil || d < 0 {
			return usageError("--skip-rotated-within: %q is not a duration such as 2h or 7d", skipWithin)
		}
		skip = d
	}
	cfg, err := config.Load(*common.config)
	if err != nil {
		return err
	}
	rotations, err := selectRotations(cfg, *common.account, "")
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	text := *common.output == "text"
	progress := newProgressWriter(stdout)
	opts := operator.FleetOptions{MaxConcurrent: maxConcurrent, Wait: wait, SkipRotatedWithin: skip}
	if text {
		opts.Progress = progress.update
		fmt.Fprintf(stdout, "rotating %d users, at most %d at once\n", len(rotations), maxConcurrent)
	}
	began := time.Now()
	results := operator.RunFleet(ctx, operator.FleetClient{Client: c, TaskQueue: cfg.TaskQueue, Namespace: connect.Namespace()}, rotations, opts)
	progress.end()
	counts := operator.CountFleet(results)
	interrupted := ctx.Err() != nil
	if text {
		fmt.Fprintln(stdout)
		if err := report.FleetResults(stdout, results, time.Now()); err != nil {
			return err
		}
	} else if err := writeJSON(stdout, fleetReport{Counts: counts, Results: results, Interrupted: interrupted}); err != nil {
		return err
	}
	if interrupted {
		if text {
			// Covers this run, rounded up to the minute, with a minute to spare.
			within := max(skip, time.Since(began).Truncate(time.Minute)+2*time.Minute)
			fmt.Fprintf(stdout, "\ninterrupted: %d rotations go on in Temporal (they are durable workflows), %d not started.\n", counts.Running, counts.Queued)
			fmt.Fprintf(stdout, "To pick up where this stopped (running rotations are not started twice):\n  %s\n", resumeCommand(fs, within))
		}
		return fmt.Errorf("interrupted: %d rotations running, %d not started", counts.Running, counts.Queued)
	}
	if counts.Failed > 0 {
		return fmt.Errorf("%d of %d rotations failed", counts.Failed, counts.Total)
	}
	return nil
}

// resumeCommand is this command line again, with --skip-rotated-within set
// to within.
func resumeCommand(fs *flag.FlagSet, within time.Duration) string {
	cmd := "starter rotate"
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "skip-rotated-within":
		case f.Value.String() == "true":
			cmd += " --" + f.Name
		default:
			cmd += " --" + f.Name + " " + f.Value.String()
		}
	})
	return cmd + " --skip-rotated-within " + within.String()
}

// progressWriter shows the fleet's progress: one line rewritten in place
// on a terminal, else a line whenever the counts change (at most every
// poll) and at least every 30 s.
type progressWriter struct {
	w        io.Writer
	terminal bool
	last     string
	lastAt   time.Time
	shown    bool
}

func newProgressWriter(w io.Writer) *progressWriter {
	p := &progressWriter{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressWriter) update(fp operator.FleetProgress) {
	line := report.FleetProgress(fp)
	switch {
	case p.terminal:
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.shown = true
	case line != p.last || time.Since(p.lastAt) >= 30*time.Second:
		fmt.Fprintf(p.w, "%s  %s\n", time.Now().UTC().Format("15:04:05Z"), line)
		p.lastAt = time.Now()
	}
	p.last = line
}

func (p *progressWriter) end() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
