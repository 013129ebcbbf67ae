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
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/metrics"
	"github.com/keyrotor/keyrotor/worker/compose"
)

const usage = `Usage: worker --config FILE [--metrics-addr ADDR [--metrics-poll DURATION] [--audit-every DURATION]] [--log-format auto|json|text]
              [--deployment-name NAME --build-id ID]

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
           Every --audit-every (default 1h; 0: never) the worker lists every IAM user's
           keys in every account (iam:ListUsers, iam:ListAccessKeys per user) for
           keyrotor_account_oldest_key_age_seconds{account}
Logs:      on stderr, JSON when stderr is not a terminal (--log-format auto), else text
Versions:  with --deployment-name and --build-id (or KEYROTOR_DEPLOYMENT_NAME and
           KEYROTOR_BUILD_ID; both or neither), the worker polls as that version of
           that Temporal Worker Deployment, and every rotation that starts on it stays
           pinned to it until it ends. New rotations go to the deployment's current
           version; make a version current (after its workers poll) with:
           temporal worker deployment set-current-version --deployment-name NAME --build-id ID
           Without them the worker is unversioned. See docs/upgrading.md.

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
	auditEvery := fs.Duration("audit-every", metrics.DefaultAuditEvery, "with --metrics-addr, how often to list every IAM user's keys in every account for keyrotor_account_oldest_key_age_seconds (0: never)")
	logFormat := fs.String("log-format", "auto", "log `format`: json, text, or auto (JSON unless stderr is a terminal)")
	deploymentName := fs.String("deployment-name", os.Getenv(envDeploymentName), "Temporal Worker Deployment `name` this worker belongs to; needs --build-id (default $"+envDeploymentName+")")
	tqRate := fs.Float64("task-queue-activities-per-second", 0, "a cap, enforced by the Temporal server across every worker of the task queue, on the activities started per second (0: none); each worker paces its provider calls on the quota besides (github.rateBudget, gitlab.rateBudget)")
	buildID := fs.String("build-id", os.Getenv(envBuildID), "this worker's build `ID` in its deployment; needs --deployment-name (default $"+envBuildID+")")
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
	if *auditEvery < 0 {
		return fmt.Errorf("--audit-every must be positive, or 0 for never, not %s", *auditEvery)
	}
	deployment, err := deploymentVersion(*deploymentName, *buildID)
	if err != nil {
		return err
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
	attrs := []any{"taskQueue", cfg.TaskQueue, "rotations", len(cfg.Rotations), "codecKeys", keys}
	if deployment.DeploymentName != "" {
		attrs = append(attrs, "deploymentName", deployment.DeploymentName, "buildID", deployment.BuildID)
	}
	logger.Info("worker starting", attrs...)
	o := compose.Options{Logger: logger, Namespace: connect.Namespace(), Keys: keys, Metrics: m, MetricsPoll: *metricsPoll, AuditEvery: *auditEvery, Deployment: deployment,
		TaskQueueActivitiesPerSecond: *tqRate}
	if err := compose.RunWorker(ctx, c, cfg, o); err != nil {
		return err
	}
	logger.Info("worker stopped")
	return nil
}

// The environment variables the deployment flags default to.
const (
	envDeploymentName = "KEYROTOR_DEPLOYMENT_NAME"
	envBuildID        = "KEYROTOR_BUILD_ID"
)

// deploymentVersion is the Worker Deployment version the worker runs as:
// both a deployment name and a build ID, or neither (unversioned).
func deploymentVersion(name, buildID string) (worker.WorkerDeploymentVersion, error) {
	name, buildID = strings.TrimSpace(name), strings.TrimSpace(buildID)
	switch {
	case name == "" && buildID == "":
		return worker.WorkerDeploymentVersion{}, nil
	case buildID == "":
		return worker.WorkerDeploymentVersion{}, fmt.Errorf("--deployment-name %q needs --build-id (or %s) too: a versioned worker needs both", name, envBuildID)
	case name == "":
		return worker.WorkerDeploymentVersion{}, fmt.Errorf("--build-id %q needs --deployment-name (or %s) too: a versioned worker needs both", buildID, envDeploymentName)
	}
	return worker.WorkerDeploymentVersion{DeploymentName: name, BuildID: buildID}, nil
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
