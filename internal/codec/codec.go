// Package codec encrypts every Temporal payload keyrotor produces, so that
// the new AWS secret access key, which travels from the CreateAccessKey
// activity to the Push activities through workflow history, is never stored
// in clear on the Temporal server.
//
// Payloads are encrypted with AES-256-GCM under the newest key of a Keyring;
// every key of the keyring can decrypt, so keys can be rotated by listing a
// new key first and dropping the old one once no history needs it.
//
// Key IDs are "k-" followed by the first 8 hex digits of the SHA-256 of the
// raw 32-byte key. The ID is the same on every machine whatever the key file
// is called, and reveals nothing usable about the key (it is a 32-bit slice
// of a one-way hash of 256 random bits). To find the ID of a key file:
//
//	base64 -d < keyrotor-codec.key | sha256sum | cut -c1-8
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata written on encrypted payloads. The names are part of the stored
// history format: never change them.
const (
	// EncodingEncrypted is the value of the "encoding" metadata
	// (converter.MetadataEncoding) of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the metadata holding the ID of the encrypting key.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the metadata holding the cipher.
	MetadataCipher = "encryption-cipher"
	// CipherAES256GCM is the only cipher written and accepted.
	CipherAES256GCM = "AES256-GCM"
)

// KeySize is the size of a codec key in bytes (AES-256).
const KeySize = 32

// EnvKeyFile names the environment variable holding the key file path(s).
const EnvKeyFile = "KEYROTOR_CODEC_KEY_FILE"

// maxKeyFileSize bounds how much of a key file is read: a key file holds at
// most a few dozen bytes, so anything larger is the wrong file.
const maxKeyFileSize = 4096

// ErrNoKey is returned by KeyringFromEnv when no key file is configured. It
// says how to make one because that is the only thing the user can do next.
var ErrNoKey = errors.New("codec: no payload encryption key configured: create one with " +
	"`head -c 32 /dev/urandom | base64 > keyrotor-codec.key` and set " +
	EnvKeyFile + " to its path (or codec.keyFile in the config)")

// ErrUnknownKey is wrapped by Decode errors for payloads encrypted with a key
// that is not in the keyring.
var ErrUnknownKey = errors.New("encryption key not in keyring")

// Keyring holds the codec keys, newest first. The newest encrypts; all
// decrypt. Only the ciphers are kept, never the raw key bytes, and the
// keyring prints as its key IDs only.
type Keyring struct {
	keys []keyEntry
}

type keyEntry struct {
	id   string
	aead cipher.AEAD
}

// NewKeyring builds a keyring from raw 32-byte keys, newest first.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: keyring needs at least one key")
	}
	k := &Keyring{}
	for i, key := range keys {
		if err := k.add(key); err != nil {
			return nil, fmt.Errorf("codec: key %d: %w", i+1, err)
		}
	}
	return k, nil
}

// add appends key as the oldest key of the keyring.
func (k *Keyring) add(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("is %d bytes, want %d", len(key), KeySize)
	}
	id := KeyID(key)
	if _, ok := k.lookup(id); ok {
		return fmt.Errorf("duplicates key %s", id)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	k.keys = append(k.keys, keyEntry{id: id, aead: aead})
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// KeyID returns the ID under which key is recorded in payload metadata:
// "k-" and the first 8 hex digits of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return "k-" + hex.EncodeToString(sum[:4])
}

// CurrentKeyID is the ID of the key that encrypts.
func (k *Keyring) CurrentKeyID() string {
	if k == nil || len(k.keys) == 0 {
		return ""
	}
	return k.keys[0].id
}

// KeyIDs lists the key IDs, newest first.
func (k *Keyring) KeyIDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

func (k *Keyring) lookup(id string) (cipher.AEAD, bool) {
	for _, e := range k.keys {
		if e.id == id {
			return e.aead, true
		}
	}
	return nil, false
}

