package awsemu

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The staging labels Secrets Manager moves by itself.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// Secrets Manager's limits, as its API reference states them.
const (
	maxSecretValue     = 65536 // bytes of SecretString or SecretBinary
	minRequestToken    = 32
	maxRequestToken    = 64
	maxSecretVersions  = 100 // versions without a staging label beyond these are dropped
	maxSecretNameChars = 512
)

// secretNameRE is what a secret's name may be made of.
var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)

// secret is one Secrets Manager secret. Values are held in the clear (the
// emulator stands for KMS too); they never appear in an error message.
type secret struct {
	name, arn            string
	description          string
	kmsKeyID             string // as the caller named it; "" for the AWS managed key
	tags                 []smTag
	created, lastChanged time.Time
	lastAccessed         *time.Time       // the day only, as Secrets Manager keeps it
	versions             []*secretVersion // creation order
}

type secretVersion struct {
	id      string
	value   secretValue
	stages  []string
	created time.Time
}

// secretValue is a version's SecretString or SecretBinary (exactly one is set).
type secretValue struct {
	str    *string
	binary []byte
}

func (v secretValue) equal(o secretValue) bool {
	if (v.str == nil) != (o.str == nil) {
		return false
	}
	if v.str != nil {
		return *v.str == *o.str
	}
	return bytes.Equal(v.binary, o.binary)
}

func (v secretValue) size() int {
	if v.str != nil {
		return len(*v.str)
	}
	return len(v.binary)
}

func (s *secret) version(id string) *secretVersion {
	for _, v := range s.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

// holder is the version a staging label is attached to (nil if none).
func (s *secret) holder(stage string) *secretVersion {
	for _, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// attach moves the staging labels to v. Moving AWSCURRENT away from a
// version gives that version AWSPREVIOUS, as Secrets Manager does.
func (s *secret) attach(v *secretVersion, stages []string) {
	for _, stage := range stages {
		old := s.holder(stage)
		if old == v {
			continue
		}
		if old != nil {
			old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == stage })
			if stage == stageCurrent {
				if prev := s.holder(stagePrevious); prev != nil {
					prev.stages = slices.DeleteFunc(prev.stages, func(x string) bool { return x == stagePrevious })
				}
				old.stages = append(old.stages, stagePrevious)
			}
		}
		v.stages = append(v.stages, stage)
	}
}

// prune drops the oldest versions without a staging label beyond the quota.
func (s *secret) prune() {
	for len(s.versions) > maxSecretVersions {
		i := slices.IndexFunc(s.versions, func(v *secretVersion) bool { return len(v.stages) == 0 })
		if i < 0 {
			return
		}
		s.versions = slices.Delete(s.versions, i, i+1)
	}
}

// --- wire shapes ---

type smTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type createSecretInput struct {
	Name               string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretString       *string
	SecretBinary       []byte
	Tags               []smTag
}

type createSecretOutput struct {
	ARN       string
	Name      string
	VersionId string `json:",omitempty"`
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken *string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    *string
	VersionStage *string
}

type getSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"`
	VersionStages []string
	CreatedDate   *epochTime
}

type describeSecretInput struct {
	SecretId string
}

type describeSecretOutput struct {
	ARN                string
	Name               string
	Description        string              `json:",omitempty"`
	KmsKeyId           string              `json:",omitempty"`
	RotationEnabled    bool                `json:",omitempty"`
	LastChangedDate    *epochTime          `json:",omitempty"`
	LastAccessedDate   *epochTime          `json:",omitempty"`
	CreatedDate        *epochTime          `json:",omitempty"`
	Tags               []smTag             `json:",omitempty"`
	VersionIdsToStages map[string][]string `json:",omitempty"`
}

// --- errors, with Secrets Manager's codes and messages ---

