package awsemu

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Parameter types and tiers.
const (
	paramString       = "String"
	paramStringList   = "StringList"
	paramSecureString = "SecureString"

	tierStandard    = "Standard"
	tierAdvanced    = "Advanced"
	tierIntelligent = "Intelligent-Tiering"
)

// Parameter Store's limits, as its documentation states them.
const (
	maxStandardValue   = 4096 // characters of a Standard parameter's value
	maxAdvancedValue   = 8192
	maxParamARN        = 1011 // characters of a parameter's ARN
	maxParamLevels     = 15
	maxParamVersions   = 100
	defaultParamDataTy = "text"
)

// parameterNameRE is what a parameter's name may be made of.
var parameterNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

// errParamNameMsg is Parameter Store's answer to a malformed name (it does
// speak of prefixes whatever the fault).
const errParamNameMsg = `Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`

// parameter is one Parameter Store parameter with its versions. Values are
// held in the clear (the emulator stands for KMS too); they never appear in
// an error message.
type parameter struct {
	name     string // as created
	tier     string
	versions []*paramVersion // ascending
}

type paramVersion struct {
	version     int64
	typ         string
	value       string // plaintext
	ciphertext  string // what a SecureString reads as without decryption
	keyID       string // the KMS key as the caller named it (SecureString only)
	key         *kmsKey
	dataType    string
	description string
	modified    time.Time
}

func (p *parameter) latest() *paramVersion { return p.versions[len(p.versions)-1] }

// parameterKey is the map key of a parameter name: "/TestParam1" and
// "TestParam1" are one parameter.
func parameterKey(name string) string {
	if strings.HasPrefix(name, "/") && strings.Count(name, "/") == 1 {
		return name[1:]
	}
	return name
}

func (e *Emulator) parameterARN(region, name string) string {
	return "arn:aws:ssm:" + region + ":" + e.accountID + ":parameter/" + strings.TrimPrefix(name, "/")
}

// --- wire shapes ---

type putParameterInput struct {
	Name        string
	Value       *string
	Type        *string
	KeyId       *string
	Overwrite   *bool
	Description *string
	Tier        *string
	DataType    *string
	Tags        []smTag
}

type putParameterOutput struct {
	Version int64
	Tier    string
}

type getParameterInput struct {
	Name           string
	WithDecryption *bool
}

type getParameterOutput struct {
	Parameter parameterJSON
}

type parameterJSON struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	Selector         string `json:",omitempty"`
	LastModifiedDate *epochTime
	ARN              string
	DataType         string
}

// --- errors, with Parameter Store's codes and messages ---

func errParamValidation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

// errParamNotFound is ParameterNotFound. Parameter Store sends it with an
// empty message, so callers must name the parameter themselves.
func errParamNotFound() *apiError {
	return errorf(http.StatusBadRequest, "ParameterNotFound", "")
}

