package main

import (
	"context"
	"io"
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
)

func statusCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("status", `status --config FILE [--user NAME] [--account NAME] [--output text|json]
       starter status --config FILE --summary [--account NAME] [--output text|json]

Shows every rotation in the config (or one user's): phase, key IDs and ages,
each target's state, the time left on the current timer, and the next scheduled run.

With --summary, shows the fleet at a glance instead: the configured users
counted by the phase of their latest rotation, per account; the oldest key
among running rotations and the keys the last rotations left; and the
rotations holding for an operator, with their reason and the commands that
end the hold.`)
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	userName := fs.String("user", "", "only this IAM user")
	account := fs.String("account", "", "only this account")
	output := fs.String("output", "text", "output format: text or json")
	summary := fs.Bool("summary", false, "counts by phase and account, the oldest key and the holds, instead of one block per rotation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return usageError("--config is required")
	}
	if *output != "text" && *output != "json" {
		return usageError("--output must be text or json, not %q", *output)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if *summary && *userName != "" {
		return usageError("--summary and --user are mutually exclusive")
	}
	rotations, err := selectRotations(cfg, *account, *userName)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if *summary {
		s := operator.Summarize(ctx, c, connect.Namespace(), cfg.TaskQueue, rotations, *configPath)
		if *output == "json" {
			return writeJSON(stdout, s)
		}
		return report.FleetSummary(stdout, s, time.Now())
	}
	keys, err := connect.Keyring(cfg)
	if err != nil {
		return err
	}
	// The converters read the pending pushes' heartbeats, to say which
	// targets wait for a provider's quota.
	dc, fc := connect.ClientConverters(keys)
	overviews := make([]operator.Overview, 0, len(rotations))
	for _, r := range rotations {
		overviews = append(overviews, operator.Describe(ctx, c, r, operator.WithConverters(dc, fc)))
	}
	if *output == "json" {
		return writeJSON(stdout, overviews)
	}
	return report.Overviews(stdout, overviews, time.Now())
}

// selectRotations picks the configured rotations matching the filters.
func selectRotations(cfg *config.Config, account, user string) ([]model.Rotation, error) {
	if user != "" {
		r, err := cfg.Rotation(account, user)
		if err != nil {
			return nil, err
		}
		return []model.Rotation{r}, nil
	}
	var out []model.Rotation
	for _, r := range cfg.Rotations {
		if account == "" || r.Account == account {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, usageError("no rotation in %s matches account %q", cfg.File, account)
	}
	return out, nil
}
