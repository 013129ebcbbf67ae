// Package service wires configuration, provider clients, activities and the
// workflow into a Temporal worker, and dials Temporal. The worker and starter
// mains, the demo and the end-to-end tests all go through it, so they run the
// same code.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/google/go-github/v60/github"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
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

// Dial connects to Temporal using the standard environment variables
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings, or a
// profile from the Temporal CLI's config file).
//
// Every payload goes through the codec, and so do failure messages and
// stack traces (ClientConverters): the server stores only ciphertext. The
// worker's client passes WithStrictInputs.
func Dial(ctx context.Context, logger *slog.Logger, keys *codec.Keyring, options ...DialOption) (client.Client, error) {
	opts, err := clientOptions()
	if err != nil {
		return nil, err
	}
	var o dialOptions
	for _, apply := range options {
		apply(&o)
	}
	opts.DataConverter, opts.FailureConverter = ClientConverters(keys, o.strict...)
	if logger == nil {
		logger = slog.Default()
	}
	opts.Logger = tlog.NewStructuredLogger(logger)
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		addr := opts.HostPort
		if addr == "" {
			addr = client.DefaultHostPort
		}
		return nil, fmt.Errorf("connect to Temporal at %s (set TEMPORAL_ADDRESS to change it): %w", addr, err)
	}
	return c, nil
}

// DialOption changes how Dial sets up the client.
type DialOption func(*dialOptions)

type dialOptions struct {
	strict []reflect.Type
}

// WithStrictInputs makes the client's data converter refuse values of the
// given types from payloads the codec did not encrypt (see
// WorkerDataConverter). It is for the worker's client, with the workflow
// and activity input types.
func WithStrictInputs(types ...reflect.Type) DialOption {
	return func(o *dialOptions) { o.strict = append(o.strict, types...) }
}

// WorkerInputs are the types the worker only accepts encrypted: the
// workflows' inputs and the push activity's input. Pass them to
// WithStrictInputs (Dial) or stack.Dial for a client that runs the worker.
func WorkerInputs() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[workflows.RotateInput](),
		reflect.TypeFor[workflows.ScheduledInput](),
		reflect.TypeFor[activities.PushInput](),
	}
}

// ClientConverters returns the data and failure converters of every
// keyrotor client: the codec's data converter (WorkerDataConverter when
// strict types are given), and a failure converter that encrypts failure
// messages and stack traces through the codec.
func ClientConverters(keys *codec.Keyring, strict ...reflect.Type) (converter.DataConverter, converter.FailureConverter) {
	dc := codec.NewDataConverter(keys)
	fc := codec.NewFailureConverter(dc)
	if len(strict) > 0 {
		dc = WorkerDataConverter(keys, strict...)
	}
	return dc, fc
}

// WorkerDataConverter is the data converter of the worker's client: the
// codec's, except that a value of one of the strict types (the workflow
// and activity inputs) is only decoded from a payload the codec encrypted.
// Whoever may start workflows on the namespace then cannot start a
// rotation with a plaintext input of their own; signals, queries and
// updates, which operators send in plaintext from the temporal CLI and the
// Web UI, must not be among the strict types. Local activity inputs never
// go through a data converter (the SDK hands them over in process), so
// only regular activity inputs and workflow inputs are checked.
func WorkerDataConverter(keys *codec.Keyring, strict ...reflect.Type) converter.DataConverter {
	return codec.RequireEncrypted(codec.NewDataConverter(keys), codec.StrictTypes(strict...))
}

func clientOptions() (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return opts, fmt.Errorf("temporal connection settings: %w", err)
	}
	return opts, nil
}

// Keyring loads the payload encryption keys: KEYROTOR_CODEC_KEY_FILE, else
// the config's codec.keyFile. With neither, the error (codec.ErrNoKey) says
// how to make a key.
func Keyring(cfg *config.Config) (*codec.Keyring, error) {
	return codec.KeyringFromEnv(os.LookupEnv, cfg.CodecKeyFiles)
}

// Namespace is the Temporal namespace the environment selects.
func Namespace() string {
	if opts, err := clientOptions(); err == nil && opts.Namespace != "" {
		return opts.Namespace
	}
	return client.DefaultNamespace
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
	if err := EnsureSearchAttributes(ctx, c, ns); err != nil {
		return nil, err
	}
	acts, err := newActivities(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	w := worker.New(c, cfg.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.RotateAccessKey, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ScheduledRotation, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
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
// else with the token. The App's key is read here, once, at worker start:
// the client keeps it in memory to sign the JWT for each installation token.
func newGitHubClient(gh *config.GitHub) (*github.Client, error) {
	if gh.App == nil {
		return clients.NewGitHubClient(gh.BaseURL, gh.Token)
	}
	key, err := os.ReadFile(gh.App.PrivateKeyFile)
	if err != nil {
		// The *PathError names the file; it never holds the content.
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
