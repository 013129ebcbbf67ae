package clients_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/bitbucketemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
)

const (
	bbTok  = "ATCTT3xFfGN0bq7Zk2Lw9RmVt4Hs8Pd"
	bbRepo = "acme/api"
)

type bbEnv struct {
	emu *bitbucketemu.Emulator
	c   *clients.BitbucketClient
	url string
}

func setupBitbucket(t *testing.T) bbEnv {
	t.Helper()
	emu := bitbucketemu.New(bbTok)
	emu.AddRepository(bbRepo)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return bbEnv{emu, clients.NewBitbucketClient(srv.URL, bbTok, srv.Client()), srv.URL}
}

func TestBitbucketRepositoryVariable(t *testing.T) {
	env := setupBitbucket(t)
	ctx := context.Background()

	created, err := env.c.SetRepositoryVariable(ctx, "acme", "api", "AWS_SECRET_ACCESS_KEY", awsSecret, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.UUID, "{") || created.Key != "AWS_SECRET_ACCESS_KEY" || !created.Secured || created.Value != "" {
		t.Fatalf("created %+v", created)
	}
	if v, _ := env.emu.RepositoryVariable(bbRepo, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret.Reveal() || v.UUID != created.UUID {
		t.Fatalf("emulator holds %+v", v)
	}

	// A second push updates the same variable: confirmation is by UUID and key.
	updated, err := env.c.SetRepositoryVariable(ctx, "acme", "api", "AWS_SECRET_ACCESS_KEY", awsSecret2, true)
	if err != nil {
		t.Fatal(err)
	}
	if updated.UUID != created.UUID {
		t.Fatalf("update made a new variable: %s, was %s", updated.UUID, created.UUID)
	}
	read, err := env.c.RepositoryVariable(ctx, "acme", "api", created.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Key != "AWS_SECRET_ACCESS_KEY" || read.Value != "" || !read.Secured {
		t.Fatalf("read back %+v", read)
	}
	if v, _ := env.emu.RepositoryVariable(bbRepo, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret2.Reveal() {
		t.Fatalf("emulator holds %q", v.Value)
	}

	// An unsecured variable reads back with its value.
	if _, err := env.c.SetRepositoryVariable(ctx, "acme", "api", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", false); err != nil {
		t.Fatal(err)
	}
	id, found, err := env.c.RepositoryVariableByKey(ctx, "acme", "api", "AWS_ACCESS_KEY_ID")
	if err != nil || !found || id.Value != "AKIAIOSFODNN7EXAMPLE" || id.Secured {
		t.Fatalf("key ID read back %+v, %v, %v", id, found, err)
	}

	// Creating a key the repository has is Bitbucket's 409.
	_, err = env.c.CreateRepositoryVariable(ctx, "acme", "api", "AWS_SECRET_ACCESS_KEY", awsSecret, true)
	he := httpErr(t, err)
	noSecrets(t, err, awsSecret.Reveal(), bbTok)
	if he.StatusCode != http.StatusConflict || he.Message != "A variable with the provided key already exists." || !he.Permanent() {
		t.Fatalf("duplicate: %v", err)
	}

	if err := env.c.DeleteRepositoryVariable(ctx, "acme", "api", created.UUID); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := env.c.RepositoryVariableByKey(ctx, "acme", "api", "AWS_SECRET_ACCESS_KEY"); found {
		t.Fatal("deleted variable still listed")
	}
}

func TestBitbucketDeploymentVariable(t *testing.T) {
	env := setupBitbucket(t)
	ctx := context.Background()

	prod, found, err := env.c.EnvironmentByName(ctx, "acme", "api", "Production")
	if err != nil || !found || prod.Type != "Production" || prod.Slug != "production" {
		t.Fatalf("Production: %+v, %v, %v", prod, found, err)
	}
	if _, found, _ := env.c.EnvironmentByName(ctx, "acme", "api", "Nowhere"); found {
		t.Fatal("found an environment that does not exist")
	}

	created, err := env.c.SetDeploymentVariable(ctx, "acme", "api", prod.UUID, "AWS_SECRET_ACCESS_KEY", awsSecret, true)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := env.c.SetDeploymentVariable(ctx, "acme", "api", prod.UUID, "AWS_SECRET_ACCESS_KEY", awsSecret2, true)
	if err != nil || updated.UUID != created.UUID || updated.Value != "" {
		t.Fatalf("update: %+v, %v", updated, err)
	}
	if v, _ := env.emu.DeploymentVariable(bbRepo, prod.UUID, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret2.Reveal() {
		t.Fatalf("emulator holds %q", v.Value)
	}
	// The key is per environment: Staging has its own.
	staging, _, _ := env.c.EnvironmentByName(ctx, "acme", "api", "staging")
	if _, found, _ := env.c.DeploymentVariableByKey(ctx, "acme", "api", staging.UUID, "AWS_SECRET_ACCESS_KEY"); found {
		t.Fatal("Staging sees Production's variable")
	}
	if _, err := env.c.CreateDeploymentVariable(ctx, "acme", "api", staging.UUID, "AWS_SECRET_ACCESS_KEY", awsSecret, true); err != nil {
		t.Fatal(err)
	}
	_, err = env.c.CreateDeploymentVariable(ctx, "acme", "api", staging.UUID, "AWS_SECRET_ACCESS_KEY", awsSecret, true)
	if he := httpErr(t, err); he.StatusCode != http.StatusConflict {
		t.Fatalf("duplicate deployment variable: %v", err)
	}
	if err := env.c.DeleteDeploymentVariable(ctx, "acme", "api", prod.UUID, created.UUID); err != nil {
		t.Fatal(err)
	}
}

func TestBitbucketPagination(t *testing.T) {
	env := setupBitbucket(t)
	ctx := context.Background()
	for i := range 230 {
		if _, err := env.emu.SetRepositoryVariable(bbRepo, fmt.Sprintf("VAR_%03d", i), "v", true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		if _, err := env.emu.AddEnvironment(bbRepo, fmt.Sprintf("env %d", i), "Test"); err != nil {
			t.Fatal(err)
		}
	}
	vars, err := env.c.RepositoryVariables(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != 230 || vars[229].Key != "VAR_229" {
		t.Fatalf("listed %d variables", len(vars))
	}
	envs, err := env.c.Environments(ctx, "acme", "api")
	if err != nil || len(envs) != 15 {
		t.Fatalf("listed %d environments, %v", len(envs), err)
	}
	if n := env.emu.Faults.Calls()["GET /2.0/repositories/acme/api/pipelines_config/variables"]; n != 3 {
		t.Errorf("variable pages fetched = %d, want 3 (100 a page)", n)
	}
}

func TestBitbucketErrors(t *testing.T) {
	ctx := context.Background()
	set := func(c *clients.BitbucketClient) error {
		_, err := c.SetRepositoryVariable(ctx, "acme", "api", "AWS_SECRET_ACCESS_KEY", awsSecret, true)
		return err
	}
	tests := []struct {
		name      string
		fault     *faults.Rule
		call      func(env bbEnv) error
		status    int
		msg       string
		permanent bool
		wait      time.Duration
	}{
		{name: "bad token", status: 401, msg: "Token is invalid", permanent: true, call: func(env bbEnv) error {
			return set(clients.NewBitbucketClient(env.url+"/2.0/", "wrong", nil))
		}},
		{name: "token without pipeline:variable", status: 403, msg: "lack one or more required privilege scopes", permanent: true, call: func(env bbEnv) error {
			env.emu.AddToken("read-only", bitbucketemu.ScopeRepository, bitbucketemu.ScopePipeline)
			return set(clients.NewBitbucketClient(env.url, "read-only", nil))
		}},
		{name: "unknown repository", status: 404, msg: "Repository acme/nope not found", permanent: true, call: func(env bbEnv) error {
			_, err := env.c.RepositoryVariables(ctx, "acme", "nope")
			return err
		}},
		{name: "unknown variable", status: 404, msg: "Variable not found", permanent: true, call: func(env bbEnv) error {
			_, err := env.c.UpdateRepositoryVariable(ctx, "acme", "api", "{00000000-0000-4000-8000-000000000000}", "AWS_SECRET_ACCESS_KEY", awsSecret, true)
			return err
		}},
		{name: "unknown environment", status: 404, msg: "Environment not found", permanent: true, call: func(env bbEnv) error {
			_, err := env.c.CreateDeploymentVariable(ctx, "acme", "api", "{nope}", "AWS_SECRET_ACCESS_KEY", awsSecret, true)
			return err
		}},
		{name: "key starting with a digit", status: 400, msg: "cannot start with a digit", permanent: true, call: func(env bbEnv) error {
			_, err := env.c.CreateRepositoryVariable(ctx, "acme", "api", "9LIVES", awsSecret, true)
			return err
		}},
		{name: "key with a dash", status: 400, msg: "ASCII letters, digits and underscores", permanent: true, call: func(env bbEnv) error {
			_, err := env.c.CreateRepositoryVariable(ctx, "acme", "api", "AWS-KEY", awsSecret, true)
			return err
		}},
		{name: "rate limited without Retry-After", status: 429, msg: bitbucketemu.RateLimitMessage,
			fault: ptr(bitbucketemu.RateLimit("", 1)), call: func(env bbEnv) error { return set(env.c) }},
		{name: "rate limited with Retry-After", status: 429, msg: bitbucketemu.RateLimitMessage, wait: 30 * time.Second,
			fault: func() *faults.Rule {
				r := bitbucketemu.RateLimit("POST ", 1)
				r.RetryAfter = 30 * time.Second
				return &r
			}(),
			call: func(env bbEnv) error { return set(env.c) }},
		{name: "server error", status: 500, fault: &faults.Rule{Op: "PUT ", Status: 500, Times: 1}, call: func(env bbEnv) error {
			if _, err := env.emu.SetRepositoryVariable(bbRepo, "AWS_SECRET_ACCESS_KEY", "old", true); err != nil {
				return err
			}
			return set(env.c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setupBitbucket(t)
			if tt.fault != nil {
				env.emu.Faults.Add(*tt.fault)
			}
			err := tt.call(env)
			he := httpErr(t, err)
			noSecrets(t, err, awsSecret.Reveal(), bbTok)
			if he.Provider != "bitbucket" || he.StatusCode != tt.status || !strings.Contains(he.Message, tt.msg) {
				t.Fatalf("got %v (status %d, message %q), want %d with %q", err, he.StatusCode, he.Message, tt.status, tt.msg)
			}
			if he.Permanent() != tt.permanent || he.Temporary() == tt.permanent {
				t.Errorf("Permanent() = %v, Temporary() = %v, want permanent %v", he.Permanent(), he.Temporary(), tt.permanent)
			}
			if got := he.Wait(time.Now()); got != tt.wait {
				t.Errorf("Wait = %v, want %v", got, tt.wait)
			}
			if tt.status == 429 && !he.RateLimited() {
				t.Error("a 429 is not RateLimited")
			}
		})
	}
}

// TestBitbucketNextLinkStaysHome: a next link to another host is not
// followed (the token would go with it).
func TestBitbucketNextLinkStaysHome(t *testing.T) {
	var foreign atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign.Add(1)
		_, _ = w.Write([]byte(`{"values":[]}`))
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"values":[{"uuid":"{1}","key":"A","secured":true}],"next":%q}`, other.URL+"/2.0/repositories/acme/api/pipelines_config/variables?page=2")
	}))
	defer home.Close()
	c := clients.NewBitbucketClient(home.URL, bbTok, nil)
	_, err := c.RepositoryVariables(context.Background(), "acme", "api")
	if err == nil || !strings.Contains(err.Error(), "not following") {
		t.Fatalf("err = %v", err)
	}
	if foreign.Load() != 0 {
		t.Fatal("the client followed a next link to another host")
	}
}
