package codec

import (
	"crypto/rand"
	"fmt"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Seal encrypts a secret access key for its journey between activities,
// with the newest key. The additional data binds it to the access key ID
// (a sealed secret cannot be passed off as another key's) and separates it
// from payload encryption, which uses the same keys.
func (k *Keyring) Seal(accessKeyID string, s model.Secret) (model.SealedSecret, error) {
	if k == nil || len(k.keys) == 0 {
		return model.SealedSecret{}, ErrNoKey
	}
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return model.SealedSecret{}, fmt.Errorf("codec: nonce: %w", err)
	}
	data := key.aead.Seal(nonce, nonce, []byte(s.Reveal()), sealAAD(key.id, accessKeyID))
	return model.SealedSecret{KeyID: key.id, Data: data}, nil
}

// Open decrypts a secret sealed by Seal for the same access key ID.
func (k *Keyring) Open(accessKeyID string, s model.SealedSecret) (model.Secret, error) {
	aead, ok := k.lookup(s.KeyID)
	if !ok {
		return "", fmt.Errorf("codec: the secret of %s was sealed with key %q, which is not in the keyring (%s): %w", accessKeyID, s.KeyID, k, ErrUnknownKey)
	}
	if len(s.Data) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("codec: the sealed secret of %s is truncated", accessKeyID)
	}
	nonce, ciphertext := s.Data[:aead.NonceSize()], s.Data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ciphertext, sealAAD(s.KeyID, accessKeyID))
	if err != nil {
		return "", fmt.Errorf("codec: the sealed secret of %s does not open (wrong key, wrong access key ID, or tampered)", accessKeyID)
	}
	return model.Secret(plain), nil
}

func sealAAD(keyID, accessKeyID string) []byte {
	return []byte("keyrotor/sealed-secret\x00" + keyID + "\x00" + accessKeyID)
}
