package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
)

// secretForms are the ways a secret could show up: as is, base64 (std
// and URL), and inside the JSON of a key.
func secretForms(secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		`"secret":"` + secret + `"`,
	}
}

// leakWindow is the length of the secret fragments looked for: a
// truncated or partly redacted secret is still a leak.
const leakWindow = 12

func requireNoSecrets(t *testing.T, where, text string, secrets map[string]string) {
	t.Helper()
	for name, secret := range secrets {
		for _, form := range secretForms(secret) {
			require.NotContains(t, text, form, "%s holds the %s", where, name)
		}
		for i := 0; i+leakWindow <= len(secret); i++ {
			if strings.Contains(text, secret[i:i+leakWindow]) {
				// Say where, never what: the fragment is part of a secret.
				t.Fatalf("%s holds %d characters of the %s (from offset %d)", where, leakWindow, name, i)
			}
		}
	}
}

// After a real rotation on a real Temporal server, nothing the server
// stores, and nothing the worker or the starter print, holds a secret: the
// new secret access key, the old one, the provider tokens, the rotator's own
// AWS secret. Decoded with the codec, the history shows the fields, with
// the new secret still sealed.
func TestNoSecretLeaves(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	worker, workerLog := r.workerProcessLogged()

	out, code := r.starter("rotate", "--config", r.cfgPath, "--user", "ci-deployer", "--wait")
	require.Equal(t, 0, code, out)
	outJSON, code := r.starter("status", "--config", r.cfgPath, "--output", "json")
	require.Equal(t, 0, code, outJSON)
	var overviews []map[string]any
	require.NoError(t, json.Unmarshal([]byte(outJSON), &overviews))
	statusText, code := r.starter("status", "--config", r.cfgPath)
	require.Equal(t, 0, code, statusText)
	require.NoError(t, worker.Process.Signal(syscall.SIGTERM))
	require.NoError(t, worker.Wait())

	_, newSecret := r.emu.TargetValues(devstack.DemoTargets()[0], model.DefaultSecretNames)
	require.NotEmpty(t, newSecret)
	secrets := map[string]string{
		"new secret access key": newSecret,
		"old secret access key": r.oldKeys["ci-deployer"].Secret.Reveal(),
		"GitHub token":          r.emu.GitHubToken.Reveal(),
		"GitLab token":          r.emu.GitLabToken.Reveal(),
		"rotator's AWS secret":  r.emu.AdminSecret.Reveal(),
	}
	logBytes, err := os.ReadFile(workerLog)
	require.NoError(t, err)
	require.Contains(t, string(logBytes), "worker starting", "the worker log was captured")
	requireNoSecrets(t, "the worker's output", string(logBytes), secrets)
	requireNoSecrets(t, "starter rotate --wait", out, secrets)
	requireNoSecrets(t, "starter status --output json", outJSON, secrets)
	requireNoSecrets(t, "starter status", statusText, secrets)

	// The raw history, as anyone with access to the namespace sees it.
	raw, err := client.Dial(client.Options{HostPort: devServer.FrontendHostPort(), Namespace: "default"})
	require.NoError(t, err)
	defer raw.Close()
	h := history(t, raw, model.WorkflowID("demo", "ci-deployer"))
	wire, err := proto.Marshal(h)
	require.NoError(t, err)
	asJSON, err := protojson.Marshal(h)
	require.NoError(t, err)
	requireNoSecrets(t, "the stored history", string(wire), secrets)
	requireNoSecrets(t, "the stored history as JSON", string(asJSON), secrets)

	// Every payload is encrypted; decoded with the key, the secret is there.
	var decoded strings.Builder
	payloads := 0
	eachPayload(h.ProtoReflect(), func(p *commonpb.Payload) {
		payloads++
		require.Equal(t, codec.EncodingEncrypted, string(p.GetMetadata()["encoding"]), "a payload is not encrypted: %s", p.GetMetadata())
		plain, err := codec.NewCodec(codecKeys).Decode([]*commonpb.Payload{p})
		require.NoError(t, err)
		decoded.Write(plain[0].GetData())
	})
	require.Greater(t, payloads, 10)
	// Decoded, the payloads show their fields (the new key's ID, its sealed
	// secret), but even the codec's holders do not see the secret itself:
	// only the activities that push it open the seal.
	newKeyID := r.emu.AWS.Keys("ci-deployer")[0].ID
	require.Contains(t, decoded.String(), `"id":"`+newKeyID+`"`)
	require.Contains(t, decoded.String(), `"sealedSecret"`)
	requireNoSecrets(t, "the history decoded with the codec", decoded.String(), secrets)

	// Search attributes stay readable for the UI's filters.
	resp, err := raw.ListWorkflow(context.Background(), listRequest(`KeyrotorUser = "ci-deployer" AND KeyrotorPhase = "done"`))
	require.NoError(t, err)
	require.NotEmpty(t, resp.GetExecutions())
}

func history(t *testing.T, c client.Client, workflowID string) *historypb.History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var h historypb.History
	iter := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return &h
}

// eachPayload calls f for every payload in m, search attributes excepted
// (they are indexed by the server, hold no secrets, and are never encoded).
func eachPayload(m protoreflect.Message, f func(*commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		f(p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() != nil && fd.Message().FullName() == "temporal.api.common.v1.SearchAttributes" {
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				eachPayload(v.List().Get(i).Message(), f)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				eachPayload(mv.Message(), f)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			eachPayload(v.Message(), f)
		}
		return true
	})
}

// Without a payload key the worker refuses to start, and says how to make one.
func TestWorkerRefusesToStartWithoutKey(t *testing.T) {
	r := newRig(t, rigOptions{noStart: true})
	cmd := exec.Command(filepath.Join(binDir, "worker"), "--config", r.cfgPath)
	cmd.Env = append(append(os.Environ(), r.emu.Env()...), "TEMPORAL_ADDRESS="+devServer.FrontendHostPort(), "KEYROTOR_CODEC_KEY_FILE=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, string(out))
	require.Contains(t, string(out), "head -c 32 /dev/urandom | base64")
	require.Contains(t, string(out), "KEYROTOR_CODEC_KEY_FILE")
}
