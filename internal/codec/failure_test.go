package codec

import (
	"errors"
	"strings"
	"testing"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// A failure made by the client's failure converter carries neither the
// message nor the stack trace in clear, and converts back to the same error.
func TestFailureConverterEncodes(t *testing.T) {
	keys := newKeyring(t, newKey(t))
	fc := NewFailureConverter(NewDataConverter(keys))
	const msg = `access key AKIAIOSFODNN7EXAMPLE of IAM user "ci-deployer" in account "prod" does not exist`
	in := temporal.NewNonRetryableApplicationError(msg, "NoSuchEntity", errors.New("cause: "+msg), "detail "+msg)

	f := fc.ErrorToFailure(in)
	if f.GetMessage() != "Encoded failure" || f.GetStackTrace() != "" {
		t.Fatalf("failure message %q, stack %q", f.GetMessage(), f.GetStackTrace())
	}
	attrs := f.GetEncodedAttributes()
	if enc := string(attrs.GetMetadata()[converter.MetadataEncoding]); enc != EncodingEncrypted {
		t.Fatalf("encoded attributes: encoding %q, want %q", enc, EncodingEncrypted)
	}
	for _, p := range append(f.GetApplicationFailureInfo().GetDetails().GetPayloads(), attrs) {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			t.Errorf("a payload is not encrypted: %v", p.GetMetadata())
		}
	}
	// Nothing of the message is left anywhere in the failure, the cause included.
	if s := f.String(); strings.Contains(s, "AKIAIOSFODNN7EXAMPLE") || strings.Contains(s, "ci-deployer") {
		t.Fatalf("the failure holds the message in clear: %s", s)
	}
	if f.GetApplicationFailureInfo().GetType() != "NoSuchEntity" || !f.GetApplicationFailureInfo().GetNonRetryable() {
		t.Errorf("type and retryability must stay readable for the server: %v", f.GetApplicationFailureInfo())
	}

	// FailureToError decodes the failure in place: give it a copy.
	out := fc.FailureToError(proto.Clone(f).(*failurepb.Failure))
	var app *temporal.ApplicationError
	if !errors.As(out, &app) || app.Message() != msg || app.Type() != "NoSuchEntity" || !app.NonRetryable() {
		t.Fatalf("round trip: %v", out)
	}
	var detail string
	if err := app.Details(&detail); err != nil || detail != "detail "+msg {
		t.Errorf("details: %q, %v", detail, err)
	}
	if cause := errors.Unwrap(app); cause == nil || !strings.Contains(cause.Error(), "cause: "+msg) {
		t.Errorf("cause: %v", cause)
	}

	// Without the key, the failure stays encoded.
	other := NewFailureConverter(NewDataConverter(newKeyring(t, newKey(t))))
	if err := other.FailureToError(f); strings.Contains(err.Error(), "ci-deployer") {
		t.Errorf("decoded without the key: %v", err)
	}
}
