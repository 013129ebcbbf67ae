// Package compose is the worker's composition root: the one package that
// knows every layer. It builds the provider clients from the configuration,
// one activities struct per external system, and registers them with the
// workflows on a Temporal worker. The worker main, the demo and the
// end-to-end tests build their workers here, so they run the same code.
package compose

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/google/go-github/v60/github"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/audit"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/discover"
	"github.com/keyrotor/keyrotor/internal/metrics"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/ratelimit"
	"github.com/keyrotor/keyrotor/workflows"
)

// Options adjust how the worker reaches the outside world. The zero value
// uses the standard AWS SDK chain and the config's URLs.
type Options struct {
	// AWS options applied after the standard chain (tests and the demo
	// point the SDK at the emulator with static credentials).
	AWS []func(*awsconfig.LoadOptions) error
	// Logger for the worker's own lines (the SDK logs through the
	// client's logger); slog's default when nil.
	Logger *slog.Logger
	// Namespace the worker's client is connected to, where the search
	// attributes are registered; "default" when empty.
	Namespace string
	// Keys seal each new secret before it leaves the Create activity and
	// open it where it is pushed (the same keys as the payload codec).
	Keys *codec.Keyring
	// Metrics, when set, counts what the worker does (the activities
	// report to it, a worker interceptor counts the rotations) and learns
	// from RunWorker when the worker is ready. Pass its SDKHandler to the
	// client (connect.WithMetricsHandler) for the SDK's own metrics.
	Metrics *metrics.Metrics
	// TaskQueueActivitiesPerSecond, when above zero, is a server-side cap
	// on the activities all workers of the task queue start per second
	// (Temporal's task-queue rate limit): a hard ceiling across worker
	// processes, beside each worker's own quota pacing.
	TaskQueueActivitiesPerSecond float64
	// MetricsPoll is how often RunWorker reads the rotations' state from
	// visibility for the metrics (metrics.DefaultPollEvery when zero).
	MetricsPoll time.Duration
	// AuditEvery, with Metrics, is how often RunWorker audits every
	// configured account's keys (audit.Run, creation dates only: one
	// ListUsers page per 1,000 users and one ListAccessKeys per user) for
	// keyrotor_account_oldest_key_age_seconds. Zero: no audit.
	AuditEvery time.Duration
	// Deployment, when its DeploymentName is set, opts the worker into
	// Worker Deployment versioning as this version (deployment name and
	// build ID). Every workflow it runs is pinned: a rotation stays on the
	// version it started on until it ends, whatever is deployed meanwhile.
	// Unversioned when zero.
	Deployment worker.WorkerDeploymentVersion
}

// WorkerInputs are the types the worker only accepts encrypted: the
// workflows' inputs and the push activity's input. Pass them to
// connect.WithStrictInputs (connect.Dial) or devstack.Dial for a client
// that runs the worker.
func WorkerInputs() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[contract.RotateInput](),
		reflect.TypeFor[contract.ScheduledInput](),
		reflect.TypeFor[activities.PushInput](),
	}
}

