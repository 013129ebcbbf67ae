package connect

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/keyrotor/keyrotor/internal/codec"
)

type (
	testWorkflowInput struct{ User string }
	testSignal        struct{ Reason string }
)

func testKeyring(t *testing.T) *codec.Keyring {
	t.Helper()
	k, err := codec.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every client keyrotor makes encrypts failure messages; the worker's also
// refuses plaintext inputs of the strict types but not plaintext signals.
func TestClientConverters(t *testing.T) {
	keys := testKeyring(t)
	plain := converter.GetDefaultDataConverter()
	for _, strict := range [][]reflect.Type{nil, {reflect.TypeFor[testWorkflowInput]()}} {
		dc, fc := ClientConverters(keys, strict...)

		f := fc.ErrorToFailure(temporal.NewApplicationError(`IAM user "ci-deployer" refused`, "Validation"))
		if f.GetMessage() != "Encoded failure" || strings.Contains(f.String(), "ci-deployer") {
			t.Errorf("strict %v: failure in clear: %s", strict, f)
		}
		if err := fc.FailureToError(f); !strings.Contains(err.Error(), "ci-deployer") {
			t.Errorf("strict %v: round trip: %v", strict, err)
		}

		p, err := dc.ToPayload(testWorkflowInput{"ci"})
		if err != nil || string(p.GetMetadata()[converter.MetadataEncoding]) != codec.EncodingEncrypted {
			t.Fatalf("strict %v: ToPayload %v, %v", strict, p.GetMetadata(), err)
		}
		var in testWorkflowInput
		if err := dc.FromPayload(p, &in); err != nil || in.User != "ci" {
			t.Errorf("strict %v: encrypted input: %+v, %v", strict, in, err)
		}

		clearInput, _ := plain.ToPayload(testWorkflowInput{"ci"})
		err = dc.FromPayload(clearInput, new(testWorkflowInput))
		if want := len(strict) > 0; errors.Is(err, codec.ErrUnencrypted) != want {
			t.Errorf("strict %v: plaintext input: %v, want refused %v", strict, err, want)
		}
		clearSignal, _ := plain.ToPayload(testSignal{"leaked"})
		var sig testSignal
		if err := dc.FromPayload(clearSignal, &sig); err != nil || sig.Reason != "leaked" {
			t.Errorf("strict %v: plaintext signal: %+v, %v", strict, sig, err)
		}
	}
}
