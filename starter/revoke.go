package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/keyfind"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

const revokeSynopsis = `revoke --config FILE --user NAME [--account NAME] [--key AKIA…] [--reason TEXT] [--now] [--wait] [--output text|json]
       starter revoke --config FILE --key AKIA… [--deactivate] [--reason TEXT] [--now] [--wait] [--output text|json]

Revokes a key through its user's rotation: the running rotation takes the revoke, or one
starts with it (update-with-start), and the key is retired as soon as its replacement is on
every target (--now: deactivated at once).

--key alone is enough: the key is looked up with the worker's AWS credentials (the SDK's
default chain) in the configured accounts: its account (sts:GetAccessKeyInfo, and
sts:GetCallerIdentity for the account without a roleArn), its user (iam:ListAccessKeys on the
configured users, then on the others from iam:ListUsers) and its last use
(iam:GetAccessKeyLastUsed). What was found, the rotation and the targets configured to hold the
key are printed, then the key is revoked through that rotation. A key whose user no rotation
manages is reported with exit status 1; --deactivate then deactivates it (iam:UpdateAccessKey,
Inactive). Nothing is ever deleted that way.`

func revokeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("revoke", revokeSynopsis)
	common := addCommonFlags(fs)
	fs.Lookup("user").Usage = "IAM user (required unless --key is given alone: then the key's account, user and rotation are looked up)"
	key := fs.String("key", "", "access key ID to revoke (default: the old key of the running rotation, or the user's current key); alone, without --user, it is looked up in AWS")
	reason := fs.String("reason", "", "why, for the rotation's record (shown in the status and the UI)")
	now := fs.Bool("now", false, "deactivate the key at once, before the new key reaches the targets (pipelines fail until it does): for a key in an attacker's hands")
	wait := fs.Bool("wait", false, "wait for the rotation to end and print its report; exit status 1 if it failed")
	deactivate := fs.Bool("deactivate", false, "with --key alone, for a key whose user no rotation manages: deactivate it (iam:UpdateAccessKey, Inactive; never deleted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := contract.RevokeInput{AccessKeyID: *key, Reason: *reason, RequestedBy: whoAmI()}
	if *now {
		in.Mode = contract.RevokeModeNow
	}
	if *common.user == "" && *key != "" {
		return revokeByKey(ctx, fs, common, in, *deactivate, *wait, stdout)
	}
	if *deactivate {
		return usageError("--deactivate goes with --key alone, for a key whose user no rotation manages")
	}
	env, err := common.load(ctx, fs)
	if err != nil {
		return err
	}
	defer env.close()
	revoked, err := operator.Revoke(ctx, env.client, env.cfg.TaskQueue, env.rotation, in)
	if err != nil {
		return err
	}
	return followRotation(ctx, env, revoked.Started, revokeLine(revoked), *wait, *common.output, stdout)
}

