// Package sealedbox seals and opens libsodium's sealed boxes
// (crypto_box_seal): the format GitHub takes secrets in, each sealed for a
// scope's curve25519 public key.
//
// The format is golang.org/x/crypto/nacl/box's SealAnonymous and
// OpenAnonymous, and the tests check each against the other. What differs
// is the cost: x/crypto computes every X25519 product through crypto/ecdh's
// NewPrivateKey, which also derives the private key's public key, a scalar
// multiplication whose result it drops. Its seal therefore does three
// multiplications where two are needed (the ephemeral key's public half,
// then the shared secret), and its open two where one is. A fleet seals a
// value for every GitHub target it pushes to, so that is a third of each
// push's CPU in the worker.
package sealedbox

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 HSalsa20 is part of crypto_box itself; x/crypto's nacl/box uses the same function
	"golang.org/x/crypto/salsa20/salsa"
)

// KeySize is the size of a curve25519 key, public or private.
const KeySize = 32

// Overhead is how much longer a sealed box is than its message: the
// ephemeral public key and the authenticator.
const Overhead = KeySize + secretbox.Overhead

// Seal encrypts message for the holder of recipient's private key, with a
// fresh ephemeral key pair from crypto/rand. A recipient key that is not a
// usable curve25519 point (one of low order) is an error.
func Seal(message []byte, recipient *[KeySize]byte) ([]byte, error) {
	peer, err := ecdh.X25519().NewPublicKey(recipient[:])
	if err != nil {
		return nil, fmt.Errorf("recipient key: %w", err)
	}
	ephemeral, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	key, err := boxKey(ephemeral, peer)
	if err != nil {
		return nil, errors.New("recipient key: not a usable curve25519 key")
	}
	var epk [KeySize]byte
	copy(epk[:], ephemeral.PublicKey().Bytes())
	nonce := sealNonce(&epk, recipient)
	out := make([]byte, 0, Overhead+len(message))
	out = append(out, epk[:]...)
	return secretbox.Seal(out, message, &nonce, &key), nil
}

// Key is a curve25519 key pair that opens the boxes sealed for its public
// half.
type Key struct {
	public  [KeySize]byte
	private *ecdh.PrivateKey
}

// GenerateKey makes a key pair from crypto/rand.
func GenerateKey() (*Key, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k := &Key{private: priv}
	copy(k.public[:], priv.PublicKey().Bytes())
	return k, nil
}

// Public returns the key's public half, the one boxes are sealed for.
func (k *Key) Public() *[KeySize]byte {
	pub := k.public
	return &pub
}

// Open authenticates and decrypts a box sealed for k. It reports false for
// anything else: a box too short, sealed for another key, or altered.
func (k *Key) Open(sealed []byte) ([]byte, bool) {
	if len(sealed) < Overhead {
		return nil, false
	}
	var epk [KeySize]byte
	copy(epk[:], sealed[:KeySize])
	peer, err := ecdh.X25519().NewPublicKey(epk[:])
	if err != nil {
		return nil, false
	}
	key, err := boxKey(k.private, peer)
	if err != nil {
		return nil, false
	}
	nonce := sealNonce(&epk, &k.public)
	return secretbox.Open(nil, sealed[KeySize:], &nonce, &key)
}

// boxKey is crypto_box's shared key: the X25519 product of the two keys
// (one multiplication; crypto/ecdh refuses a low-order peer, whose product
// is zero), hashed with HSalsa20 as box.Precompute does.
func boxKey(priv *ecdh.PrivateKey, peer *ecdh.PublicKey) ([KeySize]byte, error) {
	var key [KeySize]byte
	shared, err := priv.ECDH(peer)
	if err != nil {
		return key, err
	}
	var in [KeySize]byte
	copy(in[:], shared)
	var zeros [16]byte
	salsa.HSalsa20(&key, &zeros, &in, &salsa.Sigma)
	return key, nil
}

// sealNonce is crypto_box_seal's nonce: BLAKE2b-192 of the ephemeral
// public key, then the recipient's.
func sealNonce(ephemeral, recipient *[KeySize]byte) [24]byte {
	h, err := blake2b.New(24, nil)
	if err != nil {
		panic("sealedbox: blake2b-192: " + err.Error()) // only for a bad size or key
	}
	h.Write(ephemeral[:])
	h.Write(recipient[:])
	var nonce [24]byte
	h.Sum(nonce[:0])
	return nonce
}
