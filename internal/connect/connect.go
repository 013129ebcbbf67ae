// Package connect dials Temporal the way every keyrotor process does: the
// standard connection settings, the payload codec and its keyring, the
// encoded failures, the strict inputs of the worker's client, and the
// search attributes the rotations need. The worker, the starter, the demo
// and the tests all connect through it.
package connect

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
)

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
	if o.metrics != nil {
		opts.MetricsHandler = o.metrics
	}
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
	strict  []reflect.Type
	metrics client.MetricsHandler
}

// WithMetricsHandler gives the client (and the worker built on it) a
// metrics handler for the SDK's own metrics (requests, polls, task
// latencies, slots).
func WithMetricsHandler(h client.MetricsHandler) DialOption {
	return func(o *dialOptions) { o.metrics = h }
}

// WithStrictInputs makes the client's data converter refuse values of the
// given types from payloads the codec did not encrypt (see
// WorkerDataConverter). It is for the worker's client, with the workflow
// and activity input types.
func WithStrictInputs(types ...reflect.Type) DialOption {
	return func(o *dialOptions) { o.strict = append(o.strict, types...) }
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
	opts.ConnectionOptions.GrpcCompression = Compression(os.LookupEnv)
	return opts, nil
}

// GzipEnv turns gzip back on for the connection to Temporal (1 or true).
const GzipEnv = "KEYROTOR_TEMPORAL_GZIP"

// Compression is the gRPC compression of keyrotor's connections: none,
// unless $KEYROTOR_TEMPORAL_GZIP asks for gzip. The payloads are
// ciphertext, which gzip cannot shrink, so the SDK's default spends CPU on
// both ends (a tenth of the worker's, in the fleet benchmark) for a few
// bytes of envelope; over a slow link to a far server, gzip may still pay.
func Compression(lookup func(string) (string, bool)) client.GrpcCompression {
	if v, _ := lookup(GzipEnv); v == "1" || strings.EqualFold(v, "true") {
		return &client.GrpcCompressionGzip{}
	}
	return &client.GrpcCompressionNone{}
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
