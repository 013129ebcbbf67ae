package awsemu

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// The AWS managed keys Parameter Store and Secrets Manager encrypt with
// when no key is named. They exist in every region of every account, and
// their key policies let every principal of the account that may use the
// service use them through it, so no kms: permission is needed for them.
const (
	ssmManagedAlias            = "alias/aws/ssm"
	secretsManagerManagedAlias = "alias/aws/secretsmanager"
)

// kmsKey is a KMS key: customer managed (AddKMSKey) or AWS managed.
type kmsKey struct {
	id, arn string
	managed bool
}

// regionKey is the map key of a regional resource.
func regionKey(region, name string) string { return region + "\x00" + name }

// AddKMSKey creates a customer managed KMS key in region, with the alias
// ("alias/ci-secrets") if one is given, and returns the key's ARN. Secrets
// and SecureString parameters encrypted with it need kms: permissions on
// that ARN (kms:Encrypt and kms:Decrypt for Parameter Store,
// kms:GenerateDataKey and kms:Decrypt for Secrets Manager), which the AWS
// managed keys do not. An alias that does not start with "alias/", or that
// starts with "alias/aws/", is a mistake in the test, and panics.
func (e *Emulator) AddKMSKey(region, alias string) string {
	if alias != "" && (!strings.HasPrefix(alias, "alias/") || strings.HasPrefix(alias, "alias/aws/")) {
		panic(fmt.Sprintf("awsemu: KMS alias %q must start with alias/ and not with alias/aws/", alias))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.newKMSKeyLocked(region, false)
	if alias != "" {
		e.kmsAliases[regionKey(region, alias)] = k
	}
	return k.arn
}

func (e *Emulator) newKMSKeyLocked(region string, managed bool) *kmsKey {
	id := uuid()
	k := &kmsKey{id: id, arn: e.kmsARN(region, "key/"+id), managed: managed}
	e.kmsKeys[regionKey(region, id)] = k
	return k
}

func (e *Emulator) kmsARN(region, resource string) string {
	return "arn:aws:kms:" + region + ":" + e.accountID + ":" + resource
}

// resolveKMSKey finds the key a KeyId names: a key ID, a key ARN, an alias
// name ("alias/...") or an alias ARN, in the request's region. The AWS
// managed aliases always resolve (their keys are made on first use).
func (e *Emulator) resolveKMSKey(region, keyID string) (*kmsKey, *apiError) {
	name := keyID
	if strings.HasPrefix(keyID, "arn:") {
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" || parts[3] != region || parts[4] != e.accountID {
			return nil, errKMSNotFound("Invalid keyId " + keyID)
		}
		name = parts[5]
	}
	if strings.HasPrefix(name, "alias/") {
		if k, ok := e.kmsAliases[regionKey(region, name)]; ok {
			return k, nil
		}
		if name == ssmManagedAlias || name == secretsManagerManagedAlias {
			k := e.newKMSKeyLocked(region, true)
			e.kmsAliases[regionKey(region, name)] = k
			return k, nil
		}
		return nil, errKMSNotFound("Alias " + e.kmsARN(region, name) + " is not found.")
	}
	id := strings.TrimPrefix(name, "key/")
	if k, ok := e.kmsKeys[regionKey(region, id)]; ok {
		return k, nil
	}
	return nil, errKMSNotFound("Key '" + e.kmsARN(region, "key/"+id) + "' does not exist")
}

// kmsUse authorizes the caller's use of a customer managed key (an AWS
// managed key needs no kms: permission) and answers as KMS would, for the
// calling service to wrap.
func kmsUse(p principal, k *kmsKey, action string) *apiError {
	if k.managed {
		return nil
	}
	return authorize(p, action, k.arn)
}

// errKMSNotFound is KMS's NotFoundException, as the calling services quote it.
func errKMSNotFound(msg string) *apiError {
	return errorf(http.StatusBadRequest, "NotFoundException", "%s", msg)
}

// kmsSuffix is how Parameter Store and Secrets Manager append a KMS error
// they pass on.
func kmsSuffix(code string) string {
	return " (Service: AWSKMS; Status Code: 400; Error Code: " + code + "; Request ID: " + requestID() + "; Proxy: null)"
}

// ciphertext stands for what KMS makes of a plaintext: opaque,
// base64, shaped like a KMS ciphertext blob and as long as one would be, but
// made of random bytes, so it says nothing about the plaintext.
func ciphertext(plaintextLen int) string {
	blob := make([]byte, 0, 160+plaintextLen)
	blob = append(blob, 0x01, 0x02, 0x02, 0x00, 0x78) // a KMS blob's version and header bytes: "AQICAH..."
	r := make([]byte, 150+plaintextLen)
	_, _ = rand.Read(r)
	blob = append(blob, r...)
	return base64.StdEncoding.EncodeToString(blob)
}

// uuid returns a random version-4 UUID.
func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
