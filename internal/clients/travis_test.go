package clients_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/emulator/travisemu"
)

const (
	travisTok  = "Tq8vNz3KwL5pXr7YcB2mHf9D"
	travisRepo = "acme/api"
)

type travisEnv struct {
	emu *travisemu.Emulator
	c   *clients.TravisClient
	url string
	id  int
}

func setupTravis(t *testing.T) travisEnv {
	t.Helper()
	emu := travisemu.New(travisTok)
	id := emu.AddRepository(travisRepo)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return travisEnv{emu, clients.NewTravisClient(srv.URL, travisTok, srv.Client()), srv.URL, id}
}

func TestTravisEnvVar(t *testing.T) {
	env := setupTravis(t)
	ctx := context.Background()

	created, err := env.c.SetEnvVar(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY", awsSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Name != "AWS_SECRET_ACCESS_KEY" || created.Public || created.Value != "" || created.Branch != "" {
		t.Fatalf("created %+v", created)
	}
	if v, _ := env.emu.EnvVar(travisRepo, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret.Reveal() || v.ID != created.ID {
		t.Fatalf("emulator holds %+v", v)
	}

	// A second push updates the same variable; a private value never comes back.
	updated, err := env.c.SetEnvVar(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY", awsSecret2, false)
	if err != nil || updated.ID != created.ID || updated.Value != "" {
		t.Fatalf("update: %+v, %v", updated, err)
	}
	read, err := env.c.EnvVar(ctx, travisRepo, created.ID)
	if err != nil || read.Name != "AWS_SECRET_ACCESS_KEY" || read.Value != "" || read.Public {
		t.Fatalf("read back %+v, %v", read, err)
	}
	if v, _ := env.emu.EnvVar(travisRepo, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret2.Reveal() {
		t.Fatalf("emulator holds %q", v.Value)
	}

	// The numeric ID addresses the same repository; a public value is shown.
	pub, err := env.c.CreateEnvVar(ctx, fmt.Sprint(env.id), "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", true)
	if err != nil || pub.Value != "AKIAIOSFODNN7EXAMPLE" || !pub.Public {
		t.Fatalf("public variable: %+v, %v", pub, err)
	}

	// A branch-specific variable of the same name is a different variable.
	if _, err := env.emu.SetEnvVar(travisRepo, travisemu.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: "x", Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	got, found, err := env.c.EnvVarByName(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY")
	if err != nil || !found || got.ID != created.ID {
		t.Fatalf("by name: %+v, %v, %v", got, found, err)
	}

	// Creating a name the repository has (for every branch) is Travis's 409.
	_, err = env.c.CreateEnvVar(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY", awsSecret, false)
	he := httpErr(t, err)
	noSecrets(t, err, awsSecret.Reveal(), travisTok)
	if he.StatusCode != http.StatusConflict || he.Code != "duplicate_resource" || he.Message != "resource already exists" {
		t.Fatalf("duplicate: %v", err)
	}

	if err := env.c.DeleteEnvVar(ctx, travisRepo, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := env.c.EnvVarByName(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY"); found {
		t.Fatal("deleted variable still listed")
	}
}

// TestTravisListIsOnePage: Travis's env_vars list is not paginated; a
// repository with many variables answers them all at once.
func TestTravisListIsOnePage(t *testing.T) {
	env := setupTravis(t)
	for i := range 60 {
		if _, err := env.emu.SetEnvVar(travisRepo, travisemu.EnvVar{Name: fmt.Sprintf("VAR_%02d", i), Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := env.c.EnvVars(context.Background(), travisRepo)
	if err != nil || len(all) != 60 {
		t.Fatalf("listed %d, %v", len(all), err)
	}
	if n := env.emu.Faults.Total(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestTravisErrors(t *testing.T) {
	ctx := context.Background()
	set := func(c *clients.TravisClient) error {
		_, err := c.SetEnvVar(ctx, travisRepo, "AWS_SECRET_ACCESS_KEY", awsSecret, false)
		return err
	}
	tests := []struct {
		name      string
		fault     *faults.Rule
		call      func(env travisEnv) error
		status    int
		code, msg string
		permanent bool
		wait      time.Duration
	}{
		{name: "bad token", status: 403, code: "wrong_credentials", msg: "access denied", permanent: true, call: func(env travisEnv) error {
			return set(clients.NewTravisClient(env.url, "wrong", nil))
		}},
		{name: "read-only token", status: 403, code: "insufficient_access", msg: "operation requires create_env_var access to repository", permanent: true,
			call: func(env travisEnv) error {
				env.emu.AddToken("reader", travisemu.ReadOnly)
				return set(clients.NewTravisClient(env.url, "reader", nil))
			}},
		{name: "unknown repository", status: 404, code: "not_found", msg: "repository not found (or insufficient access)", permanent: true,
			call: func(env travisEnv) error {
				_, err := env.c.EnvVars(ctx, "acme/nope")
				return err
			}},
		{name: "unknown variable", status: 404, code: "not_found", msg: "env_var not found (or insufficient access)", permanent: true,
			call: func(env travisEnv) error {
				_, err := env.c.UpdateEnvVar(ctx, travisRepo, "00000000-0000-4000-8000-000000000000", awsSecret)
				return err
			}},
		{name: "rate limited", status: 429, msg: "Retry later", fault: ptr(travisemu.RateLimit("", 1)),
			call: func(env travisEnv) error { return set(env.c) }},
		{name: "rate limited with Retry-After", status: 429, msg: "Retry later", wait: 3 * time.Second,
			fault: func() *faults.Rule { r := travisemu.RateLimit("POST ", 1); r.RetryAfter = 3 * time.Second; return &r }(),
			call:  func(env travisEnv) error { return set(env.c) }},
		{name: "server error", status: 503, fault: &faults.Rule{Op: "GET ", Status: 503, Times: 1},
			call: func(env travisEnv) error { return set(env.c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setupTravis(t)
			if tt.fault != nil {
				env.emu.Faults.Add(*tt.fault)
			}
			err := tt.call(env)
			he := httpErr(t, err)
			noSecrets(t, err, awsSecret.Reveal(), travisTok)
			if he.Provider != "travis" || he.StatusCode != tt.status || he.Code != tt.code || !strings.Contains(he.Message, tt.msg) {
				t.Fatalf("got %v (status %d, code %q, message %q), want %d %q %q", err, he.StatusCode, he.Code, he.Message, tt.status, tt.code, tt.msg)
			}
			if he.Permanent() != tt.permanent || he.Temporary() == tt.permanent {
				t.Errorf("Permanent() = %v, Temporary() = %v, want permanent %v", he.Permanent(), he.Temporary(), tt.permanent)
			}
			if got := he.Wait(time.Now()); got != tt.wait {
				t.Errorf("Wait = %v, want %v", got, tt.wait)
			}
		})
	}
}

// UpdatePrivateEnvVar writes the value and makes a public variable private
// in one request: the value is not shown afterwards.
func TestTravisUpdatePrivateEnvVar(t *testing.T) {
	env := setupTravis(t)
	ctx := context.Background()
	id, err := env.emu.SetEnvVar(travisRepo, travisemu.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: "old", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.c.UpdatePrivateEnvVar(ctx, travisRepo, id, awsSecret)
	if err != nil || got.ID != id || got.Public || got.Value != "" {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if v, _ := env.emu.EnvVar(travisRepo, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret.Reveal() || v.Public {
		t.Fatalf("emulator holds %+v", v)
	}
	if env.emu.Faults.Calls()["PATCH /repo/acme/api/env_var/"+id] != 1 {
		t.Fatalf("calls: %v", env.emu.Faults.Calls())
	}
}
