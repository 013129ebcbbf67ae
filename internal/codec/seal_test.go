package codec

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/model"
)

func TestSealOpen(t *testing.T) {
	oldKey, newKeyBytes := newKey(t), newKey(t)
	old := newKeyring(t, oldKey)
	both := newKeyring(t, newKeyBytes, oldKey)
	const id = "AKIAI44QH8DHBEXAMPLE"
	sealedByOld, err := old.Seal(id, fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ring    *Keyring
		id      string
		sealed  func() model.SealedSecret
		wantErr string
	}{
		{"round trip", both, id, func() model.SealedSecret { s, _ := both.Seal(id, fakeSecret); return s }, ""},
		{"older key still opens", both, id, func() model.SealedSecret { return sealedByOld }, ""},
		{"other access key ID", both, "AKIAIOSFODNN7EXAMPLE", func() model.SealedSecret { return sealedByOld }, "does not open"},
		{"unknown key", newKeyring(t, newKey(t)), id, func() model.SealedSecret { return sealedByOld }, "not in the keyring"},
		{"tampered", both, id, func() model.SealedSecret {
			s := sealedByOld
			s.Data = append([]byte(nil), s.Data...)
			s.Data[len(s.Data)-1] ^= 1
			return s
		}, "does not open"},
		{"truncated", both, id, func() model.SealedSecret { return model.SealedSecret{KeyID: sealedByOld.KeyID, Data: []byte{1}} }, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Open(tt.id, tt.sealed())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), fakeSecret) {
					t.Fatal("the error holds the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != fakeSecret {
				t.Fatal("wrong secret")
			}
		})
	}
}

// What travels in a payload holds no form of the secret.
func TestSealedJSONHoldsNoSecret(t *testing.T) {
	k := newKeyring(t, newKey(t))
	s, err := k.Seal("AKIAI44QH8DHBEXAMPLE", fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(model.SealedAccessKey{ID: "AKIAI44QH8DHBEXAMPLE", Secret: s})
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{fakeSecret, base64.StdEncoding.EncodeToString([]byte(fakeSecret))} {
		if strings.Contains(string(b), form) {
			t.Fatalf("sealed JSON %s holds the secret", b)
		}
	}
	// And a plain Secret marshals redacted.
	b, _ = json.Marshal(model.NewAccessKey{ID: "x", Secret: fakeSecret})
	if strings.Contains(string(b), fakeSecret) {
		t.Fatalf("Secret.MarshalJSON leaks: %s", b)
	}
}