// NewWorker builds a worker for the config's task queue with the rotation
// workflow and the activities of every provider the config uses.
func NewWorker(ctx context.Context, c client.Client, cfg *config.Config, o Options) (worker.Worker, error) {
	if err := cfg.CheckWorker(); err != nil {
		return nil, err
	}
	if err := connect.EnsureSearchAttributes(ctx, c, namespaceOf(o)); err != nil {
		return nil, err
	}
	acts, err := newActivities(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	// On SIGTERM, activities under way get this long to finish: a push
	// cut off mid-flight is retried only after its heartbeat timeout (a
	// minute), and a rotation waits for it. Kubernetes' grace period
	// (deploy/kubernetes) leaves room for it.
	wo := worker.Options{WorkerStopTimeout: workerStopTimeout, TaskQueueActivitiesPerSecond: o.TaskQueueActivitiesPerSecond}
	// A rotation schedules all its pushes in one workflow task: with eager
	// activities on the server, every one the worker has a slot for comes
	// back in the answer, not only the SDK's default of three.
	eagerPerTask := workflows.ParallelPushes
	wo.MaxEagerActivityReservationsPerWorkflowTask = &eagerPerTask
	if o.Deployment.DeploymentName != "" {
		if o.Deployment.BuildID == "" {
			return nil, fmt.Errorf("worker deployment %s: a build ID is required", o.Deployment.DeploymentName)
		}
		wo.DeploymentOptions = worker.DeploymentOptions{
			UseVersioning:             true,
			Version:                   o.Deployment,
			DefaultVersioningBehavior: workflow.VersioningBehaviorPinned,
		}
	}
	if o.Metrics != nil {
		o.Metrics.Configure(cfg.Rotations)
		// The codec's converter reads revoke signals' payloads, encrypted
		// (the starter) or not (the temporal CLI, the Web UI).
		wo.Interceptors = []interceptor.WorkerInterceptor{o.Metrics.Interceptor(codec.NewDataConverter(o.Keys))}
	}
	w := worker.New(c, cfg.TaskQueue, wo)
	w.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: contract.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ScheduledRotation, workflow.RegisterOptions{Name: contract.ScheduledWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.Notify, workflow.RegisterOptions{Name: contract.NotifyWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.PushBatch, workflow.RegisterOptions{Name: workflows.PushBatchWorkflowName})
	for _, a := range acts {
		w.RegisterActivity(a)
	}
	return w, nil
}

// workerStopTimeout is how long a stopping worker lets its activities
// finish.
const workerStopTimeout = 20 * time.Second

// newActivities builds one activities struct per external system.
func newActivities(ctx context.Context, cfg *config.Config, o Options) ([]any, error) {
	if o.Keys == nil {
		return nil, codec.ErrNoKey
	}
	aws, err := clients.NewAWSForConfig(ctx, cfg, o.AWS...)
	if err != nil {
		return nil, fmt.Errorf("AWS clients: %w", err)
	}
	var opts []activities.Option
	if o.Metrics != nil {
		opts = append(opts, activities.WithMetrics(o.Metrics))
	}
	// The worker's rotations: the file's, then the users its selectors
	// find (discovered now, then every DiscoverEvery).
	var rs interface {
		activities.Rotations
		activities.NotifyChannels
	} = cfg
	if len(cfg.Selectors) > 0 {
		set := newRotationSet(cfg, func(ctx context.Context) discover.Result {
			return discover.Run(ctx, cfg, discover.FromAWS(aws))
		}, loggerOf(o))
		set.refresh(ctx)
		go set.watch(ctx)
		rs = set
	}
	acts := []any{activities.NewConfig(rs), activities.NewIAM(aws, o.Keys, rs, opts...), activities.NewNotifier(rs, cfg.UIURL, nil)}
	kinds, err := targetKinds(cfg, rs, aws, o, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	// Rotations that pushed before PushToTarget call GitHub's and GitLab's
	// own push activities by name: those stay registered.
	for _, k := range kinds {
		switch k.(type) {
		case *activities.GitHub, *activities.GitLab:
			acts = append(acts, k)
		}
	}
	acts = append(acts, activities.NewTargetsFor(cfg, kinds...))
	return acts, nil
}

// The quotas assumed until a provider's headers say: GitHub's 5,000
// requests an hour per token or App installation, GitLab.com's 2,000 a
// minute per user. Variables so tests can scale them.
var (
	GitHubQuota = ratelimit.Quota{Limit: 5000, Window: time.Hour}
	GitLabQuota = ratelimit.Quota{Limit: 2000, Window: time.Minute}
	// GitHubSecondary are GitHub's secondary limits (100 requests at once,
	// 900 points a minute), of which the worker keeps github.rateBudget.
	GitHubSecondary = ratelimit.GitHubSecondary
)

// targetKinds builds one activities struct per kind of target whose
// connection the configuration has. A new kind is one line here.
func targetKinds(cfg *config.Config, rs activities.Rotations, aws *clients.AWS, o Options, opts []activities.Option) ([]activities.TargetKind, error) {
	var kinds []activities.TargetKind
	// One limiter per credential: the worker's calls on it take turns so a
	// fleet spreads over the provider's quota window (internal/ratelimit).
	if cfg.GitHub != nil {
		l := ratelimit.New("github", cfg.GitHub.RateBudget, GitHubQuota)
		sec := ratelimit.NewSecondary(githubSecondary(cfg.GitHub), cfg.GitHub.RateBudget)
		gh, err := newGitHubClient(cfg.GitHub, clients.ObservedBy(l), clients.WithinSecondaryLimits(sec))
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, activities.NewGitHub(gh, o.Keys, rs, append(opts, activities.WithLimiter(l))...))
	}
	if cfg.GitLab != nil {
		l := ratelimit.New("gitlab", cfg.GitLab.RateBudget, GitLabQuota)
		gl, err := clients.NewGitLabClient(cfg.GitLab.BaseURL, cfg.GitLab.Token, clients.ObservedBy(l))
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, activities.NewGitLab(gl, o.Keys, rs, append(opts, activities.WithLimiter(l))...))
	}
	kinds = append(kinds, activities.NewAWSSecrets(aws, o.Keys, rs, opts...))
	if conn := cfg.Connection("bitbucket"); conn != nil {
		kinds = append(kinds, activities.NewBitbucket(clients.NewBitbucketClient(conn.BaseURL, conn.Token, nil), o.Keys, rs, opts...))
	}
	if conn := cfg.Connection("circleci"); conn != nil {
		kinds = append(kinds, activities.NewCircleCI(clients.NewCircleCIClient(conn.BaseURL, conn.Token, nil), o.Keys, rs, opts...))
	}
	if conn := cfg.Connection("travis"); conn != nil {
		kinds = append(kinds, activities.NewTravis(clients.NewTravisClient(conn.BaseURL, conn.Token, nil), o.Keys, rs, opts...))
	}
	// Kubernetes: with the kubernetes section, or when a rotation has a
	// kubernetes target (the section is optional: KUBECONFIG or
	// ~/.kube/config). Nothing is read until a push or check needs a cluster.
	if cfg.Kubernetes != nil || slices.ContainsFunc(cfg.Rotations, func(r model.Rotation) bool {
		return slices.ContainsFunc(r.Targets, func(t model.Target) bool { return t.Kind == model.KubernetesSecret })
	}) || slices.ContainsFunc(cfg.Selectors, func(s *config.Selector) bool { return slices.Contains(s.Kinds, model.KubernetesSecret) }) {
		kubeconfig := ""
		if cfg.Kubernetes != nil {
			kubeconfig = cfg.Kubernetes.Kubeconfig
		}
		kinds = append(kinds, activities.NewKubernetes(clients.NewKubernetes(kubeconfig).Clientset, o.Keys, rs, opts...))
	}
	if tf := cfg.Connection("terraform"); tf != nil {
		kinds = append(kinds, activities.NewTerraform(clients.NewTerraform(tf.BaseURL, tf.Token), o.Keys, rs, opts...))
	}
	return kinds, nil
}

// newGitHubClient authenticates with the GitHub App when one is configured,
// else with the token. The App's key is the one CheckWorker read and checked
// at worker start (the file is read once); the client keeps it in memory to
// sign the JWT for each installation token.
// githubSecondary is GitHubSecondary with what the configuration sets.
func githubSecondary(gh *config.GitHub) ratelimit.SecondaryLimits {
	l := GitHubSecondary
	if s := gh.Secondary; s.Points > 0 {
		l.Points = s.Points
	}
	if s := gh.Secondary; s.Window > 0 {
		l.Window = s.Window
	}
	if s := gh.Secondary; s.Concurrent > 0 {
		l.Concurrent = s.Concurrent
	}
	return l
}

func newGitHubClient(gh *config.GitHub, opts ...clients.HTTPOption) (*github.Client, error) {
	if gh.App == nil {
		return clients.NewGitHubClient(gh.BaseURL, gh.Token, opts...)
	}
	key, err := gh.App.PrivateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("github.app.privateKeyFile: %w", err)
	}
	return clients.NewGitHubAppClient(gh.BaseURL, gh.App.AppID, gh.App.InstallationID, key, opts...)
}

