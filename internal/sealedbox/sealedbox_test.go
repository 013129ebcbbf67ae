package sealedbox

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/box"
)

// The boxes are libsodium's: x/crypto opens what Seal seals, and Open
// opens what x/crypto seals, for messages of every length a key or token
// takes.
func TestInteroperatesWithNaclBox(t *testing.T) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	for _, msg := range [][]byte{nil, []byte("x"), []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), bytes.Repeat([]byte("v"), 4096)} {
		sealed := seal(t, msg, pub)
		if len(sealed) != len(msg)+Overhead || Overhead != box.AnonymousOverhead {
			t.Fatalf("sealed %d bytes into %d, want %d more", len(msg), len(sealed), box.AnonymousOverhead)
		}
		got, ok := box.OpenAnonymous(nil, sealed, pub, priv)
		if !ok || !bytes.Equal(got, msg) {
			t.Fatalf("x/crypto could not open a box of %d bytes sealed here", len(msg))
		}

		theirs, err := box.SealAnonymous(nil, msg, k.Public(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		got, ok = k.Open(theirs)
		if !ok || !bytes.Equal(got, msg) {
			t.Fatalf("could not open a box of %d bytes sealed by x/crypto", len(msg))
		}
	}
}

// Two seals of one message differ: each has its own ephemeral key, so no
// nonce is ever used twice with one shared key.
func TestSealsAreFresh(t *testing.T) {
	k := newKey(t)
	a := seal(t, []byte("same"), k.Public())
	b := seal(t, []byte("same"), k.Public())
	if bytes.Equal(a[:KeySize], b[:KeySize]) || bytes.Equal(a, b) {
		t.Fatal("two seals share an ephemeral key")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	sealed := seal(t, []byte("secret"), k.Public())
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	lowOrder := bytes.Clone(sealed)
	copy(lowOrder, make([]byte, KeySize)) // the point 0, of order 4
	for _, tc := range []struct {
		name   string
		opener *Key
		box    []byte
	}{
		{"another key's box", other, sealed},
		{"ephemeral key altered", k, flip(0)},
		{"authenticator altered", k, flip(KeySize)},
		{"ciphertext altered", k, flip(len(sealed) - 1)},
		{"too short", k, sealed[:Overhead-1]},
		{"empty", k, nil},
		{"low-order ephemeral key", k, lowOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := tc.opener.Open(tc.box); ok || got != nil {
				t.Fatalf("opened: %q", got)
			}
		})
	}
}

// A recipient key of low order would make the shared key a constant
// anyone can compute: Seal refuses it rather than seal for it.
func TestSealRefusesLowOrderRecipient(t *testing.T) {
	var zero [KeySize]byte
	_, err := Seal([]byte("secret"), &zero)
	if err == nil || !strings.Contains(err.Error(), "recipient key") {
		t.Fatalf("err = %v, want the recipient key refused", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	k := newKey(b)
	msg := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	b.Run("sealedbox", func(b *testing.B) {
		for b.Loop() {
			if _, err := Seal(msg, k.Public()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nacl-box", func(b *testing.B) {
		for b.Loop() {
			if _, err := box.SealAnonymous(nil, msg, k.Public(), rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	k := newKey(b)
	pub, priv := k.Public(), (*[KeySize]byte)(k.private.Bytes())
	sealed := seal(b, []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), pub)
	b.Run("sealedbox", func(b *testing.B) {
		for b.Loop() {
			if _, ok := k.Open(sealed); !ok {
				b.Fatal("not opened")
			}
		}
	})
	b.Run("nacl-box", func(b *testing.B) {
		for b.Loop() {
			if _, ok := box.OpenAnonymous(nil, sealed, pub, priv); !ok {
				b.Fatal("not opened")
			}
		}
	})
}

// newKey is a fresh key pair; tb fails if crypto/rand does.
func newKey(tb testing.TB) *Key {
	tb.Helper()
	k, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// seal is Seal; tb fails if it does.
func seal(tb testing.TB, msg []byte, recipient *[KeySize]byte) []byte {
	tb.Helper()
	sealed, err := Seal(msg, recipient)
	if err != nil {
		tb.Fatal(err)
	}
	return sealed
}
