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

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/google/go-github/v60/github"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/workflows"
)

// Options adjust how the worker reaches the outside world. The zero value
// uses the standard AWS SDK chain and the config's URLs.
type Options struct {
	// AWS options applied after the standard chain (tests and the demo
	// point the SDK at the emulator with static credentials).
	AWS []func(*awsconfig.LoadOptions) error
	// Logger for the Temporal SDK; slog's default when nil.
	Logger *slog.Logger
	// Namespace the worker's client is connected to, where the search
	// attributes are registered; "default" when empty.
	Namespace string
	// Keys seal each new secret before it leaves the Create activity and
	// open it where it is pushed (the same keys as the payload codec).
	Keys *codec.Keyring
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
	ns := o.Namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	if err := connect.EnsureSearchAttributes(ctx, c, ns); err != nil {
		return nil, err
	}
	acts, err := newActivities(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	w := worker.New(c, cfg.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: contract.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ScheduledRotation, workflow.RegisterOptions{Name: contract.ScheduledWorkflowName})
	for _, a := range acts {
		w.RegisterActivity(a)
	}
	return w, nil
}

// newActivities builds one activities struct per external system.
func newActivities(ctx context.Context, cfg *config.Config, o Options) ([]any, error) {
	if o.Keys == nil {
		return nil, codec.ErrNoKey
	}
	accounts := make([]clients.AWSAccount, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		accounts = append(accounts, clients.AWSAccount{Name: a.Name, Region: a.Region, RoleARN: a.RoleARN})
	}
	aws, err := clients.NewAWS(ctx, accounts, o.AWS...)
	if err != nil {
		return nil, fmt.Errorf("AWS clients: %w", err)
	}
	acts := []any{activities.NewConfig(cfg), activities.NewIAM(aws, o.Keys, cfg)}
	if cfg.GitHub != nil {
		gh, err := newGitHubClient(cfg.GitHub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		acts = append(acts, activities.NewGitHub(gh, o.Keys, cfg))
	}
	if cfg.GitLab != nil {
		gl, err := clients.NewGitLabClient(cfg.GitLab.BaseURL, cfg.GitLab.Token)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		acts = append(acts, activities.NewGitLab(gl, o.Keys, cfg))
	}
	return acts, nil
}

// newGitHubClient authenticates with the GitHub App when one is configured,
// else with the token. The App's key is the one CheckWorker read and checked
// at worker start (the file is read once); the client keeps it in memory to
// sign the JWT for each installation token.
func newGitHubClient(gh *config.GitHub) (*github.Client, error) {
	if gh.App == nil {
		return clients.NewGitHubClient(gh.BaseURL, gh.Token)
	}
	key, err := gh.App.PrivateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("github.app.privateKeyFile: %w", err)
	}
	return clients.NewGitHubAppClient(gh.BaseURL, gh.App.AppID, gh.App.InstallationID, key)
}

// RunWorker runs the worker until ctx is cancelled, then stops it cleanly
// (in-flight activities finish or are handed back to the server).
func RunWorker(ctx context.Context, c client.Client, cfg *config.Config, o Options) error {
	w, err := NewWorker(ctx, c, cfg, o)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