// RunWorker runs the worker until ctx is cancelled, then stops it cleanly
// (in-flight activities finish or are handed back to the server). With
// o.Metrics, the worker counts as ready once it polls its task queue, and
// as not ready from the moment it begins to stop.
func RunWorker(ctx context.Context, c client.Client, cfg *config.Config, o Options) error {
	w, err := NewWorker(ctx, c, cfg, o)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	if o.Metrics != nil {
		wo := metrics.WatchOptions{
			Namespace: namespaceOf(o), TaskQueue: cfg.TaskQueue, PollEvery: o.MetricsPoll, Logger: o.Logger,
		}
		if o.AuditEvery > 0 {
			if wo.Audit, err = accountAudit(ctx, cfg, o); err != nil {
				w.Stop()
				return err
			}
			wo.AuditEvery = o.AuditEvery
		}
		o.Metrics.Watch(ctx, c, wo)
	}
	<-ctx.Done()
	if o.Metrics != nil {
		o.Metrics.Stopping()
	}
	w.Stop()
	return nil
}

// accountAudit audits every configured account with the worker's AWS
// clients, reading only creation dates, for the metrics' oldest key per
// account. Throttled answers count as rate-limit waits.
func accountAudit(ctx context.Context, cfg *config.Config, o Options) (metrics.AccountAudit, error) {
	aws, err := clients.NewAWSForConfig(ctx, cfg, o.AWS...)
	if err != nil {
		return nil, fmt.Errorf("AWS clients: %w", err)
	}
	return func(ctx context.Context) (map[string]time.Time, error) {
		rep, err := audit.Run(ctx, cfg, audit.FromAWS(aws), audit.Options{
			SkipLastUsed: true,
			OnThrottle:   func() { o.Metrics.RateLimitWait("aws") },
		})
		if err != nil {
			return nil, err
		}
		return rep.OldestActive(), rep.Err()
	}, nil
}

func loggerOf(o Options) *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func namespaceOf(o Options) string {
	if o.Namespace == "" {
		return client.DefaultNamespace
	}
	return o.Namespace
}
