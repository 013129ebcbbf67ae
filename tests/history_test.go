package tests

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/stack"
)

// TestRecordHistory records the history of a real rotation for the replay
// test in workflows/ (workflows/testdata/rotate_access_key.vN.history.json).
// It only runs when asked:
//
//	KEYROTOR_RECORD_HISTORY=$PWD/workflows/testdata/rotate_access_key.v2.history.json go test -run TestRecordHistory ./tests/
//
// Key IDs and the secret are replaced by AWS's documented example values
// before the file is written: a recorded history must never carry a secret
// into git, even an emulator's.
func TestRecordHistory(t *testing.T) {
	out := os.Getenv("KEYROTOR_RECORD_HISTORY")
	if out == "" {
		t.Skip("set KEYROTOR_RECORD_HISTORY=FILE to record a rotation history")
	}
	r := newRig(t, rigOptions{})
	rot, err := r.cfg.Rotation("", "ci-deployer")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started, err := operator.StartRotation(ctx, r.client, r.cfg.TaskQueue, rot)
	require.NoError(t, err)
	st, err := operator.Wait(ctx, r.client, started)
	require.NoError(t, err)
	_, secret := r.emu.TargetValues(stack.DemoTargets()[0], model.DefaultSecretNames)

	var h historypb.History
	iter := r.client.GetWorkflowHistory(ctx, started.WorkflowID, started.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	// The recorded file holds decrypted payloads (the replay test has no
	// key), with the secrets replaced below.
	decodePayloads(t, h.ProtoReflect())
	scrub(h.ProtoReflect(), strings.NewReplacer(
		st.OldKeyID, "AKIAIOSFODNN7EXAMPLE",
		st.NewKeyID, "AKIAI44QH8DHBEXAMPLE",
		secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		r.oldKeys["ci-deployer"].Secret.Reveal(), "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
	))
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, data, 0o644))
	t.Logf("recorded %d events into %s", len(h.Events), out)
}

// decodePayloads decrypts every payload in the message in place.
func decodePayloads(t *testing.T, m protoreflect.Message) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		out, err := codec.NewCodec(codecKeys).Decode([]*commonpb.Payload{p})
		require.NoError(t, err)
		proto.Reset(p)
		proto.Merge(p, out[0])
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				decodePayloads(t, v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				decodePayloads(t, mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			decodePayloads(t, v.Message())
		}
		return true
	})
}

// scrub replaces secrets in every string and bytes field of a message,
// payload data included (payloads are JSON, so the replacement keeps them
// valid).
func scrub(m protoreflect.Message, rep *strings.Replacer) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if fd.Message() != nil {
					scrub(l.Get(i).Message(), rep)
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					scrub(mv.Message(), rep)
				} else if fd.MapValue().Kind() == protoreflect.BytesKind {
					v.Map().Set(k, protoreflect.ValueOfBytes([]byte(rep.Replace(string(mv.Bytes())))))
				}
				return true
			})
		case fd.Message() != nil:
			scrub(v.Message(), rep)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(rep.Replace(v.String())))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte(rep.Replace(string(v.Bytes())))))
		}
		return true
	})
}
