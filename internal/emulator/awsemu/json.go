package awsemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// jsonContentType is the content type of AWS JSON 1.1 requests and answers.
const jsonContentType = "application/x-amz-json-1.1"

// jsonActionFunc serves one JSON operation for an authenticated principal.
// It runs with e.mu held and authorizes the call itself, because the
// resource it is authorized on (a secret's ARN, with its random suffix) is
// known only once the input is read.
type jsonActionFunc func(e *Emulator, p principal, body []byte) (any, *apiError)

type jsonActionSpec struct {
	service service
	run     jsonActionFunc
}

// jsonActions are the operations of the JSON services, by X-Amz-Target.
var jsonActions = map[string]jsonActionSpec{
	"secretsmanager.CreateSecret":   {service: serviceSecretsManager, run: (*Emulator).createSecret},
	"secretsmanager.PutSecretValue": {service: serviceSecretsManager, run: (*Emulator).putSecretValue},
	"secretsmanager.GetSecretValue": {service: serviceSecretsManager, run: (*Emulator).getSecretValue},
	"secretsmanager.DescribeSecret": {service: serviceSecretsManager, run: (*Emulator).describeSecret},
	"AmazonSSM.PutParameter":        {service: serviceSSM, run: (*Emulator).putParameter},
	"AmazonSSM.GetParameter":        {service: serviceSSM, run: (*Emulator).getParameter},
}

// serveJSON authenticates and runs one JSON operation.
func (e *Emulator) serveJSON(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	spec, ok := jsonActions[info.target]
	if !ok {
		writeJSONError(w, errorf(http.StatusBadRequest, "UnknownOperationException", ""))
		return
	}
	if r.Method != http.MethodPost {
		writeJSONError(w, errorf(http.StatusBadRequest, "UnknownOperationException", ""))
		return
	}
	p, aerr := e.authenticate(r, info.body, spec.service)
	if aerr != nil {
		writeJSONError(w, aerr)
		return
	}
	e.mu.Lock()
	result, aerr := spec.run(e, p, info.body)
	e.mu.Unlock()
	if aerr != nil {
		writeJSONError(w, aerr)
		return
	}
	out, err := json.Marshal(result)
	if err != nil {
		writeJSONError(w, errorf(http.StatusInternalServerError, "InternalFailure", "encoding response of %s", info.target))
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// decodeJSON reads an operation's input. A body that is not JSON is what
// the services call a SerializationException.
func decodeJSON(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
	}
	return nil
}

// jsonErrorBody is the error document of the JSON protocols.
type jsonErrorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeJSONError answers an error the way the JSON services do: status 400
// for every fault of the caller's (authentication and authorization
// included), the code in __type.
func writeJSONError(w http.ResponseWriter, e *apiError) {
	code, status := jsonCode(e.code), e.status
	if status < 500 && status != http.StatusTooManyRequests {
		status = http.StatusBadRequest
	}
	out, _ := json.Marshal(jsonErrorBody{Type: code, Message: e.message})
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// jsonCode translates the Query protocol's codes of the shared
// authentication and authorization errors into the JSON services' own.
func jsonCode(code string) string {
	switch code {
	case "MissingAuthenticationToken":
		return "MissingAuthenticationTokenException"
	case "InvalidClientTokenId":
		return "UnrecognizedClientException"
	case "SignatureDoesNotMatch":
		return "InvalidSignatureException"
	case "IncompleteSignature":
		return "IncompleteSignatureException"
	case "ExpiredToken":
		return "ExpiredTokenException"
	case "AccessDenied":
		return "AccessDeniedException"
	case "ValidationError":
		return "ValidationException"
	}
	return code
}

// jsonFaultError is the error an injected status stands for in a JSON service.
func jsonFaultError(s service, status int) *apiError {
	switch status {
	case http.StatusTooManyRequests:
		return errorf(status, "ThrottlingException", "Rate exceeded")
	case http.StatusServiceUnavailable:
		return errorf(status, "ServiceUnavailableException", "Service is unavailable. Please try again later.")
	case http.StatusInternalServerError:
		if s == serviceSSM {
			return errorf(status, "InternalServerError", "An error occurred on the server side.")
		}
		return errorf(status, "InternalServiceError", "An error occurred on the server side.")
	case http.StatusForbidden:
		return errorf(status, "AccessDeniedException", "injected: access denied")
	case http.StatusNotFound:
		if s == serviceSSM {
			return errorf(status, "ParameterNotFound", "injected: not found")
		}
		return errorf(status, "ResourceNotFoundException", "injected: not found")
	}
	return faultError(status)
}

// epochTime is a timestamp as the JSON protocols write it: seconds since the
// epoch, with milliseconds.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

func epochOf(t time.Time) *epochTime {
	e := epochTime(t)
	return &e
}

// truncateDay is a date as Secrets Manager keeps LastAccessedDate: the day only.
func truncateDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
