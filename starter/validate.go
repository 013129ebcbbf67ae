package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keyrotor/keyrotor/internal/config"
)

func validateCmd(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("validate", "validate --config FILE")
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return usageError("--config is required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	targets := 0
	for _, r := range cfg.Rotations {
		targets += len(r.Targets)
	}
	fmt.Fprintf(stdout, "%s: OK: %d accounts, %d rotations, %d targets\n", cfg.File, len(cfg.Accounts), len(cfg.Rotations), targets)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
