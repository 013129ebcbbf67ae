package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
)

const schedulesUsage = `Usage: starter schedules VERB --config FILE [flags]

Temporal Schedules that start each configured rotation on its policy's every
or cron, with its jitter. Schedule IDs are rotate/<account>/<user>. A scheduled
run starts the rotation under the workflow ID rotate/<account>/<user>, or skips
if that user's rotation is already running.

Verbs:
  sync      make the schedules match the config: create the missing, update the
            changed, delete keyrotor's schedules (on the config's task queue) whose
            rotation left the config; with selectors, one schedule per user they
            find, and a found user's schedule is deleted once no selector finds
            it (an account that cannot be listed keeps its schedules); prints
            what it did per schedule
              sync --config FILE [--dry-run] [--output text|json]
  list      each schedule's state, next run and last run's result
              list --config FILE [--user NAME] [--account NAME] [--output text|json]
  pause     stop a user's schedule from starting rotations
              pause --config FILE --user NAME [--account NAME] [--note TEXT]
  unpause   resume it
              unpause --config FILE --user NAME [--account NAME] [--note TEXT]
  trigger   take the schedule's action now (the same as
            'temporal schedule trigger --schedule-id rotate/<account>/<user>')
              trigger --config FILE --user NAME [--account NAME]

Run 'starter schedules VERB --help' for a verb's flags.
`

var scheduleVerbs = map[string]command{
	"sync":    schedulesSyncCmd,
	"list":    schedulesListCmd,
	"pause":   schedulesPauseCmd,
	"unpause": schedulesUnpauseCmd,
	"trigger": schedulesTriggerCmd,
}

func schedulesCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, schedulesUsage)
		return usageError("a verb is required: sync, list, pause, unpause or trigger")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, schedulesUsage)
		return flag.ErrHelp
	}
	verb, ok := scheduleVerbs[args[0]]
	if !ok {
		fmt.Fprint(os.Stderr, schedulesUsage)
		return usageError("unknown verb %q", args[0])
	}
	return verb(ctx, args[1:], stdout)
}

// scheduleFlags are the flags every verb shares.
type scheduleFlags struct {
	fs      *flag.FlagSet
	config  *string
	user    *string
	account *string
	output  *string
}

func newScheduleFlags(verb, synopsis string, withUser, withOutput bool) scheduleFlags {
	fs := newFlagSet("schedules "+verb, "schedules "+verb+" "+synopsis)
	f := scheduleFlags{fs: fs, config: fs.String("config", "", "keyrotor configuration file (required)")}
	if withUser {
		f.user = fs.String("user", "", "IAM user whose schedule to act on")
		f.account = fs.String("account", "", "account of the user (needed when the user is configured in several accounts)")
	}
	if withOutput {
		f.output = fs.String("output", "text", "format: text or json")
	}
	return f
}

// parse parses args and checks the flags every verb requires.
func (f scheduleFlags) parse(args []string, needUser bool) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageError("unexpected argument %q", f.fs.Arg(0))
	}
	if *f.config == "" {
		f.fs.Usage()
		return usageError("--config is required")
	}
	if needUser && *f.user == "" {
		f.fs.Usage()
		return usageError("--user is required")
	}
	if f.output != nil && *f.output != "text" && *f.output != "json" {
		return usageError("--output must be text or json, not %q", *f.output)
	}
	return nil
}

// load loads the config and dials Temporal.
func (f scheduleFlags) load(ctx context.Context) (*config.Config, client.Client, error) {
	cfg, err := config.Load(*f.config)
	if err != nil {
		return nil, nil, err
	}
	c, err := dial(ctx, cfg)
	return cfg, c, err
}

func schedulesSyncCmd(ctx context.Context, args []string, stdout io.Writer) error {
	f := newScheduleFlags("sync", "--config FILE [--dry-run] [--output text|json]", false, true)
	dryRun := f.fs.Bool("dry-run", false, "only print what would change; change nothing")
	if err := f.parse(args, false); err != nil {
		return err
	}
	cfg, c, err := f.load(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := syncInput(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	changes, syncErr := operator.SyncDiscovered(ctx, c, cfg, d, *dryRun)
	if *f.output == "json" {
		if err := writeJSON(stdout, changes); err != nil {
			return err
		}
		return syncErr
	}
	report.ScheduleChanges(stdout, changes, *dryRun)
	return syncErr
}

func schedulesListCmd(ctx context.Context, args []string, stdout io.Writer) error {
	f := newScheduleFlags("list", "--config FILE [--user NAME] [--account NAME] [--output text|json]", true, true)
	if err := f.parse(args, false); err != nil {
		return err
	}
	cfg, c, err := f.load(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	filter := operator.Filter{Account: *f.account, User: *f.user}
	if filter.User != "" {
		if _, err := cfg.Rotation(filter.Account, filter.User); err != nil {
			return err
		}
	}
	list, err := operator.List(ctx, c, cfg, filter)
	if err != nil {
		return err
	}
	if *f.output == "json" {
		return writeJSON(stdout, list)
	}
	return report.Schedules(stdout, list)
}

// scheduleOp runs pause, unpause or trigger on one user's schedule; done is
// what it prints after the schedule ID. defaultNote, when not empty, adds a
// --note flag.
func scheduleOp(ctx context.Context, verb string, args []string, stdout io.Writer, defaultNote string,
	op func(context.Context, client.Client, model.Rotation, string) error, done string) error {
	synopsis := "--config FILE --user NAME [--account NAME]"
	if defaultNote != "" {
		synopsis += " [--note TEXT]"
	}
	f := newScheduleFlags(verb, synopsis, true, false)
	note := &defaultNote
	if defaultNote != "" {
		note = f.fs.String("note", defaultNote, "why; shown by list and in the Temporal UI")
	}
	if err := f.parse(args, true); err != nil {
		return err
	}
	cfg, err := config.Load(*f.config)
	if err != nil {
		return err
	}
	rot, err := resolveRotation(ctx, cfg, *f.account, *f.user)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := op(ctx, c, rot, *note); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schedule %s %s\n", operator.ScheduleID(rot), done)
	return nil
}

func schedulesPauseCmd(ctx context.Context, args []string, stdout io.Writer) error {
	return scheduleOp(ctx, "pause", args, stdout, "paused with 'starter schedules pause'", operator.Pause, "paused")
}

func schedulesUnpauseCmd(ctx context.Context, args []string, stdout io.Writer) error {
	return scheduleOp(ctx, "unpause", args, stdout, "unpaused with 'starter schedules unpause'", operator.Unpause, "unpaused")
}

func schedulesTriggerCmd(ctx context.Context, args []string, stdout io.Writer) error {
	trigger := func(ctx context.Context, c client.Client, r model.Rotation, _ string) error {
		return operator.Trigger(ctx, c, r)
	}
	return scheduleOp(ctx, "trigger", args, stdout, "", trigger,
		"triggered: a scheduled run starts the rotation unless one is already running")
}
