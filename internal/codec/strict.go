package codec

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// ErrUnencrypted is wrapped by the error RequireEncrypted returns for a
// strict value that arrived without the codec's encryption.
var ErrUnencrypted = errors.New("arrived unencrypted; start rotations with the keyrotor starter or a client that uses the payload codec")

// RequireEncrypted wraps inner (the codec data converter) so that values
// whose type strict marks are only decoded from payloads the codec
// encrypted. The codec's Decode passes plaintext payloads through (history
// from before encryption, and what the server itself writes), so without
// this anyone who may start workflows on the namespace could start a
// rotation with a plaintext input of their own making. Signals, queries and
// updates, which operators send in plaintext from the temporal CLI and the
// Web UI, stay allowed as long as strict does not mark their types.
//
// It must wrap outside the codec: it looks at the raw payload, before
// decryption. strict gets the value pointer the SDK decodes into (e.g.
// *workflows.RotateInput); see StrictTypes. Encoding is not affected.
func RequireEncrypted(inner converter.DataConverter, strict func(valuePtr any) bool) converter.DataConverter {
	return &requireEncrypted{inner: inner, strict: strict}
}

// StrictTypes is a RequireEncrypted predicate for values of the given types
// (a value pointer *T is strict when T is one of them).
func StrictTypes(types ...reflect.Type) func(valuePtr any) bool {
	set := make(map[reflect.Type]bool, len(types))
	for _, t := range types {
		set[t] = true
	}
	return func(valuePtr any) bool {
		t := reflect.TypeOf(valuePtr)
		return t != nil && t.Kind() == reflect.Pointer && set[t.Elem()]
	}
}

type requireEncrypted struct {
	inner  converter.DataConverter
	strict func(valuePtr any) bool
}

var (
	_ converter.DataConverter                         = (*requireEncrypted)(nil)
	_ converter.DataConverterWithSerializationContext = (*requireEncrypted)(nil)
	_ converter.ContextAware                          = (*requireEncrypted)(nil)
)

// check refuses p when valuePtr is strict and p is not encrypted. A
// missing payload (fewer payloads than values) is left to inner: it holds
// nothing anyone could have forged.
func (c *requireEncrypted) check(p *commonpb.Payload, valuePtr any) error {
	if p == nil || c.strict == nil || !c.strict(valuePtr) || isEncrypted(p) {
		return nil
	}
	return fmt.Errorf("codec: a %s %w", reflect.TypeOf(valuePtr).Elem(), ErrUnencrypted)
}

func (c *requireEncrypted) FromPayload(p *commonpb.Payload, valuePtr any) error {
	if err := c.check(p, valuePtr); err != nil {
		return err
	}
	return c.inner.FromPayload(p, valuePtr)
}

func (c *requireEncrypted) FromPayloads(ps *commonpb.Payloads, valuePtrs ...any) error {
	for i, valuePtr := range valuePtrs {
		if i >= len(ps.GetPayloads()) {
			break
		}
		if err := c.check(ps.GetPayloads()[i], valuePtr); err != nil {
			return err
		}
	}
	return c.inner.FromPayloads(ps, valuePtrs...)
}

func (c *requireEncrypted) ToPayload(value any) (*commonpb.Payload, error) {
	return c.inner.ToPayload(value)
}

func (c *requireEncrypted) ToPayloads(values ...any) (*commonpb.Payloads, error) {
	return c.inner.ToPayloads(values...)
}

func (c *requireEncrypted) ToString(p *commonpb.Payload) string { return c.inner.ToString(p) }

func (c *requireEncrypted) ToStrings(ps *commonpb.Payloads) []string { return c.inner.ToStrings(ps) }

// WithSerializationContext keeps the check on the converter the SDK derives
// for each workflow and activity.
func (c *requireEncrypted) WithSerializationContext(ctx converter.SerializationContext) converter.DataConverter {
	inner := c.inner
	if s, ok := inner.(converter.DataConverterWithSerializationContext); ok {
		inner = s.WithSerializationContext(ctx)
	}
	return &requireEncrypted{inner: inner, strict: c.strict}
}

// WithWorkflowContext and WithContext keep the check on context-derived
// converters too.
func (c *requireEncrypted) WithWorkflowContext(ctx converter.WorkflowContext) converter.DataConverter {
	inner := c.inner
	if a, ok := inner.(converter.ContextAware); ok {
		inner = a.WithWorkflowContext(ctx)
	}
	return &requireEncrypted{inner: inner, strict: c.strict}
}

func (c *requireEncrypted) WithContext(ctx context.Context) converter.DataConverter {
	inner := c.inner
	if a, ok := inner.(converter.ContextAware); ok {
		inner = a.WithContext(ctx)
	}
	return &requireEncrypted{inner: inner, strict: c.strict}
}
