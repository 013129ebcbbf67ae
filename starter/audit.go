package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyrotor/keyrotor/internal/audit"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/report"
)

const auditSynopsis = `audit --config FILE [--account NAME] [--output table|json|csv] [--max-age DURATION] [--unused-for DURATION]

Lists every access key of every IAM user in every configured account (or one):
status, age, last use (date, service, region), and whether keyrotor rotates it
(its rotation's workflow ID, rotate/<account>/<user>) or it is unmanaged.
An active key breaks the policy when it is older than the max age, or unused
(since its last use, or its creation when never used) for longer than
--unused-for. Inactive keys are listed, not judged.

Each account is reached with its region and roleArn, as the worker does, with
read-only calls: iam:ListUsers, iam:ListAccessKeys per user and
iam:GetAccessKeyLastUsed per key. Throttling is retried with backoff.

Exit status: 0 when no key breaks the policy, 1 when one does or a call
failed (each failure names the account, user and action), 2 for a usage error.
Durations: Go durations or days, e.g. 90d, 36h.`

func auditCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("audit", auditSynopsis)
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	account := fs.String("account", "", "only this account (default: every configured account)")
	output := fs.String("output", "table", "output format: table, json or csv")
	maxAgeFlag := fs.String("max-age", "", "an active key older than this breaks the policy (default: the period of the user's\nrotation policy, every or a cron's longest gap; for a user keyrotor does not rotate,\nthe file's policy)")
	unusedFlag := fs.String("unused-for", "30d", "an active key unused for longer than this breaks the policy; 0 turns the check off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		fs.Usage()
		return usageError("--config is required")
	}
	if *output != "table" && *output != "json" && *output != "csv" {
		return usageError("--output must be table, json or csv, not %q", *output)
	}
	var o audit.Options
	var err error
	if *maxAgeFlag != "" {
		if o.MaxAge, err = config.ParseDuration(*maxAgeFlag); err != nil || o.MaxAge <= 0 {
			return usageError("--max-age %q: want a positive duration such as 90d or 2160h", *maxAgeFlag)
		}
	}
	if o.UnusedFor, err = config.ParseDuration(*unusedFlag); err != nil || o.UnusedFor < 0 {
		return usageError("--unused-for %q: want a duration such as 30d or 720h, or 0", *unusedFlag)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if *account != "" {
		if _, ok := cfg.Account(*account); !ok {
			return usageError("unknown account %q in %s", *account, cfg.File)
		}
		o.Accounts = []string{*account}
	}
	aws, err := clients.NewAWSForConfig(ctx, cfg)
	if err != nil {
		return err
	}
	o.Now = time.Now()
	rep, err := audit.Run(ctx, cfg, audit.FromAWS(aws), o)
	if err != nil {
		return err
	}
	switch *output {
	case "json":
		err = writeJSON(stdout, rep)
	case "csv":
		err = report.AuditCSV(stdout, rep)
	default:
		err = report.AuditTable(stdout, rep)
	}
	if err != nil {
		return err
	}
	var failed error
	if rep.Breaches > 0 {
		failed = fmt.Errorf("%d of %d keys break the policy", rep.Breaches, len(rep.Keys))
	}
	if len(rep.Problems) > 0 {
		failed = errors.Join(failed, fmt.Errorf("%d call(s) failed, the audit is incomplete:\n%w", len(rep.Problems), rep.Err()))
	}
	return failed
}
