package codec

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	testToken     = "codec-test-token-0123456789"
	uiOrigin      = "http://localhost:8233"
	testNamespace = "default"
)

type testServer struct {
	url   string
	codec converter.PayloadCodec // the worker's side: encrypts in process
}

func startServer(t *testing.T, opts ServerOptions) testServer {
	t.Helper()
	k := newKeyring(t, newKey(t))
	h, err := NewHTTPHandler(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return testServer{url: srv.URL, codec: NewCodec(k)}
}

func defaultOptions() ServerOptions {
	return ServerOptions{Token: testToken, AllowedOrigins: []string{uiOrigin}}
}

// setHeaders is a ModifyRequest for the SDK's remote codec client, which is
// how the CLI (--codec-auth, --codec-header) talks to a codec server.
func setHeaders(headers map[string]string) func(*http.Request) error {
	return func(r *http.Request) error {
		for name, value := range headers {
			r.Header.Set(name, value)
		}
		return nil
	}
}

func authHeaders(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token, "X-Namespace": testNamespace}
}

func remoteDataConverter(endpoint string, headers map[string]string) converter.DataConverter {
	return converter.NewRemoteDataConverter(converter.GetDefaultDataConverter(), converter.RemoteDataConverterOptions{
		Endpoint:      endpoint,
		ModifyRequest: setHeaders(headers),
	})
}

func remoteCodec(endpoint string, headers map[string]string) converter.PayloadCodec {
	return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint:      endpoint,
		ModifyRequest: setHeaders(headers),
	})
}

func TestServerDecodeRoundTrip(t *testing.T) {
	s := startServer(t, defaultOptions())
	want := plainKey{ID: "AKIAEXAMPLE", Secret: fakeSecret}
	worker := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), s.codec)
	encrypted, err := worker.ToPayload(want)
	if err != nil {
		t.Fatal(err)
	}

	// The server matches on the path suffix, so it can sit under a prefix.
	for _, endpoint := range []string{s.url, s.url + "/", s.url + "/codec"} {
		t.Run(endpoint, func(t *testing.T) {
			var got plainKey
			if err := remoteDataConverter(endpoint, authHeaders(testToken)).FromPayload(encrypted, &got); err != nil {
				t.Fatalf("remote decode: %v", err)
			}
			if got != want {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}

func TestServerEncodeRoundTrip(t *testing.T) {
	s := startServer(t, defaultOptions())
	in := toPayload(t, fakeSecret)
	remote := remoteCodec(s.url, authHeaders(testToken))
	enc, err := remote.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc[0].GetMetadata()[MetadataKeyID]) == "" {
		t.Fatal("remote encode did not encrypt")
	}
	dec, err := s.codec.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], in) {
		t.Error("remote encode, local decode changed the payload")
	}
}

func TestServerAuth(t *testing.T) {
	s := startServer(t, defaultOptions())
	encrypted := encodeOne(t, s.codec, toPayload(t, fakeSecret))
	tests := []struct {
		name    string
		headers map[string]string
		wantErr bool
	}{
		{"right token", authHeaders(testToken), false},
		{"lower-case scheme", map[string]string{"Authorization": "bearer " + testToken}, false},
		{"no token", map[string]string{"X-Namespace": testNamespace}, true},
		{"wrong token", authHeaders("not-" + testToken), true},
		{"token prefix", authHeaders(testToken[:len(testToken)-1]), true},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, true},
		{"basic scheme", map[string]string{"Authorization": "Basic " + testToken}, true},
		{"bare token", map[string]string{"Authorization": testToken}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := remoteCodec(s.url, tt.headers).Decode([]*commonpb.Payload{encrypted})
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if isEncrypted(out[0]) {
					t.Error("payload still encrypted")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), http.StatusText(http.StatusUnauthorized)) {
				t.Errorf("error %v, want 401", err)
			}
		})
	}
}

// do sends a raw request, for what the SDK client cannot express
// (preflights, other methods) and to inspect status and headers.
func do(t *testing.T, method, url string, headers map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range headers {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func TestServerStatusCodes(t *testing.T) {
	s := startServer(t, defaultOptions())
	auth := authHeaders(testToken)
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		body    string
		want    int
	}{
		{"decode", http.MethodPost, "/decode", auth, `{"payloads":[]}`, http.StatusOK},
		{"unauthorized", http.MethodPost, "/decode", nil, `{"payloads":[]}`, http.StatusUnauthorized},
		{"GET", http.MethodGet, "/decode", auth, "", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodPost, "/other", auth, `{"payloads":[]}`, http.StatusNotFound},
		{"bad body", http.MethodPost, "/decode", auth, "not json", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.method, s.url+tt.path, tt.headers, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestServerBodyLimit(t *testing.T) {
	opts := defaultOptions()
	opts.MaxBodyBytes = 64
	s := startServer(t, opts)
	body := `{"payloads":[{"data":"` + strings.Repeat("A", 200) + `"}]}`
	if resp := do(t, http.MethodPost, s.url+"/decode", authHeaders(testToken), body); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d for an oversized body, want 400", resp.StatusCode)
	}
}

func TestServerCORS(t *testing.T) {
	s := startServer(t, defaultOptions())
	preflight := func(origin string) map[string]string {
		return map[string]string{
			"Origin":                         origin,
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "content-type,x-namespace,authorization",
		}
	}
	tests := []struct {
		name       string
		method     string
		headers    map[string]string
		wantStatus int
		wantCORS   bool
	}{
		{"preflight allowed origin, no token", http.MethodOptions, preflight(uiOrigin), http.StatusNoContent, true},
		{"preflight other origin", http.MethodOptions, preflight("http://evil.example"), http.StatusNoContent, false},
		{"preflight origin prefix", http.MethodOptions, preflight(uiOrigin + ".evil.example"), http.StatusNoContent, false},
		{"POST allowed origin", http.MethodPost, map[string]string{"Origin": uiOrigin, "Authorization": "Bearer " + testToken}, http.StatusOK, true},
		// The UI must be able to read the 401 to show why decoding failed.
		{"POST allowed origin, no token", http.MethodPost, map[string]string{"Origin": uiOrigin}, http.StatusUnauthorized, true},
		{"POST other origin", http.MethodPost, map[string]string{"Origin": "http://evil.example", "Authorization": "Bearer " + testToken}, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.method, s.url+"/decode", tt.headers, `{"payloads":[]}`)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			h := resp.Header
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Error("no Vary: Origin")
			}
			if !tt.wantCORS {
				for name := range h {
					if strings.HasPrefix(name, "Access-Control-") {
						t.Errorf("disallowed origin got %s", name)
					}
				}
				return
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      uiOrigin,
				"Access-Control-Allow-Methods":     "POST",
				"Access-Control-Allow-Credentials": "true",
			}
			for name, value := range want {
				if got := h.Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, name := range []string{"content-type", "x-namespace", "authorization"} {
				if !strings.Contains(allowed, name) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, name)
				}
			}
		})
	}
}