// String lists the key IDs, newest first. The printing methods have value
// receivers so a copied Keyring prints safely too.
func (k Keyring) String() string {
	return "codec.Keyring[" + strings.Join(k.KeyIDs(), " ") + "]"
}

// GoString is String, so %#v shows no key material either.
func (k Keyring) GoString() string { return k.String() }

// Format makes every verb (including %d and %x, which would otherwise walk
// the struct down to the cipher's key schedule) print String.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue logs the key IDs only.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

var (
	_ fmt.Formatter  = Keyring{}
	_ fmt.GoStringer = Keyring{}
	_ slog.LogValuer = Keyring{}
)

// NewCodec returns a PayloadCodec that encrypts with the keyring's newest key
// and decrypts with any of its keys.
func NewCodec(k *Keyring) converter.PayloadCodec { return &payloadCodec{keys: k} }

// NewDataConverter wraps the SDK's default data converter with the
// encrypting codec. Clients and workers must all use it.
func NewDataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(k))
}

type payloadCodec struct {
	keys *Keyring
}

// Encode encrypts each payload whole (data and metadata), so not even the
// payload's original encoding or type is visible on the server.
func (c *payloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.keys == nil || len(c.keys.keys) == 0 {
		return nil, errors.New("codec: keyring has no keys")
	}
	current := c.keys.keys[0]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		enc, err := encrypt(current, p)
		if err != nil {
			return nil, err
		}
		out[i] = enc
	}
	return out, nil
}

func encrypt(key keyEntry, p *commonpb.Payload) (*commonpb.Payload, error) {
	if p == nil {
		return nil, nil
	}
	plaintext, err := proto.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("codec: marshal payload: %w", err)
	}
	// A fresh random nonce per payload: GCM is broken if a nonce ever
	// repeats under one key, and 96 random bits make that negligible for
	// any realistic number of payloads.
	nonce := make([]byte, key.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("codec: nonce: %w", err)
	}
	// The key ID is authenticated, so a ciphertext cannot be re-labelled
	// as belonging to another key.
	data := key.aead.Seal(nonce, nonce, plaintext, []byte(key.id))
	return &commonpb.Payload{
		Metadata: map[string][]byte{
			converter.MetadataEncoding: []byte(EncodingEncrypted),
			MetadataKeyID:              []byte(key.id),
			MetadataCipher:             []byte(CipherAES256GCM),
		},
		Data: data,
	}, nil
}

// Decode decrypts encrypted payloads and passes every other payload through
// unchanged, so history written before encryption was turned on (and
// anything the server itself wrote in clear) still decodes.
func (c *payloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !isEncrypted(p) {
			out[i] = p
			continue
		}
		dec, err := c.decrypt(p)
		if err != nil {
			return nil, err
		}
		out[i] = dec
	}
	return out, nil
}

