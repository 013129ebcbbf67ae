package bitbucketemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/emulator/bitbucketemu"
)

const (
	token = "ATCTT3xFfGN0bq7Zk2Lw9RmVt4Hs8Pd"
	vars  = "/2.0/repositories/acme/api/pipelines_config/variables"
)

func setup(t *testing.T) (*bitbucketemu.Emulator, *httptest.Server) {
	t.Helper()
	emu := bitbucketemu.New(token)
	emu.AddRepository("acme/api")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, srv
}

// call sends a request with bearer (token when "") and decodes a JSON answer.
func call(t *testing.T, srv *httptest.Server, method, path, body, bearer string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer == "" {
		bearer = token
	}
	if bearer != "-" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object", method, path, raw)
		}
	}
	return resp, out
}

func errMessage(out map[string]any) string {
	if out["type"] != "error" {
		return ""
	}
	inner, _ := out["error"].(map[string]any)
	msg, _ := inner["message"].(string)
	return msg
}

func TestSecuredValueNeverReturned(t *testing.T) {
	_, srv := setup(t)
	resp, out := call(t, srv, "POST", vars, `{"key":"SECRET","value":"s3cr3t-value","secured":true}`, "")
	if resp.StatusCode != 201 || out["type"] != "pipeline_variable" || out["secured"] != true {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	if _, ok := out["value"]; ok {
		t.Fatal("create answered a secured value")
	}
	uuid := out["uuid"].(string)
	if !strings.HasPrefix(uuid, "{") || !strings.HasSuffix(uuid, "}") {
		t.Fatalf("uuid %q has no braces", uuid)
	}
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, vars+"/"+url.PathEscape(uuid)) {
		t.Errorf("Location = %q", loc)
	}
	_, one := call(t, srv, "GET", vars+"/"+url.PathEscape(uuid), "", "")
	_, list := call(t, srv, "GET", vars, "", "")
	values, _ := list["values"].([]any)
	if len(values) != 1 {
		t.Fatalf("list: %v", list)
	}
	for _, v := range []map[string]any{one, values[0].(map[string]any)} {
		if _, ok := v["value"]; ok || v["key"] != "SECRET" {
			t.Errorf("read %v", v)
		}
	}
	// An unsecured variable shows its value.
	_, plain := call(t, srv, "POST", vars, `{"key":"PLAIN","value":"shown","secured":false}`, "")
	if plain["value"] != "shown" {
		t.Errorf("unsecured: %v", plain)
	}
}

func TestUpdateRules(t *testing.T) {
	emu, srv := setup(t)
	a, _ := emu.SetRepositoryVariable("acme/api", "A", "1", true)
	if _, err := emu.SetRepositoryVariable("acme/api", "B", "2", true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body string
		want       int
	}{
		{"value only", `{"value":"new"}`, 200},
		{"rename to a free key", `{"key":"C"}`, 200},
		{"rename to a taken key", `{"key":"B"}`, 409},
		{"bad key", `{"key":"C-D"}`, 400},
		{"not JSON", `key=C`, 400},
	}
	for _, tt := range tests {
		resp, out := call(t, srv, "PUT", vars+"/"+url.PathEscape(a), tt.body, "")
		if resp.StatusCode != tt.want || (tt.want >= 400 && errMessage(out) == "") {
			t.Errorf("%s: %d %v, want %d", tt.name, resp.StatusCode, out, tt.want)
		}
	}
	if v, _ := emu.RepositoryVariable("acme/api", "C"); v.Value != "new" || v.UUID != a {
		t.Errorf("after updates: %+v", v)
	}
}

