package travisemu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/emulator/travisemu"
)

const token = "Tq8vNz3KwL5pXr7YcB2mHf9D"

func setup(t *testing.T) (*travisemu.Emulator, *httptest.Server, int) {
	t.Helper()
	emu := travisemu.New(token)
	id := emu.AddRepository("acme/api")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, srv, id
}

// call sends a v3 request; headers override the defaults (version 3,
// "token <token>"); a header set to "" is removed.
func call(t *testing.T, srv *httptest.Server, method, path, body string, headers map[string]string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Travis-API-Version", "3")
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, string(raw), out
}

func TestOptIn(t *testing.T) {
	_, srv, id := setup(t)
	tests := []struct {
		name, path string
		headers    map[string]string
		want       int
		href       string
	}{
		{"header", "/repo/acme%2Fapi/env_vars", nil, 200, fmt.Sprintf("/repo/%d/env_vars", id)},
		{"no header: the legacy API", "/repo/acme%2Fapi/env_vars", map[string]string{"Travis-API-Version": ""}, 404, ""},
		{"version 2", "/repo/acme%2Fapi/env_vars", map[string]string{"Travis-API-Version": "2"}, 404, ""},
		{"accept", "/repo/acme%2Fapi/env_vars", map[string]string{"Travis-API-Version": "", "Accept": "application/vnd.travis-ci.3+json"}, 200, ""},
		{"prefix", "/v3/repo/acme%2Fapi/env_vars", map[string]string{"Travis-API-Version": ""}, 200, fmt.Sprintf("/v3/repo/%d/env_vars", id)},
		{"numeric ID", fmt.Sprintf("/repo/%d/env_vars", id), nil, 200, ""},
		{"slug not escaped", "/repo/acme/api/env_vars", nil, 404, ""},
	}
	for _, tt := range tests {
		status, raw, out := call(t, srv, "GET", tt.path, "", tt.headers)
		if status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, status, raw, tt.want)
			continue
		}
		if tt.href != "" && out["@href"] != tt.href {
			t.Errorf("%s: @href %v, want %s", tt.name, out["@href"], tt.href)
		}
		if tt.name == "no header: the legacy API" && raw != "file not found" {
			t.Errorf("legacy answer %q", raw)
		}
	}
}

func TestAuth(t *testing.T) {
	emu, srv, _ := setup(t)
	emu.AddToken("reader", travisemu.ReadOnly)
	tests := []struct {
		name, method, path, auth, body string
		want                           int
		errType                        string
	}{
		{"no token", "GET", "/repo/acme%2Fapi/env_vars", "", "", 403, "login_required"},
		{"unknown token", "GET", "/repo/acme%2Fapi/env_vars", "token nope", "", 403, "wrong_credentials"},
		{"unknown token, unknown repository", "GET", "/repo/acme%2Fnope/env_vars", "token nope", "", 403, "wrong_credentials"},
		{"bearer is not Travis's scheme", "GET", "/repo/acme%2Fapi/env_vars", "Bearer " + token, "", 403, "wrong_credentials"},
		{"quoted token", "GET", "/repo/acme%2Fapi/env_vars", `token "` + token + `"`, "", 200, ""},
		{"reader lists", "GET", "/repo/acme%2Fapi/env_vars", "token reader", "", 200, ""},
		{"reader cannot create", "POST", "/repo/acme%2Fapi/env_vars", "token reader", `{"env_var.name":"X","env_var.value":"v"}`, 403, "insufficient_access"},
	}
	for _, tt := range tests {
		status, raw, out := call(t, srv, tt.method, tt.path, tt.body, map[string]string{"Authorization": tt.auth})
		if status != tt.want || (tt.errType != "" && (out["@type"] != "error" || out["error_type"] != tt.errType)) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, raw, tt.want, tt.errType)
		}
	}
}

func TestCreateRules(t *testing.T) {
	emu, srv, _ := setup(t)
	tests := []struct {
		name, body string
		want       int
		errType    string
	}{
		{"flat params", `{"env_var.name":"SECRET","env_var.value":"s3cr3t","env_var.public":false}`, 201, ""},
		{"nested params", `{"env_var":{"name":"PUBLIC","value":"shown","public":true}}`, 201, ""},
		{"same name", `{"env_var.name":"SECRET","env_var.value":"other"}`, 409, "duplicate_resource"},
		{"same name, another branch", `{"env_var.name":"SECRET","env_var.value":"other","env_var.branch":"main"}`, 201, ""},
		{"no name", `{"env_var.value":"v"}`, 422, "unprocessable_entity"},
		{"not JSON", `env_var.name=X`, 400, "wrong_params"},
	}
	for _, tt := range tests {
		status, raw, out := call(t, srv, "POST", "/repo/acme%2Fapi/env_vars", tt.body, nil)
		if status != tt.want || (tt.errType != "" && out["error_type"] != tt.errType) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, raw, tt.want, tt.errType)
		}
	}

	// A private value is left out of every answer; a public one is shown.
	_, _, list := call(t, srv, "GET", "/repo/acme%2Fapi/env_vars", "", nil)
	for _, v := range list["env_vars"].([]any) {
		ev := v.(map[string]any)
		_, shown := ev["value"]
		if shown != (ev["public"] == true) {
			t.Errorf("%v: value shown %v", ev, shown)
		}
	}
	v, _ := emu.EnvVar("acme/api", "SECRET")
	status, _, one := call(t, srv, "GET", "/repo/acme%2Fapi/env_var/"+v.ID, "", nil)
	if _, shown := one["value"]; status != 200 || shown || one["@type"] != "env_var" {
		t.Errorf("GET one: %d %v", status, one)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	emu, srv, _ := setup(t)
	emu.AddToken("reader", travisemu.ReadOnly)
	id, _ := emu.SetEnvVar("acme/api", travisemu.EnvVar{Name: "SECRET", Value: "old"})
	path := "/repo/acme%2Fapi/env_var/" + id
	if status, raw, _ := call(t, srv, "PATCH", path, `{"env_var.value":"new"}`, map[string]string{"Authorization": "token reader"}); status != 403 ||
		!strings.Contains(raw, "operation requires write access to env_var") {
		t.Errorf("reader PATCH: %d %s", status, raw)
	}
	if status, _, out := call(t, srv, "PATCH", path, `{"env_var.value":"new"}`, nil); status != 200 || out["name"] != "SECRET" {
		t.Errorf("PATCH: %d %v", status, out)
	}
	if v, _ := emu.EnvVar("acme/api", "SECRET"); v.Value != "new" {
		t.Errorf("value %q", v.Value)
	}
	if status, _, _ := call(t, srv, "PATCH", "/repo/acme%2Fapi/env_var/nope", `{"env_var.value":"x"}`, nil); status != 404 {
		t.Errorf("PATCH unknown: %d", status)
	}
	if status, _, _ := call(t, srv, "DELETE", path, "", nil); status != 204 {
		t.Errorf("DELETE: %d", status)
	}
	if status, _, out := call(t, srv, "GET", path, "", nil); status != 404 || out["resource_type"] != "env_var" {
		t.Errorf("GET deleted: %d %v", status, out)
	}
}
