package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// A 40-character value shaped like an AWS secret access key. It is made up.
const fakeSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY"

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func newKeyring(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func toPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encodeOne(t *testing.T, c converter.PayloadCodec, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return out[0]
}

func decodeOne(c converter.PayloadCodec, p *commonpb.Payload) (*commonpb.Payload, error) {
	out, err := c.Decode([]*commonpb.Payload{p})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func TestRoundTrip(t *testing.T) {
	k := newKeyring(t, newKey(t))
	c := NewCodec(k)
	tests := []struct {
		name  string
		value any
	}{
		{"string", "hello"},
		{"empty string", ""},
		{"nil", nil},
		{"bytes", []byte{0, 1, 2, 255}},
		{"new access key", plainKey{ID: "AKIAEXAMPLE", Secret: fakeSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := toPayload(t, tt.value)
			enc := encodeOne(t, c, in)
			md := enc.GetMetadata()
			if got := string(md[converter.MetadataEncoding]); got != EncodingEncrypted {
				t.Errorf("encoding = %q, want %q", got, EncodingEncrypted)
			}
			if got := string(md[MetadataKeyID]); got != k.CurrentKeyID() {
				t.Errorf("key id = %q, want %q", got, k.CurrentKeyID())
			}
			if got := string(md[MetadataCipher]); got != CipherAES256GCM {
				t.Errorf("cipher = %q, want %q", got, CipherAES256GCM)
			}
			dec, err := decodeOne(c, enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(in, dec) {
				t.Errorf("round trip changed the payload:\n in: %v\nout: %v", in, dec)
			}
		})
	}
}

func TestDataConverterRoundTrip(t *testing.T) {
	dc := NewDataConverter(newKeyring(t, newKey(t)))
	in := plainKey{ID: "AKIAEXAMPLE", Secret: fakeSecret}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
		t.Fatalf("data converter did not encrypt: %v", p.GetMetadata())
	}
	var out plainKey
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("got %+v, want %+v", out, in)
	}
}

func TestEncodeUsesFreshNonce(t *testing.T) {
	c := NewCodec(newKeyring(t, newKey(t)))
	in := toPayload(t, fakeSecret)
	out, err := c.Encode([]*commonpb.Payload{in, in})
	if err != nil {
		t.Fatal(err)
	}
	again := encodeOne(t, c, in)
	datas := [][]byte{out[0].GetData(), out[1].GetData(), again.GetData()}
	for i := range datas {
		for j := i + 1; j < len(datas); j++ {
			if bytes.Equal(datas[i], datas[j]) {
				t.Errorf("ciphertexts %d and %d are equal", i, j)
			}
			if bytes.Equal(datas[i][:12], datas[j][:12]) {
				t.Errorf("nonces %d and %d are equal", i, j)
			}
		}
	}
}

func TestCiphertextHidesSecret(t *testing.T) {
	c := NewCodec(newKeyring(t, newKey(t)))
	enc := encodeOne(t, c, toPayload(t, plainKey{ID: "AKIAEXAMPLE", Secret: fakeSecret}))
	wire, err := proto.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{
		fakeSecret,
		base64.StdEncoding.EncodeToString([]byte(fakeSecret)),
		"AKIAEXAMPLE",
		"json/plain", // not even the inner encoding shows
	} {
		if bytes.Contains(wire, []byte(needle)) {
			t.Errorf("encoded payload contains %q", needle)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newer := newKey(t), newKey(t)
	before := NewCodec(newKeyring(t, oldKey))
	after := NewCodec(newKeyring(t, newer, oldKey))
	in := toPayload(t, fakeSecret)

	old := encodeOne(t, before, in)
	dec, err := decodeOne(after, old)
	if err != nil {
		t.Fatalf("old key no longer decrypts after rotation: %v", err)
	}
	if !proto.Equal(in, dec) {
		t.Error("old-key payload decoded wrong")
	}

	fresh := encodeOne(t, after, in)
	if got, want := string(fresh.GetMetadata()[MetadataKeyID]), KeyID(newer); got != want {
		t.Errorf("new payloads use key %s, want the newest %s", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	key := newKey(t)
	k := newKeyring(t, key)
	c := NewCodec(k)
	good := encodeOne(t, c, toPayload(t, fakeSecret))
	otherID := KeyID(newKey(t))

	tests := []struct {
		name    string
		mutate  func(p *commonpb.Payload)
		wantErr []string // substrings
		is      error
	}{
		{
			name:    "unknown key id",
			mutate:  func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte(otherID) },
			wantErr: []string{otherID, k.CurrentKeyID()},
			is:      ErrUnknownKey,
		},
		{
			name:    "flipped ciphertext bit",
			mutate:  func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 },
			wantErr: []string{"failed authentication"},
		},
		{
			name:    "flipped nonce bit",
			mutate:  func(p *commonpb.Payload) { p.Data[0] ^= 1 },
			wantErr: []string{"failed authentication"},
		},
		{
			name:    "truncated",
			mutate:  func(p *commonpb.Payload) { p.Data = p.Data[:20] },
			wantErr: []string{"truncated"},
		},
		{
			name:    "wrong cipher",
			mutate:  func(p *commonpb.Payload) { p.Metadata[MetadataCipher] = []byte("ROT13") },
			wantErr: []string{"ROT13"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proto.Clone(good).(*commonpb.Payload)
			tt.mutate(p)
			_, err := decodeOne(c, p)
			if err == nil {
				t.Fatal("Decode succeeded, want error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			assertNoKeyMaterial(t, err.Error(), key)
		})
	}
}

// The key ID is authenticated data, so a payload cannot be re-labelled with
// another key ID. Derived IDs already differ per key, so the keyring here
// files one key under two IDs to show the label itself is checked.
func TestRelabelledCiphertextFails(t *testing.T) {
	aead, err := newAEAD(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCodec(&Keyring{keys: []keyEntry{{id: "k-first", aead: aead}, {id: "k-second", aead: aead}}})
	p := encodeOne(t, c, toPayload(t, fakeSecret))
	if _, err := decodeOne(c, proto.Clone(p).(*commonpb.Payload)); err != nil {
		t.Fatalf("unmodified payload: %v", err)
	}
	p.Metadata[MetadataKeyID] = []byte("k-second")
	if _, err := decodeOne(c, p); err == nil {
		t.Fatal("relabelled payload decoded")
	}
}

func TestPlaintextPassesThrough(t *testing.T) {
	c := NewCodec(newKeyring(t, newKey(t)))
	plain := []*commonpb.Payload{
		toPayload(t, "written before encryption"),
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/zlib")}, Data: []byte{1, 2}},
		{}, // no metadata at all
		nil,
	}
	out, err := c.Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if out[i] != plain[i] {
			t.Errorf("payload %d was changed", i)
		}
	}
}

func TestEncodeWithEmptyKeyring(t *testing.T) {
	if _, err := NewCodec(&Keyring{}).Encode([]*commonpb.Payload{{}}); err == nil {
		t.Fatal("empty keyring encoded")
	}
}

func TestNewKeyringErrors(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name string
		keys [][]byte
	}{
		{"none", nil},
		{"short", [][]byte{key[:16]}},
		{"duplicate", [][]byte{key, bytes.Clone(key)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewKeyring(tt.keys...); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, KeySize)
	id := KeyID(key)
	if !strings.HasPrefix(id, "k-") || len(id) != len("k-")+8 {
		t.Errorf("KeyID = %q, want k- and 8 hex digits", id)
	}
	if KeyID(key) != id {
		t.Error("KeyID is not stable")
	}
	if KeyID(newKey(t)) == id {
		t.Error("different keys share an ID")
	}
}

func TestKeyringPrintsNoKeyMaterial(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	k := newKeyring(t, k1, k2)
	outputs := []string{
		fmt.Sprintf("%v %+v %#v", k, k, k),
		fmt.Sprintf("%v %+v %#v", *k, *k, *k),
		fmt.Sprintf("%s %x %X %d %q", k, k, k, k, k),
		fmt.Sprintf("%x %d", *k, *k),
	}
	for _, out := range outputs {
		for _, key := range [][]byte{k1, k2} {
			assertNoKeyMaterial(t, out, key)
		}
		if !strings.Contains(out, KeyID(k1)) {
			t.Errorf("%q does not list key IDs", out)
		}
	}
	var nilRing *Keyring
	_ = fmt.Sprintf("%v %#v", nilRing, nilRing) // must not panic
}

// assertNoKeyMaterial fails if s contains key raw, in hex or in base64.
func assertNoKeyMaterial(t *testing.T, s string, key []byte) {
	t.Helper()
	for _, form := range []string{
		string(key),
		fmt.Sprintf("%x", key),
		fmt.Sprintf("%X", key),
		fmt.Sprint(key), // [1 2 3 ...]
		base64.StdEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
	} {
		if strings.Contains(s, form) {
			t.Errorf("output contains key material: %q", s)
			return
		}
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawKey returns a random key whose first byte is not printable, so it (and
// every prefix of it) reads as binary, as raw key files do in practice (32
// random bytes are all printable with probability about 2^-43).
func rawKey(t *testing.T) []byte {
	key := newKey(t)
	key[0] |= 0x80
	return key
}

func TestLoadKeyring(t *testing.T) {
	key := rawKey(t)
	std := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name    string
		content []byte
		wantErr string // substring; "" = success
	}{
		{"raw", key, ""},
		{"base64", []byte(std), ""},
		{"base64 newline", []byte(std + "\n"), ""},
		{"base64 crlf", []byte(std + "\r\n"), ""},
		{"base64 unpadded", []byte(base64.RawStdEncoding.EncodeToString(key)), ""},
		{"base64 url", []byte(base64.URLEncoding.EncodeToString(key) + "\n"), ""},
		{"base64 url unpadded", []byte(base64.RawURLEncoding.EncodeToString(key)), ""},
		{"empty", nil, "empty"},
		{"raw short", key[:31], "binary"},
		{"raw long", append(bytes.Clone(key), 0xff), "binary"},
		{"base64 of 24 bytes", []byte(base64.StdEncoding.EncodeToString(key[:24])), "decodes to 24 bytes"},
		{"base64 of 33 bytes", []byte(base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)) + "\n"), "decodes to 33 bytes"},
		{"passphrase", []byte("correct horse battery staple!!\n"), "not valid base64"},
		{"huge", bytes.Repeat([]byte("A"), maxKeyFileSize+10), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "codec.key", tt.content)
			k, err := LoadKeyring([]string{path})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadKeyring: %v", err)
				}
				if got, want := k.CurrentKeyID(), KeyID(key); got != want {
					t.Errorf("key ID %s, want %s (loaded the wrong key)", got, want)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKeyring succeeded, want error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q does not say %q", msg, tt.wantErr)
			}
			if len(tt.content) > 8 && strings.Contains(msg, strings.TrimSpace(string(tt.content))) {
				t.Errorf("error %q shows the file content", msg)
			}
			assertNoKeyMaterial(t, msg, key)
		})
	}
}

func TestLoadKeyringOrderAndErrors(t *testing.T) {
	dir := t.TempDir()
	newer, older := rawKey(t), rawKey(t)
	newPath := writeFile(t, dir, "new.key", []byte(base64.StdEncoding.EncodeToString(newer)+"\n"))
	oldPath := writeFile(t, dir, "old.key", older)

	k, err := LoadKeyring([]string{newPath, oldPath})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.KeyIDs(), []string{KeyID(newer), KeyID(older)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("KeyIDs = %v, want %v", got, want)
	}

	missing := filepath.Join(dir, "missing.key")
	if _, err := LoadKeyring([]string{newPath, missing}); err == nil || !strings.Contains(err.Error(), missing) ||
		!errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want one naming %s", err, missing)
	}

	dupPath := writeFile(t, dir, "dup.key", newer)
	_, err = LoadKeyring([]string{newPath, dupPath})
	if err == nil || !strings.Contains(err.Error(), newPath) || !strings.Contains(err.Error(), dupPath) {
		t.Errorf("duplicate key: error %v, want one naming both files", err)
	}

	if _, err := LoadKeyring(nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("no paths: error %v, want ErrNoKey", err)
	}
}

func TestKeyringFromEnv(t *testing.T) {
	dir := t.TempDir()
	envKey, envOld, cfgKey := rawKey(t), rawKey(t), rawKey(t)
	envPath := writeFile(t, dir, "env.key", envKey)
	envOldPath := writeFile(t, dir, "env-old.key", envOld)
	cfgPath := writeFile(t, dir, "cfg.key", cfgKey)
	sep := string(os.PathListSeparator)

	tests := []struct {
		name    string
		env     map[string]string
		config  []string
		wantIDs []string
		wantErr error
	}{
		{"env wins over config", map[string]string{EnvKeyFile: envPath}, []string{cfgPath}, []string{KeyID(envKey)}, nil},
		{"env list, first newest", map[string]string{EnvKeyFile: envPath + sep + envOldPath}, nil, []string{KeyID(envKey), KeyID(envOld)}, nil},
		{"env list with stray separators", map[string]string{EnvKeyFile: sep + envPath + sep + sep}, nil, []string{KeyID(envKey)}, nil},
		{"config when env unset", nil, []string{cfgPath}, []string{KeyID(cfgKey)}, nil},
		{"config when env empty", map[string]string{EnvKeyFile: ""}, []string{cfgPath}, []string{KeyID(cfgKey)}, nil},
		{"neither", nil, nil, nil, ErrNoKey},
		{"env only separators", map[string]string{EnvKeyFile: sep}, []string{cfgPath}, nil, ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) {
				v, ok := tt.env[name]
				return v, ok
			}
			k, err := KeyringFromEnv(lookup, tt.config)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := k.KeyIDs(); fmt.Sprint(got) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("KeyIDs = %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestErrNoKeyExplainsHowToMakeAKey(t *testing.T) {
	msg := ErrNoKey.Error()
	for _, want := range []string{
		"head -c 32 /dev/urandom | base64 > keyrotor-codec.key",
		EnvKeyFile,
		"codec.keyFile",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("ErrNoKey %q does not mention %q", msg, want)
		}
	}
}

func TestGenerateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyrotor-codec.key")
	if err := GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %v, want 0600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Error("no trailing newline")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		t.Fatalf("file is not base64 of %d bytes (err %v, %d bytes)", KeySize, err, len(key))
	}
	if _, err := LoadKeyring([]string{path}); err != nil {
		t.Errorf("generated file does not load: %v", err)
	}

	err = GenerateKeyFile(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("second GenerateKeyFile: error %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Error("existing key file was overwritten")
	}
}

// plainKey is a payload that holds a secret in the clear (what the codec
// must hide); model.Secret itself marshals redacted.
type plainKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}
