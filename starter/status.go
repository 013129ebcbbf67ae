package main

import (
	"context"
	"io"
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
)

func statusCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("status", "status --config FILE [--user NAME] [--account NAME] [--output text|json]\n\nShows every rotation in the config (or one user's): phase, key IDs and ages,\neach target's state, the time left on the current timer, and the next scheduled run.")
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	userName := fs.String("user", "", "only this IAM user")
	account := fs.String("account", "", "only this account")
	output := fs.String("output", "text", "output format: text or json")
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
	rotations, err := selectRotations(cfg, *account, *userName)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	overviews := make([]operator.Overview, 0, len(rotations))
	for _, r := range rotations {
		overviews = append(overviews, operator.Describe(ctx, c, r))
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
