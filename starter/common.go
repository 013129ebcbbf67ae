package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
)

// commonFlags are the flags of every command that acts on one user's rotation.
type commonFlags struct {
	config, user, account, output *string
}

func addCommonFlags(fs *flag.FlagSet) commonFlags {
	return commonFlags{
		config:  fs.String("config", "", "keyrotor configuration file (required)"),
		user:    fs.String("user", "", "IAM user (required)"),
		account: fs.String("account", "", "account of the user (needed when the user is configured in several accounts)"),
		output:  fs.String("output", "text", "output format: text or json"),
	}
}

// commandEnv is a loaded config, the user's rotation and a Temporal client.
type commandEnv struct {
	cfg      *config.Config
	rotation model.Rotation
	client   client.Client
}

func (e commandEnv) close() { e.client.Close() }

func (f commonFlags) load(ctx context.Context, fs *flag.FlagSet) (commandEnv, error) {
	if *f.config == "" || *f.user == "" {
		fs.Usage()
		return commandEnv{}, usageError("--config and --user are required")
	}
	if *f.output != "text" && *f.output != "json" {
		return commandEnv{}, usageError("--output must be text or json, not %q", *f.output)
	}
	cfg, err := config.Load(*f.config)
	if err != nil {
		return commandEnv{}, err
	}
	rot, err := resolveRotation(ctx, cfg, *f.account, *f.user)
	if err != nil {
		return commandEnv{}, err
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return commandEnv{}, err
	}
	return commandEnv{cfg: cfg, rotation: rot, client: c}, nil
}

// dial connects with an SDK logger that only reports warnings, so command
// output stays clean.
// Payloads are encrypted with the same keys as the worker's. The search
// attributes rotations start with are registered here too when missing, so
// the starter works before a worker ever ran against the namespace.
func dial(ctx context.Context, cfg *config.Config) (client.Client, error) {
	keys, err := connect.Keyring(cfg)
	if err != nil {
		return nil, err
	}
	c, err := connect.Dial(ctx, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), keys)
	if err != nil {
		return nil, err
	}
	if err := connect.EnsureSearchAttributes(ctx, c, connect.Namespace()); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// followRotation reports a rotation just started or signalled: a line of
// text (or its IDs as JSON), or with wait, its final report.
func followRotation(ctx context.Context, env commandEnv, started operator.Started, line string, wait bool, output string, stdout io.Writer) error {
	if output == "text" {
		fmt.Fprintln(stdout, line)
	}
	if !wait {
		if output == "json" {
			return writeJSON(stdout, started)
		}
		return nil
	}
	return waitAndReport(ctx, env, started, output, stdout)
}

// waitAndReport waits for the rotation and prints its report.
func waitAndReport(ctx context.Context, env commandEnv, started operator.Started, output string, stdout io.Writer) error {
	st, waitErr := operator.Wait(ctx, env.client, started)
	if st.User != "" {
		var err error
		if output == "json" {
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