func TestServerNamespaces(t *testing.T) {
	opts := defaultOptions()
	opts.Namespaces = []string{"rotation", "rotation-staging"}
	s := startServer(t, opts)
	tests := []struct {
		namespace string
		want      int
	}{
		{"rotation", http.StatusOK},
		{"rotation-staging", http.StatusOK},
		{"default", http.StatusForbidden},
		{"", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run("namespace "+tt.namespace, func(t *testing.T) {
			headers := map[string]string{"Authorization": "Bearer " + testToken}
			if tt.namespace != "" {
				headers["X-Namespace"] = tt.namespace
			}
			if resp := do(t, http.MethodPost, s.url+"/decode", headers, `{"payloads":[]}`); resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	// Authentication comes first: an unauthenticated caller learns nothing
	// about which namespaces are served.
	if resp := do(t, http.MethodPost, s.url+"/decode", map[string]string{"X-Namespace": "default"}, `{}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated, wrong namespace: status %d, want 401", resp.StatusCode)
	}
}

func TestNewHTTPHandlerRequiresToken(t *testing.T) {
	k := newKeyring(t, newKey(t))
	if _, err := NewHTTPHandler(k, ServerOptions{}); err == nil {
		t.Fatal("built a handler without a token")
	}
	if _, err := NewHTTPHandler(nil, ServerOptions{Token: testToken}); err == nil {
		t.Fatal("built a handler without keys")
	}

	h, err := NewHTTPHandler(k, ServerOptions{AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	encrypted := encodeOne(t, NewCodec(k), toPayload(t, "x"))
	if _, err := remoteCodec(srv.URL, nil).Decode([]*commonpb.Payload{encrypted}); err != nil {
		t.Errorf("unauthenticated server refused: %v", err)
	}
}

// The Web UI cannot send our bearer token, so the token may be the first
// path segment of the endpoint instead.
func TestServerTokenInPath(t *testing.T) {
	s := startServer(t, defaultOptions())
	encrypted := encodeOne(t, s.codec, toPayload(t, fakeSecret))
	ns := map[string]string{"X-Namespace": testNamespace}
	tests := []struct {
		name     string
		endpoint string
		wantErr  bool
	}{
		{"token as path", s.url + "/" + testToken, false},
		{"wrong token as path", s.url + "/not-" + testToken, true},
		{"token deeper in the path", s.url + "/x/" + testToken, true},
		{"no path", s.url, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := remoteCodec(tt.endpoint, ns).Decode([]*commonpb.Payload{encrypted})
			if tt.wantErr {
				if err == nil {
					t.Fatal("decoded without the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if isEncrypted(out[0]) {
				t.Error("payload still encrypted")
			}
		})
	}
}

// The token must survive as a URL path segment (the Web UI's only way to
// send it): a base64 token with '/' would split the path.
func TestCheckToken(t *testing.T) {
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"hex", "6f1c0a9e4b7d2c3e8f5a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e", true},
		{"url-safe base64", "q3-_Zx9k2LmN0pQrStUvWxYz01234567", true},
		{"unreserved punctuation", "a.b_c-d~e", true},
		{"base64 slash", "q3/Zx9k2LmN0pQrStUvWxYz01234567", false},
		{"base64 plus", "q3+Zx9k2LmN0pQrStUvWxYz01234567", false},
		{"base64 padding", "q3Zx9k2LmN0pQrStUvWxYz0123456==", false},
		{"space", "two words", false},
		{"percent", "a%2Fb", false},
		{"question mark", "a?b", false},
		{"non-ASCII", "tökén", false},
		{"dot-dot", "..", false},
		{"route name", "decode", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		err := CheckToken(model.Secret(tt.token))
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckToken = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token) {
			t.Errorf("%s: the error quotes the token: %v", tt.name, err)
		}
		_, herr := NewHTTPHandler(newKeyring(t, newKey(t)), ServerOptions{Token: model.Secret(tt.token)})
		if (herr == nil) != tt.ok {
			t.Errorf("%s: NewHTTPHandler = %v, want ok=%v", tt.name, herr, tt.ok)
		}
	}
}

func TestNewHTTPServerTimeouts(t *testing.T) {
	s := NewHTTPServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s unset", name)
		}
	}
	if s.Handler == nil {
		t.Error("no handler")
	}
}