func TestPagination(t *testing.T) {
	emu, srv := setup(t)
	for _, k := range []string{"A", "B", "C", "D", "E"} {
		if _, err := emu.SetRepositoryVariable("acme/api", k, "v", false); err != nil {
			t.Fatal(err)
		}
	}
	_, first := call(t, srv, "GET", vars+"?pagelen=2", "", "")
	next, _ := first["next"].(string)
	if first["size"] != 5.0 || first["page"] != 1.0 || len(first["values"].([]any)) != 2 || !strings.HasPrefix(next, srv.URL+vars+"?") {
		t.Fatalf("first page: %v", first)
	}
	u, _ := url.Parse(next)
	_, second := call(t, srv, "GET", u.RequestURI(), "", "")
	if second["page"] != 2.0 || second["previous"] == nil || second["next"] == nil {
		t.Fatalf("second page: %v", second)
	}
	_, capped := call(t, srv, "GET", vars+"?pagelen=1000", "", "")
	if capped["pagelen"] != 100.0 || capped["next"] != nil {
		t.Fatalf("pagelen above the maximum: %v", capped)
	}
	_, def := call(t, srv, "GET", vars, "", "")
	if def["pagelen"] != 10.0 {
		t.Fatalf("default page: %v", def)
	}
}

func TestEnvironments(t *testing.T) {
	emu, srv := setup(t)
	_, out := call(t, srv, "GET", "/2.0/repositories/acme/api/environments", "", "")
	values, _ := out["values"].([]any)
	var names []string
	for _, v := range values {
		env := v.(map[string]any)
		names = append(names, env["name"].(string)+"/"+env["environment_type"].(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "Test/Test,Staging/Staging,Production/Production" {
		t.Fatalf("default environments: %v", names)
	}
	prod, _ := emu.Environment("acme/api", "Production")
	dv := "/2.0/repositories/acme/api/deployments_config/environments/" + url.PathEscape(prod) + "/variables"
	resp, created := call(t, srv, "POST", dv, `{"key":"K","value":"v","secured":true}`, "")
	if resp.StatusCode != 201 || created["type"] != "deployment_variable" {
		t.Fatalf("deployment variable: %d %v", resp.StatusCode, created)
	}
	// Deployment variables are read by listing only.
	if resp, _ := call(t, srv, "GET", dv+"/"+url.PathEscape(created["uuid"].(string)), "", ""); resp.StatusCode != 404 {
		t.Errorf("GET one deployment variable: %d", resp.StatusCode)
	}
}

func TestAuthAndScopes(t *testing.T) {
	emu, srv := setup(t)
	emu.AddToken("reader", bitbucketemu.ScopeRepository, bitbucketemu.ScopePipeline)
	emu.AddToken("writer", bitbucketemu.ScopePipelineWrite)
	tests := []struct {
		name, bearer, path string
		want               int
	}{
		{"no token", "-", vars, 401},
		{"unknown token", "nope", vars, 401},
		{"pipeline read cannot see variables", "reader", vars, 403},
		{"pipeline:write cannot see variables", "writer", vars, 403},
		{"pipeline read lists environments", "reader", "/2.0/repositories/acme/api/environments", 200},
		{"pipeline:variable implies pipeline", "", "/2.0/repositories/acme/api/environments", 200},
		{"unknown repository", "", "/2.0/repositories/acme/nope/pipelines_config/variables", 404},
	}
	for _, tt := range tests {
		resp, out := call(t, srv, "GET", tt.path, "", tt.bearer)
		if resp.StatusCode != tt.want || (tt.want >= 400 && errMessage(out) == "") {
			t.Errorf("%s: %d %v, want %d", tt.name, resp.StatusCode, out, tt.want)
		}
		if resp.StatusCode == 403 {
			detail, _ := out["error"].(map[string]any)["detail"].(map[string]any)
			if detail["required"] == nil || detail["granted"] == nil {
				t.Errorf("%s: 403 without granted/required scopes: %v", tt.name, out)
			}
		}
	}
}

func TestRateLimitRule(t *testing.T) {
	emu, srv := setup(t)
	emu.Faults.Add(bitbucketemu.RateLimit("GET ", 1))
	resp, out := call(t, srv, "GET", vars, "", "")
	if resp.StatusCode != 429 || errMessage(out) != bitbucketemu.RateLimitMessage ||
		resp.Header.Get("X-RateLimit-Limit") == "" || resp.Header.Get("X-RateLimit-NearLimit") != "true" || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("429: %v %v", resp.Header, out)
	}
	if resp, _ := call(t, srv, "GET", vars, "", ""); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Resource") != "api" {
		t.Fatalf("after the fault: %d %v", resp.StatusCode, resp.Header)
	}
}
