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
	"time"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/metrics"
	"github.com/keyrotor/keyrotor/worker/compose"
)

const usage = `Usage: worker --config FILE [--metrics-addr ADDR [--metrics-poll DURATION]] [--log-format auto|json|text]

Runs the keyrotor worker until SIGINT or SIGTERM.

Temporal:  TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE,
           TEMPORAL_API_KEY, TEMPORAL_TLS_* (see the Temporal docs on envconfig)
AWS:       the standard AWS SDK chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, roles, …);
           AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_STS to use other endpoints
Providers: the config's github.token / gitlab.token (usually ${GITHUB_TOKEN} / ${GITLAB_TOKEN})
Payloads:  encrypted with the key in KEYROTOR_CODEC_KEY_FILE (or the config's codec.keyFile);
           make one with: head -c 32 /dev/urandom | base64 > keyrotor-codec.key
Metrics:   with --metrics-addr (e.g. :9090), one listener serves
           /metrics  keyrotor's metrics (keyrotor_*) and the Temporal SDK's (temporal_*), Prometheus text format
           /healthz  200 while the process runs
           /readyz   200 once connected to Temporal and polling the task queue, else 503
Logs:      on stderr, JSON when stderr is not a terminal (--log-format auto), else text

Flags:
`

// shutdownTimeout bounds how long the metrics server waits for scrapes
// under way when the worker stops.
const shutdownTimeout = 5 * time.Second

// jsonLogs is set once the logs are JSON: then the error the worker stops
// with is a JSON line too, for the collector reading them.
var jsonLogs bool

func main() {
	if err := run(); err != nil {
		if jsonLogs {
			slog.Error("worker failed", "error", err)
		} else {
			fmt.Fprintln(os.Stderr, "worker:", err)
		}
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	configPath := fs.String("config", "", "keyrotor configuration file (YAML)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on this `address`, e.g. :9090 or 127.0.0.1:9090 (default: off)")
	metricsPoll := fs.Duration("metrics-poll", metrics.DefaultPollEvery, "how often to read which rotations hold and when each last completed from Temporal's visibility, for the metrics")
	logFormat := fs.String("log-format", "auto", "log `format`: json, text, or auto (JSON unless stderr is a terminal)")
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
	if *metricsPoll <= 0 {
		return fmt.Errorf("--metrics-poll must be positive, not %s", *metricsPoll)
	}
	logger, json, err := newLogger(*logFormat, os.Stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	jsonLogs = json
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keys, err := connect.Keyring(cfg)
	if err != nil {
		return err
	}

	// The metrics listener opens before the worker connects: /healthz
	// answers from the start and /readyz says why the worker is not ready.
	var m *metrics.Metrics
	dialOpts := []connect.DialOption{connect.WithStrictInputs(compose.WorkerInputs()...)}
	if *metricsAddr != "" {
		if m, err = metrics.New(); err != nil {
			return err
		}
		srv, err := m.Serve(*metricsAddr, logger)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		logger.Info("serving metrics", "addr", srv.Addr(), "paths", "/metrics /healthz /readyz")
		dialOpts = append(dialOpts, connect.WithMetricsHandler(m.SDKHandler()))
	}

	c, err := connect.Dial(ctx, logger, keys, dialOpts...)
	if err != nil {
		return err
	}
	defer c.Close()
	logger.Info("worker starting", "taskQueue", cfg.TaskQueue, "rotations", len(cfg.Rotations), "codecKeys", keys)
	o := compose.Options{Logger: logger, Namespace: connect.Namespace(), Keys: keys, Metrics: m, MetricsPoll: *metricsPoll}
	if err := compose.RunWorker(ctx, c, cfg, o); err != nil {
		return err
	}
	logger.Info("worker stopped")
	return nil
}

// newLogger logs to w in the format asked for; auto is JSON unless w is a
// terminal (a person reading), for log collectors.
func newLogger(format string, w *os.File) (logger *slog.Logger, json bool, err error) {
	switch format {
	case "auto":
		json = !isTerminal(w)
	case "json":
		json = true
	case "text":
	default:
		return nil, false, fmt.Errorf("--log-format %q: use json, text or auto", format)
	}
	if json {
		return slog.New(slog.NewJSONHandler(w, nil)), true, nil
	}
	return slog.New(slog.NewTextHandler(w, nil)), false, nil
}

// isTerminal reports whether f is a character device (a terminal), without
// a terminal library.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
