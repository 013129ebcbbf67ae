package tfeemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/tfeemu"
)

const (
	token = "atlasv1-test-token"
	org   = "acme"
	// awsSecret looks like a real AWS secret access key.
	awsSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	awsSecret2 = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
)

type env struct {
	emu    *tfeemu.Emulator
	url    string
	client *tfe.Client
	wsID   string // acme/api
	vsID   string // acme/aws-keys
}

// setup starts an emulator holding organization acme with workspace api and
// variable set aws-keys, and a go-tfe client for token.
func setup(t *testing.T) env {
	t.Helper()
	emu := tfeemu.New(token)
	e := env{emu: emu, wsID: emu.AddWorkspace(org, "api"), vsID: emu.AddVariableSet(org, "aws-keys")}
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client = newClient(t, srv.URL, token)
	return e
}

func newClient(t *testing.T, url, tok string) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: url, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestNewClientReadsTheMetadata(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if got := e.client.RemoteAPIVersion(); got != tfeemu.APIVersion {
		t.Errorf("RemoteAPIVersion = %q, want %q", got, tfeemu.APIVersion)
	}
	if n := e.emu.Faults.Calls()["GET /api/v2/ping"]; n != 1 {
		t.Errorf("ping calls = %d, want 1", n)
	}
	ws, err := e.client.Workspaces.Read(ctx(t), org, "api")
	if err != nil {
		t.Fatal(err)
	}
	if ws.ID != e.wsID || ws.Name != "api" || ws.Organization == nil || ws.Organization.Name != org {
		t.Errorf("workspace = %+v", ws)
	}
	if ws.Permissions == nil || !ws.Permissions.CanUpdateVariable {
		t.Errorf("permissions = %+v, want can-update-variable", ws.Permissions)
	}
}

// rotation is one target kind: a workspace or a variable set, driven the
// way an activity would drive it.
type rotation struct {
	name string
	// find resolves the owner's ID through the API.
	find   func(t *testing.T, c *tfe.Client) string
	list   func(c *tfe.Client, id string) ([]*tfe.Variable, error)
	create func(c *tfe.Client, id, key, value string) (*tfe.Variable, error)
	update func(c *tfe.Client, id, varID, value string) (*tfe.Variable, error)
	read   func(c *tfe.Client, id, varID string) (*tfe.Variable, error)
}

// fromSet converts a variable-set variable to the workspace shape so that
// both kinds share one test.
func fromSet(v *tfe.VariableSetVariable, err error) (*tfe.Variable, error) {
	if err != nil {
		return nil, err
	}
	return &tfe.Variable{ID: v.ID, Key: v.Key, Value: v.Value, Category: v.Category, Sensitive: v.Sensitive, VersionID: v.VersionID, Description: v.Description}, nil
}

var rotations = []rotation{
	{
		name: "workspace",
		find: func(t *testing.T, c *tfe.Client) string {
			ws, err := c.Workspaces.Read(ctx(t), org, "api")
			if err != nil {
				t.Fatal(err)
			}
			return ws.ID
		},
		list: func(c *tfe.Client, id string) ([]*tfe.Variable, error) {
			l, err := c.Variables.List(context.Background(), id, nil)
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		},
		create: func(c *tfe.Client, id, key, value string) (*tfe.Variable, error) {
			return c.Variables.Create(context.Background(), id, tfe.VariableCreateOptions{
				Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(tfe.CategoryEnv), Sensitive: tfe.Bool(true),
			})
		},
		update: func(c *tfe.Client, id, varID, value string) (*tfe.Variable, error) {
			return c.Variables.Update(context.Background(), id, varID, tfe.VariableUpdateOptions{
				Value: tfe.String(value), Sensitive: tfe.Bool(true),
			})
		},
		read: func(c *tfe.Client, id, varID string) (*tfe.Variable, error) {
			return c.Variables.Read(context.Background(), id, varID)
		},
	},
	{
		name: "variable set",
		find: func(t *testing.T, c *tfe.Client) string {
			l, err := c.VariableSets.List(ctx(t), org, &tfe.VariableSetListOptions{Query: "aws-keys"})
			if err != nil {
				t.Fatal(err)
			}
			for _, vs := range l.Items {
				if vs.Name == "aws-keys" {
					got, err := c.VariableSets.Read(ctx(t), vs.ID, nil)
					if err != nil {
						t.Fatal(err)
					}
					return got.ID
				}
			}
			t.Fatalf("variable set aws-keys not listed: %d items", len(l.Items))
			return ""
		},
		list: func(c *tfe.Client, id string) ([]*tfe.Variable, error) {
			l, err := c.VariableSetVariables.List(context.Background(), id, nil)
			if err != nil {
				return nil, err
			}
			out := make([]*tfe.Variable, 0, len(l.Items))
			for _, v := range l.Items {
				conv, _ := fromSet(v, nil)
				out = append(out, conv)
			}
			return out, nil
		},
		create: func(c *tfe.Client, id, key, value string) (*tfe.Variable, error) {
			return fromSet(c.VariableSetVariables.Create(context.Background(), id, &tfe.VariableSetVariableCreateOptions{
				Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(tfe.CategoryEnv), Sensitive: tfe.Bool(true),
			}))
		},
		update: func(c *tfe.Client, id, varID, value string) (*tfe.Variable, error) {
			return fromSet(c.VariableSetVariables.Update(context.Background(), id, varID, &tfe.VariableSetVariableUpdateOptions{
				Value: tfe.String(value), Sensitive: tfe.Bool(true),
			}))
		},
		read: func(c *tfe.Client, id, varID string) (*tfe.Variable, error) {
			return fromSet(c.VariableSetVariables.Read(context.Background(), id, varID))
		},
	},
}

