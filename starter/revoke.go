package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/workflows"
)

func revokeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("revoke", "revoke --config FILE --user NAME [--account NAME] [--key AKIA…] [--reason TEXT] [--now] [--wait] [--output text|json]")
	common := addCommonFlags(fs)
	key := fs.String("key", "", "access key ID to revoke (default: the old key of the running rotation, or the user's current key)")
	reason := fs.String("reason", "", "why, for the rotation's record (shown in the status and the UI)")
	now := fs.Bool("now", false, "deactivate the key at once, before the new key reaches the targets (pipelines fail until it does): for a key in an attacker's hands")
	wait := fs.Bool("wait", false, "wait for the rotation to end and print its report; exit status 1 if it failed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := common.load(ctx, fs)
	if err != nil {
		return err
	}
	defer env.close()
	in := workflows.RevokeInput{AccessKeyID: *key, Reason: *reason, RequestedBy: whoAmI()}
	if *now {
		in.Mode = workflows.RevokeModeNow
	}
	started, err := operator.Revoke(ctx, env.client, env.cfg.TaskQueue, env.rotation, in)
	if err != nil {
		return err
	}
	return followRotation(ctx, env, started, fmt.Sprintf("revoke sent to %s (run %s)", started.WorkflowID, started.RunID), *wait, *common.output, stdout)
}

// signalCmd makes the proceed, retry and rollback commands.
func signalCmd(name, help string) command {
	return func(ctx context.Context, args []string, stdout io.Writer) error {
		fs := newFlagSet(name, name+" --config FILE --user NAME [--account NAME] [--reason TEXT]\n\n"+help)
		common := addCommonFlags(fs)
		reason := fs.String("reason", "", "why, for the rotation's record")
		if err := fs.Parse(args); err != nil {
			return err
		}
		env, err := common.load(ctx, fs)
		if err != nil {
			return err
		}
		defer env.close()
		id := env.rotation.WorkflowID()
		if err := operator.Signal(ctx, env.client, id, name, workflows.ProceedInput{Reason: *reason, RequestedBy: whoAmI()}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s sent to %s; `starter status --user %s` shows what it did\n", name, id, env.rotation.User)
		return nil
	}
}

// whoAmI names the operator for the rotation's record: user@host.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
