package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
	"github.com/keyrotor/keyrotor/internal/service"
)

func rotateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("rotate", "rotate --config FILE --user NAME [--account NAME] [--wait] [--output text|json]")
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	user := fs.String("user", "", "IAM user to rotate (required)")
	account := fs.String("account", "", "account of the user (needed when the user is configured in several accounts)")
	wait := fs.Bool("wait", false, "wait for the rotation to end and print its report; exit status 1 if it failed")
	output := fs.String("output", "text", "report format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" || *user == "" {
		fs.Usage()
		return usageError("--config and --user are required")
	}
	if *output != "text" && *output != "json" {
		return usageError("--output must be text or json, not %q", *output)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	rot, err := cfg.Rotation(*account, *user)
	if err != nil {
		return err
	}
	c, err := service.Dial(ctx, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer c.Close()

	started, err := operator.StartRotation(ctx, c, cfg.TaskQueue, rot)
	if err != nil {
		return err
	}
	if *output == "text" {
		verb := "started"
		if started.AlreadyRunning {
			verb = "already running"
		}
		fmt.Fprintf(stdout, "rotation %s %s (run %s)\n", started.WorkflowID, verb, started.RunID)
	}
	if !*wait {
		if *output == "json" {
			return writeJSON(stdout, started)
		}
		return nil
	}
	st, waitErr := operator.Wait(ctx, c, started)
	if st.User != "" {
		if *output == "json" {
			err = report.JSON(stdout, st)
		} else {
			fmt.Fprintln(stdout)
			err = report.Text(stdout, st)
		}
		if err != nil {
			return err
		}
	}
	return waitErr
}
