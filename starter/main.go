// Command starter is keyrotor's operator CLI: it validates configuration
// and starts rotations on Temporal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: starter COMMAND [flags]

Commands:
  rotate     start (or find) the rotation of one IAM user (--all: of every user); --wait prints its report
             (--dry-run: show what it would write where, check every permission, start nothing)
  revoke     revoke a key now: signal the running rotation, or start one (--now: deactivate at once);
             --key AKIA… alone finds the key's account, user and rotation
  status     phase, keys, targets, timers and next scheduled run of every rotation in the config
             (--summary: counts by phase and account, the oldest key, the holds)
  proceed    skip the current wait (grace, idle re-check, delete delay) or end a hold
  retry      re-push the failed targets of a rotation holding for them
  rollback   re-activate the old key while it is only deactivated (ends the rotation)
  schedules  sync the Temporal Schedules with the config; list, pause, unpause, trigger them
  validate   check a configuration file (--check-access: and the rotator's AWS permissions)
  audit      every IAM user's access keys in every account: age, last use, managed or not;
             exit status 1 when a key is older than the policy or unused too long
  codec-server  serve the payload codec to the Web UI and CLI, behind a token

Run 'starter COMMAND --help' for a command's flags.
Temporal connection: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY and TEMPORAL_TLS_* environment variables.
`

// usageErr marks a command-line mistake (exit status 2).
type usageErr struct{ error }

type command func(ctx context.Context, args []string, stdout io.Writer) error

var commands = map[string]command{
	"rotate":       rotateCmd,
	"revoke":       revokeCmd,
	"status":       statusCmd,
	"proceed":      signalCmd("proceed", "Skips the current wait (grace period, idle re-check, delete delay) or ends a hold."),
	"retry":        signalCmd("retry", "Re-pushes the failed targets while the rotation holds for them."),
	"rollback":     signalCmd("rollback", "Re-activates the old key while it is deactivated and not yet deleted; the rotation ends with both keys active."),
	"schedules":    schedulesCmd,
	"validate":     validateCmd,
	"audit":        auditCmd,
	"codec-server": codecServerCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout)
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageErr)):
		fmt.Fprintln(stderr, "starter "+args[0]+":", err)
		return 2
	default:
		fmt.Fprintln(stderr, "starter "+args[0]+":", err)
		return 1
	}
}

// newFlagSet makes a subcommand's flag set whose --help prints its usage.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: starter %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func usageError(format string, a ...any) error {
	return usageErr{fmt.Errorf(format, a...)}
}
