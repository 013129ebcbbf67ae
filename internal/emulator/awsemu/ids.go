package awsemu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// ID prefixes as AWS uses them. The random parts are generated at run time:
// no key-like literal may appear in the repository (it is scanned for them).
const (
	accessKeyPrefix = "AKIA" // long-term user key
	tempKeyPrefix   = "ASIA" // temporary credentials from STS
	userIDPrefix    = "AIDA"
	roleIDPrefix    = "AROA"
)

// randomID returns n characters from [A-Z2-7] (crypto/rand.Text uses the
// base32 alphabet, as AWS key IDs do).
func randomID(n int) string {
	s := ""
	for len(s) < n {
		s += rand.Text()
	}
	return s[:n]
}

// randomSecret returns a 40-character secret in the standard base64 alphabet
// (so it contains '/' and '+' now and then, like real secrets).
func randomSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b) // never fails (Go ≥ 1.24)
	return base64.StdEncoding.EncodeToString(b)
}

// randomToken returns an opaque session token.
func randomToken() string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// requestID returns a UUID-shaped request ID.
func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomAlnum returns n characters from [A-Za-z0-9], as in the suffix of a
// secret's ARN.
func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
