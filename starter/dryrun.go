package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/preflight"
	"github.com/keyrotor/keyrotor/internal/report"
	"github.com/keyrotor/keyrotor/worker/compose"
)

// dryRunReport is the JSON form of `starter rotate --dry-run`.
type dryRunReport struct {
	OK bool `json:"ok"`
	// Missing lists what would stop a rotation, "user in account: what".
	Missing []string           `json:"missing"`
	Users   []preflight.DryRun `json:"users"`
}

// rotateDryRun shows what the rotation of one user (or, with all, of every
// user of --account) would write where, and checks harmlessly that the
// rotator may: it creates no key, starts no workflow and does not contact
// Temporal.
func rotateDryRun(ctx context.Context, fs *flag.FlagSet, common commonFlags, all bool, stdout io.Writer) error {
	switch {
	case *common.config == "":
		fs.Usage()
		return usageError("--config is required")
	case all && *common.user != "":
		return usageError("--all and --user are mutually exclusive")
	case !all && *common.user == "":
		fs.Usage()
		return usageError("--dry-run needs --user or --all")
	case *common.output != "text" && *common.output != "json":
		return usageError("--output must be text or json, not %q", *common.output)
	}
	cfg, err := config.Load(*common.config)
	if err != nil {
		return err
	}
	rots, err := selectRotations(cfg, *common.account, *common.user)
	if err != nil {
		return err
	}
	newClients, err := preflight.NewAWSClients(ctx, cfg)
	if err != nil {
		return err
	}
	rep, err := preflight.CheckRotations(ctx, cfg, rots, newClients)
	if err != nil {
		return err
	}
	targets, err := compose.PlanTargets(ctx, cfg, rots)
	if err != nil {
		return err
	}
	runs := preflight.NewDryRuns(rots, rep, targets)
	out := dryRunReport{OK: true, Missing: []string{}, Users: runs}
	failed := 0
	for _, d := range runs {
		missing := d.Missing()
		if len(missing) > 0 {
			failed++
		}
		for _, m := range missing {
			out.Missing = append(out.Missing, d.User+" in "+d.Account+": "+m)
		}
	}
	out.OK = len(out.Missing) == 0
	if *common.output == "json" {
		err = writeJSON(stdout, out)
	} else {
		err = report.DryRun(stdout, runs)
	}
	if err != nil {
		return err
	}
	if !out.OK {
		return fmt.Errorf("dry run: %d problem(s) would stop %d of %d rotation(s)", len(out.Missing), failed, len(runs))
	}
	return nil
}
