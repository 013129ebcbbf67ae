package circleciemu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyrotor/keyrotor/internal/emulator/circleciemu"
)

const token = "CCIPAT_Qm7TzR2vLx9KpW4nHs6Yb3Jd"

func setup(t *testing.T) (*circleciemu.Emulator, *httptest.Server, string) {
	t.Helper()
	emu := circleciemu.New(token)
	emu.AddProject("gh/acme/api")
	ctxID := emu.AddContext("aws")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, srv, ctxID
}

// call sends a request with the token (unless auth is set) and decodes the JSON answer.
func call(t *testing.T, srv *httptest.Server, method, path, body string, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	} else {
		req.Header.Set("Circle-Token", token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object", method, path, raw)
	}
	return resp.StatusCode, out
}

func TestSlugForms(t *testing.T) {
	emu, srv, _ := setup(t)
	for i, path := range []string{
		"/api/v2/project/gh/acme/api/envvar",
		"/api/v2/project/gh%2Facme%2Fapi/envvar",
		"/api/v2/project/github/acme/api/envvar",
	} {
		status, out := call(t, srv, "POST", path, fmt.Sprintf(`{"name":"V%d","value":"secret-value-%d"}`, i, i), nil)
		if status != 201 || out["value"] != fmt.Sprintf("xxxxue-%d", i) || out["name"] != fmt.Sprintf("V%d", i) {
			t.Errorf("%s: %d %v", path, status, out)
		}
	}
	if v, ok := emu.ProjectEnvVar("gh/acme/api", "V2"); !ok || v.Value != "secret-value-2" {
		t.Errorf("V2 = %+v, %v", v, ok)
	}
}

func TestAuth(t *testing.T) {
	_, srv, _ := setup(t)
	tests := []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong token", func(r *http.Request) { r.Header.Set("Circle-Token", "nope") }, 401},
		{"basic with the token as user", func(r *http.Request) { r.SetBasicAuth(token, "") }, 200},
	}
	for _, tt := range tests {
		status, out := call(t, srv, "GET", "/api/v2/project/gh/acme/api/envvar", "", tt.auth)
		if status != tt.want || (status == 401 && out["message"] != "You must log in first.") {
			t.Errorf("%s: %d %v", tt.name, status, out)
		}
	}
}

func TestValidation(t *testing.T) {
	_, srv, ctxID := setup(t)
	long := strings.Repeat("A", 301)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"leading underscore", "POST", "/api/v2/project/gh/acme/api/envvar", `{"name":"_OK","value":"v"}`, 201},
		{"empty value", "POST", "/api/v2/project/gh/acme/api/envvar", `{"name":"EMPTY","value":""}`, 201},
		{"leading digit", "POST", "/api/v2/project/gh/acme/api/envvar", `{"name":"1BAD","value":"v"}`, 400},
		{"space", "POST", "/api/v2/project/gh/acme/api/envvar", `{"name":"BAD NAME","value":"v"}`, 400},
		{"no value", "POST", "/api/v2/project/gh/acme/api/envvar", `{"name":"NOVALUE"}`, 400},
		{"not JSON", "POST", "/api/v2/project/gh/acme/api/envvar", `name=X`, 400},
		{"name too long", "PUT", "/api/v2/context/" + ctxID + "/environment-variable/" + long, `{"value":"v"}`, 400},
		{"value too long", "PUT", "/api/v2/context/" + ctxID + "/environment-variable/BIG", `{"value":"` + strings.Repeat("x", 32*1024+1) + `"}`, 400},
		{"bad page token", "GET", "/api/v2/project/gh/acme/api/envvar?page-token=forged", "", 400},
	}
	for _, tt := range tests {
		status, out := call(t, srv, tt.method, tt.path, tt.body, nil)
		if status != tt.want || (status == 400 && out["message"] == "") {
			t.Errorf("%s: %d %v, want %d", tt.name, status, out, tt.want)
		}
	}
}

func TestContextAnswers(t *testing.T) {
	emu, srv, ctxID := setup(t)
	status, out := call(t, srv, "PUT", "/api/v2/context/"+ctxID+"/environment-variable/AWS_SECRET_ACCESS_KEY", `{"value":"s3cr3t-value"}`, nil)
	if status != 200 || out["variable"] != "AWS_SECRET_ACCESS_KEY" || out["context_id"] != ctxID || out["created_at"] == "" || out["updated_at"] == "" {
		t.Fatalf("PUT: %d %v", status, out)
	}
	if _, ok := out["value"]; ok {
		t.Fatal("a context variable's value came back")
	}
	status, out = call(t, srv, "GET", "/api/v2/context/"+ctxID+"/environment-variable", "", nil)
	items, _ := out["items"].([]any)
	if status != 200 || len(items) != 1 || out["next_page_token"] != nil {
		t.Fatalf("list: %d %v", status, out)
	}

	// A context holds at most 100 variables.
	for i := 1; i < 100; i++ {
		if err := emu.SetContextEnvVar(ctxID, fmt.Sprintf("V%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if status, _ := call(t, srv, "PUT", "/api/v2/context/"+ctxID+"/environment-variable/ONE_TOO_MANY", `{"value":"v"}`, nil); status != 400 {
		t.Errorf("101st variable: %d", status)
	}
	if status, _ := call(t, srv, "PUT", "/api/v2/context/"+ctxID+"/environment-variable/V1", `{"value":"w"}`, nil); status != 200 {
		t.Errorf("update at the limit: %d", status)
	}
}

func TestConcurrentWrites(t *testing.T) {
	emu, srv, _ := setup(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"name":"V%d","value":"value-%d"}`, i%4, i)
			req, _ := http.NewRequest("POST", srv.URL+"/api/v2/project/gh/acme/api/envvar", strings.NewReader(body))
			req.Header.Set("Circle-Token", token)
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		if _, ok := emu.ProjectEnvVar("gh/acme/api", fmt.Sprintf("V%d", i)); !ok {
			t.Errorf("V%d missing", i)
		}
	}
	if n := emu.Faults.Total(); n != 16 {
		t.Errorf("counted %d calls, want 16", n)
	}
}

func TestAddContextWithID(t *testing.T) {
	e := circleciemu.New("tok")
	const id = "7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab"
	e.AddContextWithID(id, "aws-deploy")
	if err := e.SetContextEnvVar(id, "A", "v"); err != nil {
		t.Fatal(err)
	}
	e.AddContextWithID(id, "aws-deploy")
	if v, ok := e.ContextEnvVar(id, "A"); !ok || v.Value != "v" {
		t.Fatalf("adding the context again lost its variables: %+v %v", v, ok)
	}
}
