package activities

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/model"
)

// testKeys seal and open the secrets the activity tests pass around, as the
// worker's codec keys do.
var testKeys = func() *codec.Keyring {
	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	k, err := codec.NewKeyring(key)
	if err != nil {
		panic(err)
	}
	return k
}()

func testSealer() Sealer { return testKeys }

// mustSeal seals a key as the Create activity would.
func mustSeal(id, secret string) model.SealedAccessKey {
	s, err := testKeys.Seal(id, model.Secret(secret))
	if err != nil {
		panic(err)
	}
	return model.SealedAccessKey{ID: id, Secret: s}
}

func sealKey(k model.NewAccessKey) model.SealedAccessKey { return mustSeal(k.ID, k.Secret.Reveal()) }

func openTestKey(t *testing.T, k model.SealedAccessKey) model.NewAccessKey {
	t.Helper()
	s, err := testKeys.Open(k.ID, k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return model.NewAccessKey{ID: k.ID, Secret: s}
}

// A secret that does not open (another worker's key) fails for good, and
// says so without the secret.
func TestPushWithUnopenableKey(t *testing.T) {
	other, err := codec.NewKeyring(make([]byte, codec.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := other.Seal("AKIAI44QH8DHBEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	if err != nil {
		t.Fatal(err)
	}
	in := pushInputFor(model.Target{Kind: model.GitLabGroup, Group: "acme"}, model.SealedAccessKey{ID: "AKIAI44QH8DHBEXAMPLE", Secret: s})
	_, err = newGitLab(nil, nil, testSealer(), pushConfig(model.SecretNames{}, in.Target)).PushGitLabVariable(t.Context(), in)
	if err == nil {
		t.Fatal("pushed a secret it could not open")
	}
	if got := err.Error(); !strings.Contains(got, "not in the keyring") || strings.Contains(got, "wJalr") {
		t.Fatalf("error %q", got)
	}
}