func errSecretNotFound() *apiError {
	return errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func errSecretValidation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

// errKMSDenied is what Secrets Manager answers when the caller may not use
// the secret's KMS key.
func errKMSDenied() *apiError {
	return errorf(http.StatusBadRequest, "AccessDeniedException", "Access to KMS is not allowed")
}

// --- lookups (e.mu held) ---

func (e *Emulator) secretARNPrefix(region string) string {
	return "arn:aws:secretsmanager:" + region + ":" + e.accountID + ":secret:"
}

// findSecretLocked resolves a SecretId (a name, an ARN, or an ARN without
// its random suffix) in region. It also returns the resource the call is
// authorized on: the secret's ARN, or for an unknown secret the ARN that
// SecretId names.
func (e *Emulator) findSecretLocked(region, secretID string) (*secret, string) {
	if !strings.HasPrefix(secretID, "arn:") {
		if s, ok := e.secrets[regionKey(region, secretID)]; ok {
			return s, s.arn
		}
		return nil, e.secretARNPrefix(region) + secretID
	}
	name, ok := strings.CutPrefix(secretID, e.secretARNPrefix(region))
	if !ok {
		return nil, secretID // another region or account: not here
	}
	if s, ok := e.secrets[regionKey(region, name)]; ok { // a partial ARN
		return s, s.arn
	}
	for _, s := range e.secrets {
		if s.arn == secretID {
			return s, s.arn
		}
	}
	return nil, secretID
}

func validateSecretName(name string) *apiError {
	if name == "" || len(name) > maxSecretNameChars || !secretNameRE.MatchString(name) {
		return errSecretValidation("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	return nil
}

// secretValueOf checks that exactly one of SecretString and SecretBinary is
// given (neither is allowed when optional is set) and within the quota.
func secretValueOf(str *string, binary []byte, optional bool) (secretValue, bool, *apiError) {
	v := secretValue{str: str, binary: binary}
	switch {
	case str != nil && binary != nil:
		return v, false, errorf(http.StatusBadRequest, "InvalidParameterException",
			"You can't specify both a binary secret value and a string secret value in the same secret.")
	case str == nil && binary == nil:
		if optional {
			return v, false, nil
		}
		return v, false, errorf(http.StatusBadRequest, "InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	case v.size() > maxSecretValue:
		return v, false, errSecretValidation("1 validation error detected: Value at 'secret' failed to satisfy constraint: Member must have length less than or equal to %d", maxSecretValue)
	}
	return v, true, nil
}

// requestToken checks ClientRequestToken, or makes one as the SDKs do.
func requestToken(token *string) (string, *apiError) {
	if token == nil {
		return uuid(), nil
	}
	switch n := len(*token); {
	case n < minRequestToken:
		return "", errSecretValidation("1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to %d", minRequestToken)
	case n > maxRequestToken:
		return "", errSecretValidation("1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to %d", maxRequestToken)
	}
	return *token, nil
}

// storeSecretValueLocked adds a version with the given ID (the request
// token) and moves the staging labels to it. A version with that ID and the
// same value is the earlier answer to a retried request, and is returned as
// it is; with another value the request fails, as versions are immutable.
// p is nil when the emulator is seeded: no KMS permission is checked then.
func (e *Emulator) storeSecretValueLocked(p *principal, region string, s *secret, id string, v secretValue, stages []string) (*secretVersion, *apiError) {
	if old := s.version(id); old != nil {
		if old.value.equal(v) {
			return old, nil
		}
		return nil, errorf(http.StatusBadRequest, "ResourceExistsException", "A resource with the ID you requested already exists.")
	}
	keyID := s.kmsKeyID
	if keyID == "" {
		keyID = secretsManagerManagedAlias
	}
	k, aerr := e.resolveKMSKey(region, keyID)
	if aerr != nil {
		return nil, errorf(http.StatusBadRequest, "EncryptionFailure", "Secrets Manager can't encrypt the secret value: %s%s", aerr.message, kmsSuffix(aerr.code))
	}
	if p != nil && kmsUse(*p, k, "kms:GenerateDataKey") != nil {
		return nil, errKMSDenied()
	}
	now := e.now().UTC()
	ver := &secretVersion{id: id, value: v, created: now}
	s.versions = append(s.versions, ver)
	s.attach(ver, stages)
	s.lastChanged = now
	s.prune()
	return ver, nil
}

// newSecretLocked makes a secret, with the random six-character suffix AWS
// gives its ARN.
func (e *Emulator) newSecretLocked(region, name string) *secret {
	now := e.now().UTC()
	return &secret{name: name, arn: e.secretARNPrefix(region) + name + "-" + randomAlnum(6), created: now, lastChanged: now}
}

// --- operations (e.mu held) ---

func (e *Emulator) createSecret(p principal, body []byte) (any, *apiError) {
	var in createSecretInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := validateSecretName(in.Name); aerr != nil {
		return nil, aerr
	}
	value, hasValue, aerr := secretValueOf(in.SecretString, in.SecretBinary, true)
	if aerr != nil {
		return nil, aerr
	}
	token, aerr := requestToken(in.ClientRequestToken)
	if aerr != nil {
		return nil, aerr
	}
	existing, _ := e.findSecretLocked(p.region, in.Name)
	s := existing
	if s == nil {
		s = e.newSecretLocked(p.region, in.Name)
	}
	if aerr := authorize(p, "secretsmanager:CreateSecret", s.arn); aerr != nil {
		return nil, aerr
	}
	if existing != nil {
		// A retried CreateSecret (same token, same value) succeeds again.
		if v := existing.version(token); v != nil && hasValue && v.value.equal(value) {
			return createSecretOutput{ARN: existing.arn, Name: existing.name, VersionId: v.id}, nil
		}
		return nil, errorf(http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	if in.Description != nil {
		s.description = *in.Description
	}
	if in.KmsKeyId != nil {
		s.kmsKeyID = *in.KmsKeyId
	}
	s.tags = in.Tags
	out := createSecretOutput{ARN: s.arn, Name: s.name}
	if hasValue {
		v, aerr := e.storeSecretValueLocked(&p, p.region, s, token, value, []string{stageCurrent})
		if aerr != nil {
			return nil, aerr
		}
		out.VersionId = v.id
	}
	e.secrets[regionKey(p.region, s.name)] = s
	return out, nil
}

func (e *Emulator) putSecretValue(p principal, body []byte) (any, *apiError) {
	var in putSecretValueInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	s, resource := e.findSecretLocked(p.region, in.SecretId)
	if aerr := authorize(p, "secretsmanager:PutSecretValue", resource); aerr != nil {
		return nil, aerr
	}
	if s == nil {
		return nil, errSecretNotFound()
	}
	value, _, aerr := secretValueOf(in.SecretString, in.SecretBinary, false)
	if aerr != nil {
		return nil, aerr
	}
	token, aerr := requestToken(in.ClientRequestToken)
	if aerr != nil {
		return nil, aerr
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	v, aerr := e.storeSecretValueLocked(&p, p.region, s, token, value, stages)
	if aerr != nil {
		return nil, aerr
	}
	return putSecretValueOutput{ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: slices.Clone(v.stages)}, nil
}

func (e *Emulator) getSecretValue(p principal, body []byte) (any, *apiError) {
	var in getSecretValueInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	s, resource := e.findSecretLocked(p.region, in.SecretId)
	if aerr := authorize(p, "secretsmanager:GetSecretValue", resource); aerr != nil {
		return nil, aerr
	}
	if s == nil {
		return nil, errSecretNotFound()
	}
	v, aerr := selectSecretVersion(s, in.VersionId, in.VersionStage)
	if aerr != nil {
		return nil, aerr
	}
	keyID := s.kmsKeyID
	if keyID == "" {
		keyID = secretsManagerManagedAlias
	}
	k, aerr := e.resolveKMSKey(p.region, keyID)
	if aerr != nil {
		return nil, errorf(http.StatusBadRequest, "DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
	}
	if kmsUse(p, k, "kms:Decrypt") != nil {
		return nil, errKMSDenied()
	}
	day := truncateDay(e.now())
	s.lastAccessed = &day
	return getSecretValueOutput{
		ARN: s.arn, Name: s.name, VersionId: v.id,
		SecretString: v.value.str, SecretBinary: v.value.binary,
		VersionStages: slices.Clone(v.stages), CreatedDate: epochOf(v.created),
	}, nil
}

// selectSecretVersion picks the version GetSecretValue asks for: by ID, by
// staging label, or both (they must agree); AWSCURRENT by default.
func selectSecretVersion(s *secret, id, stage *string) (*secretVersion, *apiError) {
	if id == nil && stage == nil {
		def := stageCurrent
		stage = &def
	}
	var v *secretVersion
	if id != nil {
		if v = s.version(*id); v == nil {
			return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", *id)
		}
	}
	if stage != nil {
		held := s.holder(*stage)
		if held == nil || (v != nil && held != v) {
			return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", *stage)
		}
		v = held
	}
	return v, nil
}

func (e *Emulator) describeSecret(p principal, body []byte) (any, *apiError) {
	var in describeSecretInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	s, resource := e.findSecretLocked(p.region, in.SecretId)
	if aerr := authorize(p, "secretsmanager:DescribeSecret", resource); aerr != nil {
		return nil, aerr
	}
	if s == nil {
		return nil, errSecretNotFound()
	}
	out := describeSecretOutput{
		ARN: s.arn, Name: s.name, Description: s.description, KmsKeyId: s.kmsKeyID, Tags: s.tags,
		LastChangedDate: epochOf(s.lastChanged), CreatedDate: epochOf(s.created),
	}
	if s.lastAccessed != nil {
		out.LastAccessedDate = epochOf(*s.lastAccessed)
	}
	for _, v := range s.versions {
		if len(v.stages) == 0 {
			continue // deprecated versions are not listed
		}
		if out.VersionIdsToStages == nil {
			out.VersionIdsToStages = map[string][]string{}
		}
		out.VersionIdsToStages[v.id] = slices.Clone(v.stages)
	}
	return out, nil
}

// --- seeding and inspection ---

// SecretVersion is the emulator's view of one version of a secret, for assertions.
type SecretVersion struct {
	ID        string
	Stages    []string     // staging labels: AWSCURRENT, AWSPREVIOUS, ...
	Value     model.Secret // the SecretString (or the SecretBinary's bytes)
	CreatedAt time.Time
}

// PutSecret seeds a secret in region: it creates it (encrypted with the AWS
// managed key) if it does not exist, then stores value as a new AWSCURRENT
// version, as PutSecretValue would. It returns the secret's ARN.
func (e *Emulator) PutSecret(region, name, value string) (string, error) {
	if aerr := validateSecretName(name); aerr != nil {
		return "", fmt.Errorf("awsemu: secret name %q: %s", name, aerr.message)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.secrets[regionKey(region, name)]
	if !ok {
		s = e.newSecretLocked(region, name)
		e.secrets[regionKey(region, name)] = s
	}
	if _, aerr := e.storeSecretValueLocked(nil, region, s, uuid(), secretValue{str: &value}, []string{stageCurrent}); aerr != nil {
		return "", fmt.Errorf("awsemu: secret %s: %s", name, aerr.code)
	}
	return s.arn, nil
}

// SecretARN returns the ARN of a secret, with its random suffix ("" when unknown).
func (e *Emulator) SecretARN(region, name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.secrets[regionKey(region, name)]; ok {
		return s.arn
	}
	return ""
}

// SecretValue returns the AWSCURRENT value of a secret; false when the
// secret does not exist or has no current version.
func (e *Emulator) SecretValue(region, name string) (model.Secret, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.secrets[regionKey(region, name)]
	if !ok {
		return "", false
	}
	v := s.holder(stageCurrent)
	if v == nil {
		return "", false
	}
	return v.value.secret(), true
}

// SecretVersions returns the versions of a secret in creation order (nil
// for an unknown secret).
func (e *Emulator) SecretVersions(region, name string) []SecretVersion {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.secrets[regionKey(region, name)]
	if !ok {
		return nil
	}
	out := make([]SecretVersion, 0, len(s.versions))
	for _, v := range s.versions {
		out = append(out, SecretVersion{ID: v.id, Stages: slices.Clone(v.stages), Value: v.value.secret(), CreatedAt: v.created})
	}
	return out
}

func (v secretValue) secret() model.Secret {
	if v.str != nil {
		return model.Secret(*v.str)
	}
	return model.Secret(v.binary)
}
