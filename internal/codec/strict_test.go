package codec

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// strictInput stands for a workflow or activity input (RotateInput);
// signalInput for a signal, query or update argument.
type (
	strictInput struct{ User string }
	signalInput struct{ Reason string }
)

var strictTestTypes = StrictTypes(reflect.TypeFor[strictInput]())

func TestRequireEncrypted(t *testing.T) {
	keys := newKeyring(t, newKey(t))
	dc := RequireEncrypted(NewDataConverter(keys), strictTestTypes)
	plain := converter.GetDefaultDataConverter()
	encrypted := func(v any) *commonpb.Payload {
		p, err := NewDataConverter(keys).ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	inClear := func(v any) *commonpb.Payload {
		p, err := plain.ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		payloads []*commonpb.Payload
		into     []any
		wantErr  bool
	}{
		{"encrypted input", []*commonpb.Payload{encrypted(strictInput{"ci"})}, []any{new(strictInput)}, false},
		{"plaintext input refused", []*commonpb.Payload{inClear(strictInput{"ci"})}, []any{new(strictInput)}, true},
		{"plaintext null input refused", []*commonpb.Payload{inClear(nil)}, []any{new(strictInput)}, true},
		{"plaintext signal allowed", []*commonpb.Payload{inClear(signalInput{"leaked"})}, []any{new(signalInput)}, false},
		{"encrypted signal", []*commonpb.Payload{encrypted(signalInput{"leaked"})}, []any{new(signalInput)}, false},
		{"second argument checked", []*commonpb.Payload{inClear(signalInput{"x"}), inClear(strictInput{"ci"})}, []any{new(signalInput), new(strictInput)}, true},
		{"missing argument left to the converter", nil, []any{new(strictInput)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dc.FromPayloads(&commonpb.Payloads{Payloads: tt.payloads}, tt.into...)
			if tt.wantErr {
				if !errors.Is(err, ErrUnencrypted) {
					t.Fatalf("FromPayloads = %v, want ErrUnencrypted", err)
				}
				if !strings.Contains(err.Error(), "strictInput arrived unencrypted; start rotations with the keyrotor starter or a client that uses the payload codec") {
					t.Errorf("message: %v", err)
				}
			} else if err != nil {
				t.Fatalf("FromPayloads = %v", err)
			}
			if len(tt.payloads) == 1 {
				err1 := dc.FromPayload(tt.payloads[0], tt.into[0])
				if (err1 != nil) != tt.wantErr {
					t.Errorf("FromPayload = %v, want error %v", err1, tt.wantErr)
				}
			}
		})
	}

	// The check survives the SDK's per-workflow and per-activity converters.
	scoped := dc.(converter.DataConverterWithSerializationContext).WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: "w"})
	if err := scoped.FromPayload(inClear(strictInput{"ci"}), new(strictInput)); !errors.Is(err, ErrUnencrypted) {
		t.Errorf("WithSerializationContext: %v", err)
	}
	if err := dc.(converter.ContextAware).WithContext(context.Background()).FromPayload(inClear(strictInput{"ci"}), new(strictInput)); !errors.Is(err, ErrUnencrypted) {
		t.Errorf("WithContext: %v", err)
	}
	// A plaintext payload that merely claims the encrypted encoding passes
	// the check but not the codec: it is not a way around it.
	forged := inClear(strictInput{"ci"})
	forged.Metadata[converter.MetadataEncoding] = []byte(EncodingEncrypted)
	forged.Metadata[MetadataCipher] = []byte(CipherAES256GCM)
	forged.Metadata[MetadataKeyID] = []byte(keys.CurrentKeyID())
	var got strictInput
	if err := dc.FromPayload(forged, &got); err == nil || got.User != "" {
		t.Errorf("forged encrypted payload decoded: %+v, %v", got, err)
	}
	// Encoding is the codec's.
	p, err := dc.ToPayload(strictInput{"ci"})
	if err != nil || !isEncrypted(p) {
		t.Errorf("ToPayload: %v, %v", p.GetMetadata(), err)
	}
}

// The SDK decodes workflow and activity inputs through the data converter
// with typed value pointers, signals with theirs, and hands local activities
// their arguments without any conversion. A converter that writes plaintext
// but requires encryption for strictInput shows each path.
func TestRequireEncryptedInTheSDK(t *testing.T) {
	plaintextWriter := RequireEncrypted(converter.GetDefaultDataConverter(), strictTestTypes)

	local := func(_ context.Context, in strictInput) (string, error) { return "local:" + in.User, nil }
	remote := func(_ context.Context, in strictInput) (string, error) { return "remote:" + in.User, nil }
	takesStrict := func(ctx workflow.Context, in strictInput) (string, error) { return in.User, nil }
	takesSignal := func(ctx workflow.Context, user string) (string, error) {
		var sig signalInput
		workflow.GetSignalChannel(ctx, "revoke").Receive(ctx, &sig)
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
		var out string
		if err := workflow.ExecuteLocalActivity(lctx, local, strictInput{user}).Get(ctx, &out); err != nil {
			return "", err
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		var rem string
		if err := workflow.ExecuteActivity(actx, remote, strictInput{user}).Get(ctx, &rem); err != nil {
			return out + " " + err.Error(), nil
		}
		return out + " " + rem + " " + sig.Reason, nil
	}

	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	t.Run("workflow input", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.SetDataConverter(plaintextWriter)
		env.RegisterWorkflow(takesStrict)
		env.ExecuteWorkflow(takesStrict, strictInput{"ci"})
		if err := env.GetWorkflowError(); !errors.Is(err, ErrUnencrypted) && (err == nil || !strings.Contains(err.Error(), ErrUnencrypted.Error())) {
			t.Fatalf("workflow error = %v, want the input refused", err)
		}
	})
	t.Run("signal, local and regular activity", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.SetDataConverter(plaintextWriter)
		env.RegisterWorkflow(takesSignal)
		env.RegisterActivity(local)
		env.RegisterActivity(remote)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow("revoke", signalInput{"leaked"}) }, time.Second)
		env.ExecuteWorkflow(takesSignal, "ci")
		var out string
		if err := env.GetWorkflowResult(&out); err != nil {
			t.Fatal(err)
		}
		// The local activity ran on its arguments as given; the regular
		// activity's input went through the converter and was refused.
		if !strings.HasPrefix(out, "local:ci ") || !strings.Contains(out, ErrUnencrypted.Error()) {
			t.Errorf("result %q", out)
		}
	})
}
