package awsemu

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"time"
)

// XML namespaces of the two Query APIs.
const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// isoTime formats a timestamp the way IAM and STS do.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// apiError is an AWS error answer: HTTP status, error code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// The errors the emulator answers with, with the status codes AWS uses.
func errNoSuchUser(name string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchEntity", "The user with name %s cannot be found.", name)
}

func errNoSuchKey(id string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchEntity", "The Access Key with id %s cannot be found.", id)
}

func errValidation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

func errInvalidToken() *apiError {
	return errorf(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
}

func errSignature(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, "SignatureDoesNotMatch", format, args...)
}

func errAccessDenied(principalARN, action, resource string) *apiError {
	return errorf(http.StatusForbidden, "AccessDenied",
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		principalARN, action, resource, action)
}

// errorType is "Sender" for the caller's mistakes and "Receiver" for AWS's.
func errorType(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorXML `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type errorXML struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// errorBody renders an ErrorResponse document.
func errorBody(ns, reqID string, e *apiError) []byte {
	doc := errorResponse{Xmlns: ns, RequestID: reqID, Error: errorXML{Type: errorType(e.status), Code: e.code, Message: e.message}}
	out, _ := xml.Marshal(doc)
	return append([]byte(xml.Header), out...)
}

func writeError(w http.ResponseWriter, ns, reqID string, e *apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(errorBody(ns, reqID, e))
}

// writeResult renders <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…
// result may be nil for actions that return nothing (UpdateAccessKey, DeleteAccessKey).
func writeResult(w http.ResponseWriter, ns, action, reqID string, result any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}}
	err := enc.EncodeToken(root)
	if err == nil && result != nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		writeError(w, ns, reqID, errorf(http.StatusInternalServerError, "ServiceFailure", "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// --- IAM result shapes ---

type accessKeyMetadataXML struct {
	UserName    string `xml:"UserName"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type listAccessKeysResult struct {
	AccessKeyMetadata []accessKeyMetadataXML `xml:"AccessKeyMetadata>member"`
	IsTruncated       bool                   `xml:"IsTruncated"`
}

type createAccessKeyResult struct {
	AccessKey accessKeyXML `xml:"AccessKey"`
}

type accessKeyXML struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate"`
}

type getAccessKeyLastUsedResult struct {
	UserName          string            `xml:"UserName"`
	AccessKeyLastUsed accessKeyLastUsed `xml:"AccessKeyLastUsed"`
}

type accessKeyLastUsed struct {
	LastUsedDate string `xml:"LastUsedDate,omitempty"`
	ServiceName  string `xml:"ServiceName"`
	Region       string `xml:"Region"`
}

type listUsersResult struct {
	Users       []userXML `xml:"Users>member"`
	IsTruncated bool      `xml:"IsTruncated"`
	Marker      string    `xml:"Marker,omitempty"`
}

type getUserResult struct {
	User userXML `xml:"User"`
}

type userXML struct {
	Path       string      `xml:"Path"`
	UserName   string      `xml:"UserName"`
	UserID     string      `xml:"UserId"`
	Arn        string      `xml:"Arn"`
	CreateDate string      `xml:"CreateDate"`
	Tags       []iamTagXML `xml:"Tags>member,omitempty"`
}

type iamTagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func tagXML(t tag) iamTagXML { return iamTagXML{Key: t.key, Value: t.value} }

type listUserTagsResult struct {
	Tags        []iamTagXML `xml:"Tags>member"`
	IsTruncated bool        `xml:"IsTruncated"`
	Marker      string      `xml:"Marker,omitempty"`
}

// --- STS result shapes ---

type getAccessKeyInfoResult struct {
	Account string `xml:"Account"`
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type assumeRoleResult struct {
	Credentials     credentialsXML     `xml:"Credentials"`
	AssumedRoleUser assumedRoleUserXML `xml:"AssumedRoleUser"`
}

type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUserXML struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type simulatePolicyResult struct {
	EvaluationResults []evaluationResultXML `xml:"EvaluationResults>member"`
	IsTruncated       bool                  `xml:"IsTruncated"`
}

type evaluationResultXML struct {
	EvalActionName   string `xml:"EvalActionName"`
	EvalResourceName string `xml:"EvalResourceName"`
	EvalDecision     string `xml:"EvalDecision"`
}