// A sensitive variable is created, then updated: the API never shows its
// value, the ID stays, the version ID changes with each write, and the
// emulator holds what was written.
func TestRotateSensitiveVariable(t *testing.T) {
	t.Parallel()
	for _, rt := range rotations {
		t.Run(rt.name, func(t *testing.T) {
			e := setup(t)
			id := rt.find(t, e.client)
			if id != e.wsID && id != e.vsID {
				t.Fatalf("found %q", id)
			}
			created, err := rt.create(e.client, id, "AWS_SECRET_ACCESS_KEY", awsSecret)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(created.ID, "var-") || created.VersionID == "" || created.Value != "" || !created.Sensitive {
				t.Fatalf("created = %+v", created)
			}
			stored, ok := e.emu.Variable(id, tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
			if !ok || stored.Value != awsSecret || stored.ID != created.ID || stored.VersionID != created.VersionID {
				t.Fatalf("stored after create = %+v", stored.ID)
			}

			updated, err := rt.update(e.client, id, created.ID, awsSecret2)
			if err != nil {
				t.Fatal(err)
			}
			if updated.ID != created.ID || updated.VersionID == created.VersionID || updated.Value != "" {
				t.Fatalf("updated = %+v, created = %+v", updated, created)
			}

			// Read back by ID and by listing, as a confirmation would.
			read, err := rt.read(e.client, id, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			listed, err := rt.list(e.client, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != 1 {
				t.Fatalf("listed %d variables", len(listed))
			}
			for _, got := range []*tfe.Variable{read, listed[0]} {
				if got.ID != created.ID || got.VersionID != updated.VersionID || got.Value != "" || !got.Sensitive || got.Key != "AWS_SECRET_ACCESS_KEY" {
					t.Errorf("read back = %+v", got)
				}
			}
			after, _ := e.emu.Variable(id, tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY")
			if after.Value != awsSecret2 || after.VersionID != updated.VersionID || after.UpdatedAt.Before(stored.UpdatedAt) {
				t.Errorf("stored after update: version %q updated %v (before: %v)", after.VersionID, after.UpdatedAt, stored.UpdatedAt)
			}
		})
	}
}

// No response body ever carries a sensitive value.
func TestSensitiveValueNeverInAResponse(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.emu.SetVariable(e.vsID, tfeemu.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: awsSecret, Sensitive: true}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/api/v2/varsets/" + e.vsID + "/relationships/vars",
		"/api/v2/varsets/" + e.vsID + "?include=vars",
		"/api/v2/organizations/acme/varsets?include=vars",
	} {
		status, body, _ := raw(t, http.MethodGet, e.url+path, token, "")
		if status != http.StatusOK || strings.Contains(body, awsSecret) || !strings.Contains(body, `"value":null`) {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}

func TestNonSensitiveValueIsReturned(t *testing.T) {
	t.Parallel()
	e := setup(t)
	v, err := e.client.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{
		Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.Value != "eu-west-1" || v.Sensitive {
		t.Errorf("created = %+v", v)
	}
	l, err := e.client.Variables.List(ctx(t), e.wsID, nil)
	if err != nil || len(l.Items) != 1 || l.Items[0].Value != "eu-west-1" || l.Items[0].Workspace == nil || l.Items[0].Workspace.ID != e.wsID {
		t.Fatalf("list = %+v, %v", l, err)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.emu.AddWorkspace("other", "web")
	e.emu.AddToken("other-org-token", tfeemu.WriteVariables, "other")
	e.emu.AddToken("read-only-token", tfeemu.ReadVariables)

	other := newClient(t, e.url, "other-org-token")
	readOnly := newClient(t, e.url, "read-only-token")
	unknown := newClient(t, e.url, "no-such-token")
	createOpts := tfe.VariableCreateOptions{Key: tfe.String("K"), Value: tfe.String("v"), Category: tfe.Category(tfe.CategoryEnv)}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown token reads a workspace", func() error {
			_, err := unknown.Workspaces.Read(ctx(t), org, "api")
			return err
		}, tfe.ErrUnauthorized},
		{"unknown token lists variables", func() error {
			_, err := unknown.Variables.List(ctx(t), e.wsID, nil)
			return err
		}, tfe.ErrUnauthorized},
		{"token of another org reads the workspace", func() error {
			_, err := other.Workspaces.Read(ctx(t), org, "api")
			return err
		}, tfe.ErrResourceNotFound},
		{"token of another org lists the variable sets", func() error {
			_, err := other.VariableSets.List(ctx(t), org, nil)
			return err
		}, tfe.ErrResourceNotFound},
		{"token of another org lists the workspace's variables", func() error {
			_, err := other.Variables.List(ctx(t), e.wsID, nil)
			return err
		}, tfe.ErrResourceNotFound},
		{"token of another org reads the variable set", func() error {
			_, err := other.VariableSets.Read(ctx(t), e.vsID, nil)
			return err
		}, tfe.ErrResourceNotFound},
		{"token of another org reads its own workspace", func() error {
			_, err := other.Workspaces.Read(ctx(t), "other", "web")
			return err
		}, nil},
		{"read-only token lists variables", func() error {
			_, err := readOnly.Variables.List(ctx(t), e.wsID, nil)
			return err
		}, nil},
		{"read-only token creates a variable", func() error {
			_, err := readOnly.Variables.Create(ctx(t), e.wsID, createOpts)
			return err
		}, tfe.ErrResourceNotFound},
		{"unknown workspace", func() error {
			_, err := e.client.Workspaces.Read(ctx(t), org, "nope")
			return err
		}, tfe.ErrResourceNotFound},
		{"unknown variable", func() error {
			_, err := e.client.Variables.Read(ctx(t), e.wsID, "var-nope")
			return err
		}, tfe.ErrResourceNotFound},
		{"workspace ID used as a variable set ID", func() error {
			_, err := e.client.VariableSetVariables.List(ctx(t), e.wsID, nil)
			return err
		}, tfe.ErrResourceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// raw sends one request without go-tfe and returns status, body and headers.
func raw(t *testing.T, method, url, tok, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name, tok, path string
		status          int
		body            string
	}{
		{"no token", "", "/api/v2/organizations/acme/workspaces/api", 401, `{"errors":[{"status":"401","title":"unauthorized"}]}`},
		{"unknown token", "nope", "/api/v2/organizations/acme/workspaces/api", 401, `{"errors":[{"status":"401","title":"unauthorized"}]}`},
		{"unknown organization", token, "/api/v2/organizations/nope/workspaces/api", 404, `{"errors":[{"status":"404","title":"not found"}]}`},
		{"unknown route", token, "/api/v2/runs", 404, `{"errors":[{"status":"404","title":"not found"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, h := raw(t, http.MethodGet, e.url+tt.path, tt.tok, "")
			if status != tt.status || strings.TrimSpace(body) != tt.body || h.Get("Content-Type") != "application/vnd.api+json" {
				t.Errorf("%d %s (%s), want %d %s", status, body, h.Get("Content-Type"), tt.status, tt.body)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.client
	env := tfe.Category(tfe.CategoryEnv)
	seeded, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{
		Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String(awsSecret), Category: env, Sensitive: tfe.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VariableSetVariables.Create(ctx(t), e.vsID, &tfe.VariableSetVariableCreateOptions{
		Key: tfe.String("AWS_ACCESS_KEY_ID"), Value: tfe.String("AKIAIOSFODNN7EXAMPLE"), Category: env,
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func() error
		want string // part of the error; "" means success
	}{
		{"duplicate key in the same category", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String(awsSecret2), Category: env, Sensitive: tfe.Bool(true)})
			return err
		}, "Key has already been taken"},
		{"duplicate key in a variable set", func() error {
			_, err := c.VariableSetVariables.Create(ctx(t), e.vsID, &tfe.VariableSetVariableCreateOptions{Key: tfe.String("AWS_ACCESS_KEY_ID"), Value: tfe.String(awsSecret2), Category: env})
			return err
		}, "Key has already been taken"},
		{"same key in the other category", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String(awsSecret2), Category: tfe.Category(tfe.CategoryTerraform)})
			return err
		}, ""},
		{"invalid environment variable name", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("AWS-SECRET"), Value: tfe.String(awsSecret2), Category: env})
			return err
		}, "not a valid environment variable name"},
		{"environment variable name starting with a digit", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("1KEY"), Value: tfe.String(awsSecret2), Category: env})
			return err
		}, "not a valid environment variable name"},
		{"key too long", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String(strings.Repeat("K", 129)), Value: tfe.String(awsSecret2), Category: env})
			return err
		}, "Key is too long (maximum is 128 characters)"},
		{"description too long", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("D"), Value: tfe.String(awsSecret2), Description: tfe.String(strings.Repeat("d", 513)), Category: env})
			return err
		}, "Description is too long"},
		{"policy-set category", func() error {
			_, err := c.Variables.Create(ctx(t), e.wsID, tfe.VariableCreateOptions{Key: tfe.String("P"), Value: tfe.String(awsSecret2), Category: tfe.Category(tfe.CategoryPolicySet)})
			return err
		}, "Category is not included in the list"},
		{"sensitive made non-sensitive", func() error {
			_, err := c.Variables.Update(ctx(t), e.wsID, seeded.ID, tfe.VariableUpdateOptions{Value: tfe.String(awsSecret2), Sensitive: tfe.Bool(false)})
			return err
		}, "Sensitive can't be changed from true to false"},
		{"sensitive variable renamed", func() error {
			_, err := c.Variables.Update(ctx(t), e.wsID, seeded.ID, tfe.VariableUpdateOptions{Key: tfe.String("OTHER")})
			return err
		}, "Key can't be changed on a sensitive variable"},
		{"sensitive variable's description changed", func() error {
			_, err := c.Variables.Update(ctx(t), e.wsID, seeded.ID, tfe.VariableUpdateOptions{Description: tfe.String("rotated by keyrotor")})
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case err != nil && (strings.Contains(err.Error(), awsSecret) || strings.Contains(err.Error(), awsSecret2)):
				t.Fatal("the error quotes the value")
			}
		})
	}
	// The failed update left the stored variable as it was.
	if v, _ := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret || !v.Sensitive {
		t.Errorf("a rejected update changed the variable")
	}

	// The 422 body is a JSON:API error object pointing at the attribute.
	status, body, _ := raw(t, http.MethodPost, e.url+"/api/v2/workspaces/"+e.wsID+"/vars", token,
		`{"data":{"type":"vars","attributes":{"key":"AWS_SECRET_ACCESS_KEY","value":"x","category":"env"}}}`)
	want := `{"errors":[{"status":"422","title":"invalid attribute","detail":"Key has already been taken","source":{"pointer":"/data/attributes/key"}}]}`
	if status != http.StatusUnprocessableEntity || strings.TrimSpace(body) != want {
		t.Errorf("duplicate: %d %s", status, body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.emu.AddToken("second-token", tfeemu.WriteVariables)
	e.emu.SetRateLimit(3)
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.emu.SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	})
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	path := e.url + "/api/v2/workspaces/" + e.wsID + "/vars"

	// One request every 100 ms: token's window opens with the first, at
	// t=0.1 s, and ends at t=1.1 s.
	tests := []struct {
		tok           string
		status        int
		wantRemaining string
		wantReset     string // seconds left in token's window
	}{
		{token, 200, "2", "1.000"},
		{token, 200, "1", "0.900"},
		{token, 200, "0", "0.800"},
		{token, 429, "0", "0.700"},
		{"second-token", 200, "2", ""}, // the limit is per token
		{token, 429, "0", "0.500"},
	}
	for i, tt := range tests {
		advance(100 * time.Millisecond)
		status, body, h := raw(t, http.MethodGet, path, tt.tok, "")
		if status != tt.status || h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != tt.wantRemaining {
			t.Fatalf("request %d: %d limit %q remaining %q", i, status, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"))
		}
		if tt.tok == token && h.Get("X-RateLimit-Reset") != tt.wantReset {
			t.Fatalf("request %d: X-RateLimit-Reset %q, want %q", i, h.Get("X-RateLimit-Reset"), tt.wantReset)
		}
		if status == http.StatusTooManyRequests {
			var doc struct {
				Errors []struct {
					Detail string `json:"detail"`
					Status int    `json:"status"`
					Title  string `json:"title"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Errors) != 1 ||
				doc.Errors[0].Status != 429 || doc.Errors[0].Title != "Too many requests" {
				t.Fatalf("429 body %s", body)
			}
		}
	}
	// Once the window is over the token may call again.
	advance(500 * time.Millisecond)
	if status, _, h := raw(t, http.MethodGet, path, token, ""); status != http.StatusOK || h.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("after the reset: %d, remaining %q", status, h.Get("X-RateLimit-Remaining"))
	}
}

// go-tfe paces itself to two thirds of X-RateLimit-Limit, so one client
// stays under the limit; several clients sharing a token (several workers)
// do not. They meet 429s, wait for X-RateLimit-Reset and all succeed.
func TestRateLimitWithGoTFE(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.emu.SetRateLimit(10)
	var limited atomic.Int32
	hook := func(_ int, resp *http.Response) {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("X-RateLimit-Reset") != "" {
			limited.Add(1)
		}
	}
	const clients, calls = 3, 6
	var wg sync.WaitGroup
	errs := make(chan error, clients*calls)
	start := time.Now()
	for range clients {
		c, err := tfe.NewClient(&tfe.Config{Address: e.url, Token: token, RetryLogHook: hook})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range calls {
				_, err := c.Variables.List(ctx(t), e.wsID, nil)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if limited.Load() == 0 {
		t.Error("no client met a 429 with X-RateLimit-Reset")
	}
	t.Logf("%d calls in %v, %d answered 429 first", clients*calls, time.Since(start).Round(time.Millisecond), limited.Load())
}

func TestVariableSetListIsPaginatedAndSearchable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for i := range 24 {
		e.emu.AddVariableSet(org, "set-"+strconv.Itoa(i))
	}
	first, err := e.client.VariableSets.List(ctx(t), org, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 20 || first.TotalCount != 25 || first.TotalPages != 2 || first.NextPage != 2 {
		t.Fatalf("first page: %d items, %+v", len(first.Items), first.Pagination)
	}
	second, err := e.client.VariableSets.List(ctx(t), org, &tfe.VariableSetListOptions{ListOptions: tfe.ListOptions{PageNumber: 2}})
	if err != nil || len(second.Items) != 5 || second.CurrentPage != 2 {
		t.Fatalf("second page: %+v, %v", second, err)
	}
	found, err := e.client.VariableSets.List(ctx(t), org, &tfe.VariableSetListOptions{Query: "AWS-KEYS"})
	if err != nil || len(found.Items) != 1 || found.Items[0].ID != e.vsID || found.Items[0].Organization.Name != org {
		t.Fatalf("query: %+v, %v", found, err)
	}
}

func TestFaultsAndCallCounts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.emu.Faults.Add(faults.Rule{Op: "POST /api/v2/workspaces/", Status: http.StatusServiceUnavailable, Times: 1})
	opts := tfe.VariableCreateOptions{Key: tfe.String("AWS_ACCESS_KEY_ID"), Value: tfe.String("AKIAIOSFODNN7EXAMPLE"), Category: tfe.Category(tfe.CategoryEnv)}
	if _, err := e.client.Variables.Create(ctx(t), e.wsID, opts); err == nil {
		t.Fatal("the injected 503 was not seen")
	}
	if _, ok := e.emu.Variable(e.wsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID"); ok {
		t.Fatal("a failed create stored the variable")
	}
	if _, err := e.client.Variables.Create(ctx(t), e.wsID, opts); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Faults.Calls()["POST /api/v2/workspaces/"+e.wsID+"/vars"]; n != 2 {
		t.Errorf("create calls = %d, want 2", n)
	}
}

func TestIncludeAndDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	v, err := e.client.VariableSetVariables.Create(ctx(t), e.vsID, &tfe.VariableSetVariableCreateOptions{
		Key: tfe.String("AWS_ACCESS_KEY_ID"), Value: tfe.String("AKIAIOSFODNN7EXAMPLE"), Category: tfe.Category(tfe.CategoryEnv),
	})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.client.VariableSets.Read(ctx(t), e.vsID, &tfe.VariableSetReadOptions{Include: &[]tfe.VariableSetIncludeOpt{tfe.VariableSetVars}})
	if err != nil {
		t.Fatal(err)
	}
	if vs.Name != "aws-keys" || len(vs.Variables) != 1 || vs.Variables[0].ID != v.ID || vs.Variables[0].Value != "AKIAIOSFODNN7EXAMPLE" {
		t.Fatalf("variable set = %+v", vs)
	}
	if err := e.client.VariableSetVariables.Delete(ctx(t), e.vsID, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.emu.Variable(e.vsID, tfeemu.CategoryEnv, "AWS_ACCESS_KEY_ID"); ok {
		t.Error("the deleted variable is still stored")
	}
	if _, err := e.client.VariableSetVariables.Read(ctx(t), e.vsID, v.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("read after delete: %v", err)
	}
}
