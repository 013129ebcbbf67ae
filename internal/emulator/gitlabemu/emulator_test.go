package gitlabemu_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/gitlabemu"
)

const (
	token = "glpat-test-token"
	// awsSecret looks like a real AWS secret access key: Base64 with "/" and "+".
	awsSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// setup starts an emulator with project acme/api and group acme, and a
// client-go client without retries (so a fault is seen exactly once).
func setup(t *testing.T) (*gitlabemu.Emulator, *gitlab.Client) {
	t.Helper()
	emu := gitlabemu.New(token)
	emu.AddGroup("acme")
	emu.AddProject("acme/api")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, newClient(t, srv.URL, token)
}

func newClient(t *testing.T, url, tok string) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(tok, gitlab.WithBaseURL(url+"/api/v4"), gitlab.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(resp *gitlab.Response, err error) int {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	if resp != nil {
		return resp.StatusCode
	}
	return 0
}

func body(err error) string {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		return string(er.Body)
	}
	return ""
}

func createProjectVar(c *gitlab.Client, key, value, scope string, masked, raw bool) (*gitlab.ProjectVariable, *gitlab.Response, error) {
	return c.ProjectVariables.CreateVariable("acme/api", &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr(key), Value: gitlab.Ptr(value), EnvironmentScope: gitlab.Ptr(scope),
		Masked: gitlab.Ptr(masked), Raw: gitlab.Ptr(raw), Protected: gitlab.Ptr(true),
	})
}

