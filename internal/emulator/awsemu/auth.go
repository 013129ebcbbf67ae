package awsemu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	keyID         string
	date          string // yyyymmdd from the credential scope
	region        string
	service       string
	signedHeaders string // "host;x-amz-date;..."
	signature     string // hex
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (authHeader, *apiError) {
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return authHeader{}, errorf(http.StatusBadRequest, "IncompleteSignature", "Unsupported authorization type")
	}
	var a authHeader
	for part := range strings.SplitSeq(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "Credential":
			scope := strings.Split(value, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return authHeader{}, errorf(http.StatusBadRequest, "IncompleteSignature", "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", value)
			}
			a.keyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.signedHeaders = value
		case "Signature":
			a.signature = value
		}
	}
	if a.keyID == "" || a.signedHeaders == "" || a.signature == "" {
		return authHeader{}, errorf(http.StatusBadRequest, "IncompleteSignature", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	return a, nil
}

// signingTime reads X-Amz-Date, which the SDK always sends and signs.
func signingTime(r *http.Request, a authHeader) (time.Time, *apiError) {
	t, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if t.Format("20060102") != a.date {
		return time.Time{}, errSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.date, t.Format("20060102"))
	}
	return t, nil
}

// payloadHash is what the client hashed: X-Amz-Content-Sha256 when sent
// (checked against the body), else the SHA-256 of the body.
func payloadHash(r *http.Request, body []byte) (string, *apiError) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch claimed {
	case "":
		return actual, nil
	case "UNSIGNED-PAYLOAD":
		return claimed, nil
	case actual:
		return actual, nil
	}
	return "", errorf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
}

// verifySignature recomputes the request's signature with the stored
// credentials, using the SDK's own SigV4 signer on a copy of the request that
// carries only the headers the client signed, and compares it with the one
// the client sent.
func verifySignature(r *http.Request, body []byte, a authHeader, creds aws.Credentials) *apiError {
	at, aerr := signingTime(r, a)
	if aerr != nil {
		return aerr
	}
	hash, aerr := payloadHash(r, body)
	if aerr != nil {
		return aerr
	}
	replay := signedCopy(r, a.signedHeaders)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, replay, hash, a.service, a.region, at); err != nil {
		return errSignature("cannot recompute signature: %v", err)
	}
	want, err := parseAuthorization(replay.Header.Get("Authorization"))
	if err != nil {
		return errSignature("cannot recompute signature")
	}
	if want.signedHeaders != a.signedHeaders || !hmac.Equal([]byte(want.signature), []byte(a.signature)) {
		return errSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// signedCopy rebuilds the request as the client signed it: method, URI,
// host, the signed headers with their received values, and Content-Length
// only when it was signed. X-Amz-Date and X-Amz-Security-Token are set by the
// signer itself from the signing time and the stored credentials.
func signedCopy(r *http.Request, signedHeaders string) *http.Request {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	replay := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for name := range strings.SplitSeq(signedHeaders, ";") {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
			continue
		case "content-length":
			replay.ContentLength = r.ContentLength
			continue
		}
		for _, v := range r.Header.Values(name) {
			replay.Header.Add(name, v)
		}
	}
	return replay
}