func isEncrypted(p *commonpb.Payload) bool {
	return p != nil && string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

func (c *payloadCodec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	md := p.GetMetadata()
	id := string(md[MetadataKeyID])
	if cipherName := string(md[MetadataCipher]); cipherName != CipherAES256GCM {
		return nil, fmt.Errorf("codec: payload uses cipher %s, only %s is supported", quote(cipherName), CipherAES256GCM)
	}
	aead, ok := c.keys.lookup(id)
	if !ok {
		return nil, fmt.Errorf("codec: payload encrypted with key %s, keyring has %s: %w",
			quote(id), strings.Join(c.keys.KeyIDs(), ", "), ErrUnknownKey)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("codec: payload encrypted with key %s is truncated", quote(id))
	}
	nonce, ciphertext := data[:aead.NonceSize()], data[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("codec: payload encrypted with key %s failed authentication (corrupted or tampered)", quote(id))
	}
	var dec commonpb.Payload
	if err := proto.Unmarshal(plaintext, &dec); err != nil {
		return nil, fmt.Errorf("codec: decrypted payload is not a payload: %w", err)
	}
	return &dec, nil
}

// quote renders metadata read from history for an error message: it comes
// from outside, so it is quoted and cut short rather than trusted.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// LoadKeyring reads key files, newest first. Each holds 32 raw bytes, or
// base64 (standard or URL alphabet, padded or not, surrounding whitespace
// ignored) of 32 bytes. Errors name the file and what is wrong with it, never
// its content.
func LoadKeyring(paths []string) (*Keyring, error) {
	if len(paths) == 0 {
		return nil, ErrNoKey
	}
	k := &Keyring{}
	seen := map[string]string{} // key ID -> file
	for _, path := range paths {
		key, err := readKeyFile(path)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("codec key file %s: same key as %s", path, first)
		}
		seen[id] = path
		if err := k.add(key); err != nil {
			return nil, fmt.Errorf("codec key file %s: %w", path, err)
		}
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("codec key file: %w", err) // *PathError names the file
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("codec key file: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("codec key file %s: %w", path, err)
	}
	return key, nil
}

// parseKey accepts 32 raw bytes or base64 text of 32 bytes. Its errors
// describe the content's shape (sizes), never the content.
func parseKey(data []byte) ([]byte, error) {
	switch {
	case len(data) == 0:
		return nil, errors.New("is empty")
	case len(data) > maxKeyFileSize:
		return nil, fmt.Errorf("is larger than %d bytes; want 32 raw bytes or their base64", maxKeyFileSize)
	case len(data) == KeySize && !isText(data):
		// 32 random bytes are all printable with probability ~2^-43, so
		// text of length 32 is base64 (or a passphrase), not a raw key.
		return data, nil
	case !isText(data):
		return nil, fmt.Errorf("holds %d bytes of binary data; want 32 raw bytes or their base64", len(data))
	}
	text := strings.TrimSpace(string(data))
	key, ok := decodeBase64(text)
	if !ok {
		return nil, fmt.Errorf("is %d characters of text that is not valid base64; want 32 raw bytes or their base64", len(text))
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("base64 decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// isText reports whether data is printable ASCII or whitespace.
func isText(data []byte) bool {
	for _, b := range data {
		if (b < 0x20 || b > 0x7e) && b != '\n' && b != '\r' && b != '\t' {
			return false
		}
	}
	return true
}

// decodeBase64 tries each base64 flavour people commonly produce
// (`base64`, `openssl rand -base64`, URL-safe tools, padding stripped).
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// KeyringFromEnv loads the keyring from the files named by
// KEYROTOR_CODEC_KEY_FILE (several separated by the OS path-list separator,
// newest first), or failing that from configPaths. With neither it returns
// ErrNoKey. lookup is os.LookupEnv outside tests.
func KeyringFromEnv(lookup func(string) (string, bool), configPaths []string) (*Keyring, error) {
	if v, ok := lookup(EnvKeyFile); ok && strings.TrimSpace(v) != "" {
		paths := splitPathList(v)
		if len(paths) == 0 {
			return nil, fmt.Errorf("codec: %s names no file: %w", EnvKeyFile, ErrNoKey)
		}
		return LoadKeyring(paths)
	}
	if len(configPaths) == 0 {
		return nil, ErrNoKey
	}
	return LoadKeyring(configPaths)
}

// splitPathList splits a path list, dropping empty entries left by stray
// separators.
func splitPathList(v string) []string {
	var paths []string
	for _, p := range filepath.SplitList(v) {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// GenerateKeyFile writes a new random key, base64-encoded, to path with
// mode 0600. It refuses to overwrite an existing file: replacing a key would
// make all history encrypted with it unreadable.
func GenerateKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("codec: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("codec: create key file: %w", err) // *PathError names the file; wraps fs.ErrExist
	}
	_, werr := f.Write([]byte(base64.StdEncoding.EncodeToString(key) + "\n"))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		// Leave no half-written key behind for a later run to trust.
		_ = os.Remove(path)
		return fmt.Errorf("codec: write key file %s: %w", path, err)
	}
	return nil
}
