// Command worker runs keyrotor's Temporal worker: the RotateAccessKey
// workflow and the IAM, GitHub and GitLab activities.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/worker/compose"
)

const usage = `Usage: worker --config FILE

Runs the keyrotor worker until SIGINT or SIGTERM.

Temporal:  TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE,
           TEMPORAL_API_KEY, TEMPORAL_TLS_* (see the Temporal docs on envconfig)
AWS:       the standard AWS SDK chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, roles, …);
           AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_STS to use other endpoints
Providers: the config's github.token / gitlab.token (usually ${GITHUB_TOKEN} / ${GITLAB_TOKEN})
Payloads:  encrypted with the key in KEYROTOR_CODEC_KEY_FILE (or the config's codec.keyFile);
           make one with: head -c 32 /dev/urandom | base64 > keyrotor-codec.key

Flags:
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	configPath := fs.String("config", "", "keyrotor configuration file (YAML)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return fmt.Errorf("--config is required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keys, err := connect.Keyring(cfg)
	if err != nil {
		return err
	}
	c, err := connect.Dial(ctx, logger, keys, connect.WithStrictInputs(compose.WorkerInputs()...))
	if err != nil {
		return err
	}
	defer c.Close()
	logger.Info("worker starting", "taskQueue", cfg.TaskQueue, "rotations", len(cfg.Rotations), "codecKeys", keys)
	if err := compose.RunWorker(ctx, c, cfg, compose.Options{Logger: logger, Namespace: connect.Namespace(), Keys: keys}); err != nil {
		return err
	}
	logger.Info("worker stopped")
	return nil
}