// checkParameterName applies Parameter Store's naming rules. Names given
// to PutParameter are also checked for the reserved prefixes "aws" and
// "ssm", which GetParameter may read (AWS's public parameters live there).
func (e *Emulator) checkParameterName(region, name string, put bool) *apiError {
	if name == "" {
		return errParamValidation("1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	path := strings.HasPrefix(name, "/")
	if !parameterNameRE.MatchString(name) || (!path && strings.Contains(name, "/")) ||
		strings.Contains(name, "//") || strings.HasSuffix(name, "/") {
		return errParamValidation("%s", errParamNameMsg)
	}
	segments := strings.Split(strings.TrimPrefix(name, "/"), "/")
	if len(segments) > maxParamLevels {
		return errorf(http.StatusBadRequest, "HierarchyLevelLimitExceededException",
			"A hierarchy can have a maximum of %d levels.", maxParamLevels)
	}
	if len(e.parameterARN(region, name)) > maxParamARN {
		return errParamValidation("Parameter name: the length of the parameter name, including the full parameter ARN, can't exceed %d characters.", maxParamARN)
	}
	if !put {
		return nil
	}
	first := strings.ToLower(segments[0])
	switch {
	case !path && (strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")):
		return errParamValidation(`Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`)
	case path && strings.HasPrefix(first, "aws"):
		return errorf(http.StatusBadRequest, "AccessDeniedException", "No access to reserved parameter name: %s.", name)
	case path && strings.HasPrefix(first, "ssm"):
		return errParamValidation("%s", errParamNameMsg)
	}
	return nil
}

// paramRef is what GetParameter's Name names: a parameter (by name or ARN)
// and an optional ":version" or ":label" selector.
type paramRef struct {
	name     string
	selector string // with its colon, as answered; "" for none
	foreign  string // an ARN of another region or account: authorized on, never found
}

func (e *Emulator) parseParamRef(region, ref string) paramRef {
	ref = strings.TrimSpace(ref)
	var r paramRef
	if strings.HasPrefix(ref, "arn:") {
		parts := strings.SplitN(ref, ":", 6)
		rest, ok := "", false
		if len(parts) == 6 {
			rest, ok = strings.CutPrefix(parts[5], "parameter/")
		}
		if !ok || parts[2] != "ssm" || parts[3] != region || parts[4] != e.accountID {
			r.foreign = ref
			return r
		}
		ref = "/" + rest
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 {
		ref, r.selector = ref[:i], ref[i:]
	}
	r.name = ref
	return r
}

// --- operations (e.mu held) ---

func (e *Emulator) putParameter(p principal, body []byte) (any, *apiError) {
	var in putParameterInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	name := strings.TrimSpace(in.Name)
	if strings.HasPrefix(name, "arn:") {
		return nil, errParamValidation("%s", errParamNameMsg) // PutParameter takes a name, never an ARN
	}
	if aerr := e.checkParameterName(p.region, name, true); aerr != nil {
		return nil, aerr
	}
	if aerr := authorize(p, "ssm:PutParameter", e.parameterARN(p.region, name)); aerr != nil {
		return nil, aerr
	}
	overwrite := in.Overwrite != nil && *in.Overwrite
	if overwrite && len(in.Tags) > 0 {
		return nil, errParamValidation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if in.Value == nil {
		return nil, errParamValidation("1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	existing := e.parameters[regionKey(p.region, parameterKey(name))]
	typ := ""
	if in.Type != nil {
		typ = *in.Type
	}
	switch typ {
	case paramString, paramStringList, paramSecureString:
	case "":
		if existing == nil {
			return nil, errParamValidation("A parameter type is required when you create a parameter.")
		}
		typ = existing.latest().typ
	default:
		return nil, errParamValidation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", typ)
	}
	if in.KeyId != nil && typ != paramSecureString {
		return nil, errParamValidation("KeyId is required for SecureString type parameter only.")
	}
	tier, aerr := parameterTier(in.Tier, existing, len(*in.Value))
	if aerr != nil {
		return nil, aerr
	}
	if existing != nil && !overwrite {
		return nil, errorf(http.StatusBadRequest, "ParameterAlreadyExists",
			"The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	v := &paramVersion{typ: typ, value: *in.Value, dataType: defaultParamDataTy}
	if in.DataType != nil && *in.DataType != "" {
		v.dataType = *in.DataType
	}
	if in.Description != nil {
		v.description = *in.Description
	}
	if typ == paramSecureString {
		v.keyID = ssmManagedAlias
		if in.KeyId != nil {
			v.keyID = *in.KeyId
		}
		k, aerr := e.resolveKMSKey(p.region, v.keyID)
		if aerr != nil {
			return nil, errorf(http.StatusBadRequest, "InvalidKeyId", "%s%s", aerr.message, kmsSuffix(aerr.code))
		}
		if aerr := kmsUse(p, k, "kms:Encrypt"); aerr != nil {
			return nil, errorf(http.StatusBadRequest, "AccessDeniedException", "%s%s", aerr.message, kmsSuffix("AccessDeniedException"))
		}
		v.key, v.ciphertext = k, ciphertext(len(v.value))
	}
	stored := e.storeParameterLocked(p.region, name, tier, v)
	return putParameterOutput{Version: stored.version, Tier: tier}, nil
}

// parameterTier is the tier a put leaves the parameter in, checking the
// value's length against it. An advanced parameter stays advanced.
func parameterTier(requested *string, existing *parameter, valueLen int) (string, *apiError) {
	tier := tierStandard
	if existing != nil {
		tier = existing.tier
	}
	if requested != nil && *requested != "" {
		switch *requested {
		case tierStandard:
			if tier == tierAdvanced {
				return "", errParamValidation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
			}
		case tierAdvanced:
			tier = tierAdvanced
		case tierIntelligent:
			if valueLen > maxStandardValue {
				tier = tierAdvanced
			}
		default:
			return "", errParamValidation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]", *requested)
		}
	}
	switch {
	case valueLen > maxAdvancedValue:
		return "", errParamValidation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to %d", maxAdvancedValue)
	case tier == tierStandard && valueLen > maxStandardValue:
		return "", errParamValidation("Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html", maxStandardValue)
	}
	return tier, nil
}

// storeParameterLocked adds v as the parameter's next version, creating the
// parameter if needed, and keeps at most the last 100 versions.
func (e *Emulator) storeParameterLocked(region, name, tier string, v *paramVersion) *paramVersion {
	key := regionKey(region, parameterKey(name))
	p, ok := e.parameters[key]
	if !ok {
		p = &parameter{name: name}
		e.parameters[key] = p
	}
	p.tier = tier
	v.version = 1
	if len(p.versions) > 0 {
		v.version = p.latest().version + 1
	}
	v.modified = e.now().UTC()
	p.versions = append(p.versions, v)
	if len(p.versions) > maxParamVersions {
		p.versions = p.versions[len(p.versions)-maxParamVersions:]
	}
	return v
}

func (e *Emulator) getParameter(p principal, body []byte) (any, *apiError) {
	var in getParameterInput
	if aerr := decodeJSON(body, &in); aerr != nil {
		return nil, aerr
	}
	ref := e.parseParamRef(p.region, in.Name)
	if ref.foreign != "" {
		if aerr := authorize(p, "ssm:GetParameter", ref.foreign); aerr != nil {
			return nil, aerr
		}
		return nil, errParamNotFound()
	}
	if aerr := e.checkParameterName(p.region, ref.name, false); aerr != nil {
		return nil, aerr
	}
	if aerr := authorize(p, "ssm:GetParameter", e.parameterARN(p.region, ref.name)); aerr != nil {
		return nil, aerr
	}
	param, ok := e.parameters[regionKey(p.region, parameterKey(ref.name))]
	if !ok {
		return nil, errParamNotFound()
	}
	v, aerr := selectParamVersion(param, ref.selector)
	if aerr != nil {
		return nil, aerr
	}
	value := v.value
	if v.typ == paramSecureString {
		value = v.ciphertext
		if in.WithDecryption != nil && *in.WithDecryption {
			if aerr := kmsUse(p, v.key, "kms:Decrypt"); aerr != nil {
				return nil, errorf(http.StatusBadRequest, "AccessDeniedException", "%s%s", aerr.message, kmsSuffix("AccessDeniedException"))
			}
			value = v.value
		}
	}
	return getParameterOutput{Parameter: parameterJSON{
		Name: param.name, Type: v.typ, Value: value, Version: v.version, Selector: ref.selector,
		LastModifiedDate: epochOf(v.modified), ARN: e.parameterARN(p.region, param.name), DataType: v.dataType,
	}}, nil
}

// selectParamVersion picks the version a ":N" selector names (the latest
// without one). Labels are not modelled: a label selector finds nothing.
func selectParamVersion(p *parameter, selector string) (*paramVersion, *apiError) {
	if selector == "" {
		return p.latest(), nil
	}
	sel := strings.TrimPrefix(selector, ":")
	n, err := strconv.ParseInt(sel, 10, 64)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "ParameterVersionNotFound",
			"Systems Manager could not find label %s of %s. Verify the label and try again.", sel, p.name)
	}
	for _, v := range p.versions {
		if v.version == n {
			return v, nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "ParameterVersionNotFound",
		"Systems Manager could not find version %d of %s. Verify the version and try again.", n, p.name)
}

// --- seeding and inspection ---

// ParameterState is the emulator's view of a parameter's latest version, for assertions.
type ParameterState struct {
	Name, ARN    string
	Type         string       // String, StringList or SecureString
	Value        model.Secret // the plaintext, SecureString or not
	Version      int64
	KeyID        string // SecureString: the KMS key as the writer named it ("alias/aws/ssm" by default)
	Tier         string
	LastModified time.Time
}

// PutParameter seeds a parameter in region, as PutParameter with Overwrite
// would: a new version of typ (a SecureString with the AWS managed key). It
// returns the new version.
func (e *Emulator) PutParameter(region, name, typ, value string) (int64, error) {
	switch typ {
	case paramString, paramStringList, paramSecureString:
	default:
		return 0, fmt.Errorf("awsemu: parameter type %q is not String, StringList or SecureString", typ)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if aerr := e.checkParameterName(region, name, true); aerr != nil {
		return 0, fmt.Errorf("awsemu: parameter name %q: %s", name, aerr.message)
	}
	existing := e.parameters[regionKey(region, parameterKey(name))]
	tier, aerr := parameterTier(nil, existing, len(value))
	if aerr != nil {
		return 0, fmt.Errorf("awsemu: parameter %s: %s", name, aerr.message)
	}
	v := &paramVersion{typ: typ, value: value, dataType: defaultParamDataTy}
	if typ == paramSecureString {
		k, _ := e.resolveKMSKey(region, ssmManagedAlias) // always resolves
		v.keyID, v.key, v.ciphertext = ssmManagedAlias, k, ciphertext(len(value))
	}
	return e.storeParameterLocked(region, name, tier, v).version, nil
}

// Parameter returns the latest version of a parameter ("/ci/key", or
// "name" and "/name" alike for a top-level one).
func (e *Emulator) Parameter(region, name string) (ParameterState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.parameters[regionKey(region, parameterKey(name))]
	if !ok {
		return ParameterState{}, false
	}
	v := p.latest()
	return ParameterState{
		Name: p.name, ARN: e.parameterARN(region, p.name), Type: v.typ, Value: model.Secret(v.value),
		Version: v.version, KeyID: v.keyID, Tier: p.tier, LastModified: v.modified,
	}, true
}