// revokeByKey is revoke --key alone: find whose key it is, then revoke it
// through that user's rotation, or, for a user no rotation manages,
// report it and deactivate it only when asked.
func revokeByKey(ctx context.Context, fs *flag.FlagSet, f commonFlags, in contract.RevokeInput, deactivate, wait bool, stdout io.Writer) error {
	switch {
	case *f.config == "":
		fs.Usage()
		return usageError("--config is required")
	case *f.account != "":
		return usageError("--account goes with --user; with --key alone the key's account is looked up")
	case *f.output != "text" && *f.output != "json":
		return usageError("--output must be text or json, not %q", *f.output)
	}
	if err := keyfind.ValidateKeyID(in.AccessKeyID); err != nil {
		return usageError("--key: %v", err)
	}
	cfg, err := config.Load(*f.config)
	if err != nil {
		return err
	}
	clients, err := keyfind.NewAWSClients(ctx, cfg)
	if err != nil {
		return err
	}
	finder := keyfind.New(cfg, clients)
	k, err := finder.Find(ctx, in.AccessKeyID)
	if err != nil {
		return err
	}
	text := *f.output == "text"
	if text {
		printKey(stdout, k)
	}
	if !k.Managed() {
		return deactivateUnmanaged(ctx, finder, k, cfg.File, deactivate, text, stdout)
	}
	rot := *k.Rotation
	if deactivate {
		return fmt.Errorf("--deactivate is for keys whose user no rotation manages; %s is rotated by %s: revoke it without --deactivate (add --now to deactivate it at once, before its replacement is pushed)",
			k.ID, rot.WorkflowID())
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	env := commandEnv{cfg: cfg, rotation: rot, client: c}
	defer env.close()
	if text {
		var st *contract.Status
		if o := operator.Describe(ctx, c, rot); o.Execution == "Running" && o.Status != nil {
			st = o.Status
		}
		printHolders(stdout, rot, st, k.ID)
	}
	revoked, err := operator.Revoke(ctx, c, cfg.TaskQueue, rot, in)
	if err != nil {
		return err
	}
	return followRotation(ctx, env, revoked.Started, revokeLine(revoked), wait, *f.output, stdout)
}

// deactivateUnmanaged reports a key no rotation manages and, with
// deactivate, sets it Inactive.
func deactivateUnmanaged(ctx context.Context, finder *keyfind.Finder, k keyfind.Key, file string, deactivate, text bool, stdout io.Writer) error {
	if !deactivate {
		if text {
			fmt.Fprintf(stdout, "no rotation manages user %s in account %s\n", k.User, k.Account)
		} else if err := writeJSON(stdout, k); err != nil {
			return err
		}
		return fmt.Errorf("%s belongs to user %s in account %s, whom no rotation manages: there is no rotation to revoke it through. To deactivate it now (not delete it): starter revoke --config %s --key %s --deactivate",
			k.ID, k.User, k.Account, file, k.ID)
	}
	if err := finder.Deactivate(ctx, k); err != nil {
		return err
	}
	k.Status = model.KeyInactive
	if !text {
		return writeJSON(stdout, k)
	}
	fmt.Fprintf(stdout, "deactivated %s of user %s in account %s (iam:UpdateAccessKey, Inactive); it is not deleted: delete it once whoever uses it has a replacement, or re-activate it if something vital needs it\n",
		k.ID, k.User, k.Account)
	return nil
}

// printKey says whose key it is.
func printKey(w io.Writer, k keyfind.Key) {
	fmt.Fprintf(w, "key %s: account %s (AWS account %s), IAM user %s\n", k.ID, k.Account, k.AccountID, k.User)
	used := "never used"
	switch {
	case k.LastUsedProblem != "":
		used = "last use unknown (" + k.LastUsedProblem + ")"
	case k.LastUsed != nil:
		used = fmt.Sprintf("last used %s (%s, %s)", stamp(*k.LastUsed), k.LastUsedService, k.LastUsedRegion)
	}
	fmt.Fprintf(w, "  %s, created %s, %s; found in %d AWS calls\n", k.Status, stamp(k.CreatedAt), used, k.Calls)
}

// printHolders names the rotation and the targets configured to hold the key.
func printHolders(w io.Writer, rot model.Rotation, st *contract.Status, keyID string) {
	running := "no rotation running: the revoke starts one"
	if st != nil {
		running = fmt.Sprintf("running, %s; old key %s, new key %s", st.Phase, orNone(st.OldKeyID), orNone(st.NewKeyID))
	}
	fmt.Fprintf(w, "rotation %s (%s)\n", rot.WorkflowID(), running)
	holders := keyfind.Holders(rot, st, keyID)
	fmt.Fprintf(w, "targets configured to hold the key (%d):\n", len(holders))
	for _, h := range holders {
		if h.Note == "" {
			fmt.Fprintf(w, "  %s\n", h.Target)
		} else {
			fmt.Fprintf(w, "  %s: %s\n", h.Target, h.Note)
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func orNone(s string) string {
	if s == "" {
		return "(none yet)"
	}
	return s
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
