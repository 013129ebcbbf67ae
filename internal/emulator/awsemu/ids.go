package awsemu

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
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

// Access key IDs carry the ID of the account that owns them, as AWS's have
// since 2019: the 16 characters after the prefix are 10 bytes in base32, and
// bits 46 to 7 of the first 6 bytes (big-endian) are the account ID. That is
// what GetAccessKeyInfo answers from, so it works for a key of any account,
// including keys of another Emulator (WithAccountID) and keys made up with
// KeyIDInAccount. The other bits are random.
const (
	keyIDAccountShift = 7
	keyIDAccountMask  = uint64(1)<<40 - 1
)

// keyID returns prefix + 16 characters encoding accountID (12 digits).
func keyID(prefix, accountID string) string {
	acct, err := strconv.ParseUint(accountID, 10, 64)
	if err != nil || acct > keyIDAccountMask {
		panic("awsemu: account ID " + accountID + " is not 12 digits")
	}
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	v := head48(b)&(1<<keyIDAccountShift-1) | acct<<keyIDAccountShift // bit 47 stays 0
	var head [8]byte
	binary.BigEndian.PutUint64(head[:], v)
	copy(b[:6], head[2:])
	return prefix + base32.StdEncoding.EncodeToString(b)
}

// head48 reads the first 6 bytes of b as a big-endian number.
func head48(b []byte) uint64 {
	var head [8]byte
	copy(head[2:], b[:6])
	return binary.BigEndian.Uint64(head[:])
}

// accountOfKeyID decodes the account ID from a key ID made by keyID (or by
// AWS); ok is false when the ID is not prefix + 16 base32 characters.
func accountOfKeyID(id string) (accountID string, ok bool) {
	if len(id) != 20 {
		return "", false
	}
	b, err := base32.StdEncoding.DecodeString(id[4:])
	if err != nil || len(b) != 10 {
		return "", false
	}
	return fmt.Sprintf("%012d", head48(b)>>keyIDAccountShift&keyIDAccountMask), true
}

// KeyIDInAccount returns a new long-term access key ID (AKIA…) that
// GetAccessKeyInfo attributes to accountID: a key "of another account" for
// tests, without an Emulator for that account. No key is created.
func KeyIDInAccount(accountID string) string { return keyID(accessKeyPrefix, accountID) }

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