func TestProjectAndGroupLookup(t *testing.T) {
	emu, c := setup(t)
	pid := emu.AddProject("acme/web")
	gid := emu.AddGroup("acme/platform")

	tests := []struct {
		name    string
		call    func() (*gitlab.Response, error)
		want    int
		wantMsg string
	}{
		{"project by path", func() (*gitlab.Response, error) {
			p, r, err := c.Projects.GetProject("acme/web", nil)
			if err == nil && (p.ID != int64(pid) || p.PathWithNamespace != "acme/web") {
				t.Errorf("project = %+v", p)
			}
			return r, err
		}, 200, ""},
		{"project by ID", func() (*gitlab.Response, error) {
			_, r, err := c.Projects.GetProject(pid, nil)
			return r, err
		}, 200, ""},
		{"nested group by path", func() (*gitlab.Response, error) {
			g, r, err := c.Groups.GetGroup("acme/platform", nil)
			if err == nil && (g.ID != int64(gid) || g.FullPath != "acme/platform") {
				t.Errorf("group = %+v", g)
			}
			return r, err
		}, 200, ""},
		{"unknown project", func() (*gitlab.Response, error) {
			_, r, err := c.Projects.GetProject("acme/nope", nil)
			return r, err
		}, 404, ""},
		{"unknown group variables", func() (*gitlab.Response, error) {
			_, r, err := c.GroupVariables.ListVariables("nope", nil)
			return r, err
		}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.call()
			if got := status(resp, err); got != tt.want {
				t.Fatalf("status = %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

func TestNotFoundBodies(t *testing.T) {
	emu := gitlabemu.New(token)
	emu.AddProject("acme/api")
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()

	tests := []struct{ path, want string }{
		{"/api/v4/projects/acme%2Fnope/variables", `{"message":"404 Project Not Found"}`},
		{"/api/v4/groups/nope/variables", `{"message":"404 Group Not Found"}`},
		{"/api/v4/projects/acme%2Fapi/variables/NOPE", `{"message":"404 Variable Not Found"}`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.TrimSpace(b.String()) != tt.want {
			t.Errorf("%s: %d %s, want 404 %s", tt.path, resp.StatusCode, b, tt.want)
		}
	}
}

func TestVariableLifecycle(t *testing.T) {
	emu, c := setup(t)

	// Create the same key in two scopes: they are distinct variables.
	for _, scope := range []string{"*", "production"} {
		v, _, err := createProjectVar(c, "AWS_SECRET_ACCESS_KEY", awsSecret+scope, scope, true, true)
		if err != nil {
			t.Fatalf("create %s: %v", scope, err)
		}
		if v.EnvironmentScope != scope || !v.Masked || !v.Raw || !v.Protected || v.VariableType != gitlab.EnvVariableType {
			t.Fatalf("created %+v", v)
		}
	}

	t.Run("get with filter picks the scope", func(t *testing.T) {
		v, _, err := c.ProjectVariables.GetVariable("acme/api", "AWS_SECRET_ACCESS_KEY",
			&gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "production"}})
		if err != nil || v.Value != awsSecret+"production" {
			t.Fatalf("get = %+v, %v", v, err)
		}
	})
	t.Run("get without filter is ambiguous", func(t *testing.T) {
		_, resp, err := c.ProjectVariables.GetVariable("acme/api", "AWS_SECRET_ACCESS_KEY", nil)
		if status(resp, err) != http.StatusConflict {
			t.Fatalf("status = %d, want 409 (%v)", status(resp, err), err)
		}
	})
	t.Run("update with filter changes only that scope", func(t *testing.T) {
		_, _, err := c.ProjectVariables.UpdateVariable("acme/api", "AWS_SECRET_ACCESS_KEY", &gitlab.UpdateProjectVariableOptions{
			Value: gitlab.Ptr(awsSecret + "new"), Filter: &gitlab.VariableFilter{EnvironmentScope: "production"},
		})
		if err != nil {
			t.Fatal(err)
		}
		prod, _ := emu.Variable("project:acme/api", "AWS_SECRET_ACCESS_KEY", "production")
		all, _ := emu.Variable("project:acme/api", "AWS_SECRET_ACCESS_KEY", "")
		if prod.Value != awsSecret+"new" || all.Value != awsSecret+"*" {
			t.Fatalf("production=%q *=%q", prod.Value, all.Value)
		}
		if !prod.Masked || !prod.Protected || !prod.Raw {
			t.Fatalf("update lost flags: %+v", prod)
		}
	})
	t.Run("duplicate create is refused", func(t *testing.T) {
		_, resp, err := createProjectVar(c, "AWS_SECRET_ACCESS_KEY", awsSecret, "production", true, true)
		if status(resp, err) != 400 || !strings.Contains(body(err), `"key":["(AWS_SECRET_ACCESS_KEY) has already been taken"]`) {
			t.Fatalf("status %d body %s", status(resp, err), body(err))
		}
	})
	t.Run("update of a missing scope is 404", func(t *testing.T) {
		_, resp, err := c.ProjectVariables.UpdateVariable("acme/api", "AWS_SECRET_ACCESS_KEY", &gitlab.UpdateProjectVariableOptions{
			Value: gitlab.Ptr("x"), Filter: &gitlab.VariableFilter{EnvironmentScope: "staging"},
		})
		if status(resp, err) != 404 || !errors.Is(err, gitlab.ErrNotFound) {
			t.Fatalf("status %d err %v", status(resp, err), err)
		}
	})
	t.Run("list and delete", func(t *testing.T) {
		vs, _, err := c.ProjectVariables.ListVariables("acme/api", nil)
		if err != nil || len(vs) != 2 {
			t.Fatalf("list = %d, %v", len(vs), err)
		}
		_, err = c.ProjectVariables.RemoveVariable("acme/api", "AWS_SECRET_ACCESS_KEY",
			&gitlab.RemoveProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "*"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := emu.Variable("project:acme/api", "AWS_SECRET_ACCESS_KEY", "*"); ok {
			t.Fatal("variable still there after delete")
		}
		if _, ok := emu.Variable("project:acme/api", "AWS_SECRET_ACCESS_KEY", "production"); !ok {
			t.Fatal("delete removed the other scope")
		}
	})
}

func TestGroupVariablesKeptApartFromProjects(t *testing.T) {
	emu, c := setup(t)
	_, _, err := c.GroupVariables.CreateVariable("acme", &gitlab.CreateGroupVariableOptions{
		Key: gitlab.Ptr("AWS_ACCESS_KEY_ID"), Value: gitlab.Ptr("AKIAGROUPEXAMPLE0000"),
		EnvironmentScope: gitlab.Ptr("prod/*"), Masked: gitlab.Ptr(true), Protected: gitlab.Ptr(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = createProjectVar(c, "AWS_ACCESS_KEY_ID", "AKIAPROJECTEXAMPLE00", "prod/*", false, false)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := emu.Variable("group:acme", "AWS_ACCESS_KEY_ID", "prod/*")
	if !ok || g.Value != "AKIAGROUPEXAMPLE0000" || !g.Masked || !g.Protected || g.Raw {
		t.Fatalf("group variable %+v %v", g, ok)
	}
	p, _ := emu.Variable("project:acme/api", "AWS_ACCESS_KEY_ID", "prod/*")
	if p.Value != "AKIAPROJECTEXAMPLE00" || p.Masked {
		t.Fatalf("project variable %+v", p)
	}
	got, _, err := c.GroupVariables.GetVariable("acme", "AWS_ACCESS_KEY_ID",
		&gitlab.GetGroupVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "prod/*"}})
	if err != nil || got.Value != "AKIAGROUPEXAMPLE0000" || got.EnvironmentScope != "prod/*" {
		t.Fatalf("group get %+v %v", got, err)
	}
	if _, ok := emu.Variable("group:1001", "AWS_ACCESS_KEY_ID", "prod/*"); !ok {
		t.Fatal("group not addressable by ID in Variable")
	}
}

func TestValidation(t *testing.T) {
	_, c := setup(t)
	tests := []struct {
		name, key, value string
		masked, raw      bool
		wantStatus       int
		wantBody         string
	}{
		{"AWS secret masked raw", "A", awsSecret, true, true, 201, ""},
		{"AWS secret masked expanded", "B", awsSecret, true, false, 201, ""},
		{"masked too short", "C", "abc1234", true, true, 400, `{"message":{"value":["is invalid"]}}`},
		{"masked with newline", "D", "abcd1234\nefgh", true, true, 400, `"value":["is invalid"]`},
		{"masked raw with space", "E", "abcd 1234", true, true, 400, `"value":["is invalid"]`},
		{"masked expanded bad char", "F", "abcd1234$HOME", true, false, 400, `"value":["is invalid"]`},
		{"masked raw allows special chars", "G", "abcd1234$!%", true, true, 201, ""},
		{"masked expanded allows @:.~", "H", "user@host:1.2~x", true, false, 201, ""},
		{"unmasked anything goes", "I", "a b\nc", false, false, 201, ""},
		{"key with dash", "AWS-KEY", "v", false, false, 400, `"key":["can contain only letters, digits and '_'."]`},
		{"key too long", strings.Repeat("K", 256), "v", false, false, 400, "is too long (maximum is 255 characters)"},
		{"key of 255", strings.Repeat("K", 255), "v", false, false, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := createProjectVar(c, tt.key, tt.value, "*", tt.masked, tt.raw)
			if got := status(resp, err); got != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", got, tt.wantStatus, err)
			}
			if tt.wantBody != "" && !strings.Contains(body(err), tt.wantBody) {
				t.Fatalf("body = %s, want %s", body(err), tt.wantBody)
			}
		})
	}

	t.Run("update to masked validates the stored value", func(t *testing.T) {
		_, _, err := createProjectVar(c, "SHORT", "abc", "*", false, false)
		if err != nil {
			t.Fatal(err)
		}
		_, resp, err := c.ProjectVariables.UpdateVariable("acme/api", "SHORT",
			&gitlab.UpdateProjectVariableOptions{Masked: gitlab.Ptr(true)})
		if status(resp, err) != 400 || !strings.Contains(body(err), `"value":["is invalid"]`) {
			t.Fatalf("status %d body %s", status(resp, err), body(err))
		}
	})
	t.Run("missing value", func(t *testing.T) {
		_, resp, err := c.ProjectVariables.CreateVariable("acme/api", &gitlab.CreateProjectVariableOptions{Key: gitlab.Ptr("NOVALUE")})
		if status(resp, err) != 400 || !strings.Contains(body(err), "value is missing") {
			t.Fatalf("status %d body %s", status(resp, err), body(err))
		}
	})
}

func TestMaskable(t *testing.T) {
	tests := []struct {
		value         string
		raw, expanded bool
	}{
		{awsSecret, true, true},
		{"AKIAIOSFODNN7EXAMPLE", true, true},
		{"1234567", false, false},
		{"12345678", true, true},
		{"abcd1234$", true, false},
		{"abcd 1234", false, false},
		{"abcd1234\t", false, false},
		{"abcd1234\v", false, false},
		{"ünïcödé!", true, false},
	}
	for _, tt := range tests {
		if got := gitlabemu.Maskable(tt.value, true); got != tt.raw {
			t.Errorf("Maskable(%q, raw) = %v", tt.value, got)
		}
		if got := gitlabemu.Maskable(tt.value, false); got != tt.expanded {
			t.Errorf("Maskable(%q, expanded) = %v", tt.value, got)
		}
	}
}

func TestAuth(t *testing.T) {
	emu, _ := setup(t)
	emu.AddToken("glpat-developer", gitlabemu.Developer)
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()

	tests := []struct {
		name, token string
		want        int
		wantBody    string
	}{
		{"unknown token", "glpat-wrong", 401, `{"message":"401 Unauthorized"}`},
		{"developer cannot manage variables", "glpat-developer", 403, `{"message":"403 Forbidden"}`},
		{"maintainer can", token, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv.URL, tt.token)
			_, resp, err := c.ProjectVariables.ListVariables("acme/api", nil)
			if got := status(resp, err); got != tt.want {
				t.Fatalf("status = %d, want %d", got, tt.want)
			}
			if tt.wantBody != "" && strings.TrimSpace(body(err)) != tt.wantBody {
				t.Fatalf("body = %s", body(err))
			}
		})
	}
	t.Run("developer can read the project", func(t *testing.T) {
		c := newClient(t, srv.URL, "glpat-developer")
		if _, _, err := c.Projects.GetProject("acme/api", nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFaultsAndCallCounts(t *testing.T) {
	emu, c := setup(t)
	emu.Faults.Add(faults.Rule{Op: "GET /api/v4/projects/acme/api/variables", Status: 429, RetryAfter: 7 * time.Second, Times: 1})

	_, resp, err := c.ProjectVariables.ListVariables("acme/api", nil)
	if status(resp, err) != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("status %d Retry-After %q", status(resp, err), resp.Header.Get("Retry-After"))
	}
	if _, _, err := c.ProjectVariables.ListVariables("acme/api", nil); err != nil {
		t.Fatalf("fault did not clear after Times: %v", err)
	}
	_, _, _ = createProjectVar(c, "K", "v", "*", false, false)
	calls := emu.Faults.Calls()
	if calls["GET /api/v4/projects/acme/api/variables"] != 2 || calls["POST /api/v4/projects/acme/api/variables"] != 1 {
		t.Fatalf("calls = %v", calls)
	}
}

func TestSeedHelpers(t *testing.T) {
	emu, c := setup(t)
	if err := emu.SetVariable("project:acme/api", gitlabemu.Variable{Key: "OLD", Value: "old-value", Masked: true}); err != nil {
		t.Fatal(err)
	}
	v, _, err := c.ProjectVariables.GetVariable("acme/api", "OLD", nil)
	if err != nil || v.Value != "old-value" || v.EnvironmentScope != "*" || v.VariableType != gitlab.EnvVariableType {
		t.Fatalf("%+v %v", v, err)
	}
	if err := emu.SetVariable("project:nope", gitlabemu.Variable{Key: "X"}); err == nil {
		t.Fatal("SetVariable on unknown project succeeded")
	}
	if got := emu.Variables("project:acme/api"); len(got) != 1 {
		t.Fatalf("Variables = %v", got)
	}
}
