package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/operator"
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
	in := contract.RevokeInput{AccessKeyID: *key, Reason: *reason, RequestedBy: whoAmI()}
	if *now {
		in.Mode = contract.RevokeModeNow
	}
	revoked, err := operator.Revoke(ctx, env.client, env.cfg.TaskQueue, env.rotation, in)
	if err != nil {
		return err
	}
	return followRotation(ctx, env, revoked.Started, revokeLine(revoked), *wait, *common.output, stdout)
}

// revokeLine says what the rotation made of the revoke.
func revokeLine(r operator.Revoked) string {
	line := fmt.Sprintf("revoke sent to %s (run %s)", r.WorkflowID, r.RunID)
	rv := r.Revocation
	switch {
	case rv.State == "":
		return line
	case rv.State == contract.RevocationPending:
		return line + ": accepted; it names a key once the rotation knows its keys"
	case rv.Error != "":
		return line + ": " + rv.State + ": " + rv.Error
	}
	return fmt.Sprintf("%s: %s, the %s key %s", line, rv.State, rv.Which, rv.AccessKeyID)
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
		res, err := operator.Request(ctx, env.client, id, name, contract.ProceedInput{Reason: *reason, RequestedBy: whoAmI()})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s accepted by %s: %s\n", name, id, res.Message)
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
