package clients_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/emulator/circleciemu"
	"github.com/keyrotor/keyrotor/internal/emulator/faults"
	"github.com/keyrotor/keyrotor/internal/model"
)

const (
	// awsSecret looks like a real AWS secret access key.
	awsSecret  = model.Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	awsSecret2 = model.Secret("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")
	circleTok  = "CCIPAT_Qm7TzR2vLx9KpW4nHs6Yb3Jd"
	project    = "gh/acme/api"
)

// circleEnv is an emulator with project gh/acme/api and one context, and a client for it.
type circleEnv struct {
	emu   *circleciemu.Emulator
	c     *clients.CircleCIClient
	url   string
	ctxID string
}

func setupCircleCI(t *testing.T) circleEnv {
	t.Helper()
	emu := circleciemu.New(circleTok)
	emu.AddProject(project)
	ctxID := emu.AddContext("aws")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return circleEnv{emu, clients.NewCircleCIClient(srv.URL, circleTok, srv.Client()), srv.URL, ctxID}
}

// httpErr returns err's *clients.HTTPError, failing the test when there is none.
func httpErr(t *testing.T, err error) *clients.HTTPError {
	t.Helper()
	var he *clients.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not an *clients.HTTPError", err, err)
	}
	return he
}

// noSecrets fails the test when err's text holds a secret or a piece of one.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(msg, s[i:i+8]) {
				t.Fatalf("error %q holds a piece of a secret", msg)
			}
		}
	}
}

func TestCircleCIProjectEnvVar(t *testing.T) {
	env := setupCircleCI(t)
	emu, c := env.emu, env.c
	ctx := context.Background()

	set, err := c.SetProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY", awsSecret)
	if err != nil {
		t.Fatal(err)
	}
	if set.Name != "AWS_SECRET_ACCESS_KEY" || set.MaskedValue != "xxxxEKEY" || !set.Confirms(awsSecret) || set.CreatedAt.IsZero() {
		t.Fatalf("set = %+v", set)
	}
	if v, ok := emu.ProjectEnvVar(project, "AWS_SECRET_ACCESS_KEY"); !ok || v.Value != awsSecret.Reveal() {
		t.Fatalf("emulator holds %+v, %v", v, ok)
	}

	// An update replaces the value; the read-back confirms it by its last four characters.
	if _, err := env.c.SetProjectEnvVar(ctx, "github/acme/api", "AWS_SECRET_ACCESS_KEY", "rotated-value-WXYZ"); err != nil {
		t.Fatal(err)
	}
	got, err := c.ProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY")
	if err != nil {
		t.Fatal(err)
	}
	if got.MaskedValue != "xxxxWXYZ" || !got.Confirms("rotated-value-WXYZ") || got.Confirms(awsSecret) {
		t.Fatalf("read back %+v", got)
	}
	if strings.Contains(fmt.Sprintf("%+v", got), "rotated") {
		t.Fatal("the read-back holds the value in the clear")
	}

	if err := c.DeleteProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY"); err != nil {
		t.Fatal(err)
	}
	_, err = env.c.ProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY")
	if he := httpErr(t, err); he.StatusCode != http.StatusNotFound || !he.Permanent() {
		t.Fatalf("after delete: %v", err)
	}
}

func TestCircleCIMask(t *testing.T) {
	for value, want := range map[model.Secret]string{"": "xxxx", "ab": "xxxxab", "abcd": "xxxxabcd", awsSecret: "xxxxEKEY"} {
		if got := clients.CircleCIMask(value); got != want || got != circleciemu.Mask(value.Reveal()) {
			t.Errorf("CircleCIMask(%q) = %q, emulator %q, want %q", value.Reveal(), got, circleciemu.Mask(value.Reveal()), want)
		}
	}
}

func TestCircleCIPagination(t *testing.T) {
	env := setupCircleCI(t)
	emu, c, ctxID := env.emu, env.c, env.ctxID
	ctx := context.Background()
	emu.SetPageSize(3)
	for i := range 8 {
		if err := emu.SetProjectEnvVar(project, fmt.Sprintf("VAR_%02d", i), fmt.Sprintf("value-%04d", i)); err != nil {
			t.Fatal(err)
		}
		if err := emu.SetContextEnvVar(ctxID, fmt.Sprintf("VAR_%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	vars, err := c.ProjectEnvVars(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != 8 || vars[0].Name != "VAR_00" || vars[7].Name != "VAR_07" || vars[7].MaskedValue != "xxxx0007" {
		t.Fatalf("listed %+v", vars)
	}
	cvars, err := c.ContextEnvVars(ctx, ctxID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cvars) != 8 {
		t.Fatalf("listed %d context variables, want 8", len(cvars))
	}
	calls := emu.Faults.Calls()
	if n := calls["GET /api/v2/project/gh/acme/api/envvar"]; n != 3 {
		t.Errorf("project list pages fetched = %d, want 3 (calls %v)", n, calls)
	}
	if n := calls["GET /api/v2/context/"+ctxID+"/environment-variable"]; n != 3 {
		t.Errorf("context list pages fetched = %d, want 3 (calls %v)", n, calls)
	}
}

func TestCircleCIContextEnvVar(t *testing.T) {
	env := setupCircleCI(t)
	emu, c, ctxID := env.emu, env.c, env.ctxID
	ctx := context.Background()

	first, err := c.SetContextEnvVar(ctx, ctxID, "AWS_SECRET_ACCESS_KEY", awsSecret)
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "AWS_SECRET_ACCESS_KEY" || first.ContextID != ctxID || first.UpdatedAt.IsZero() {
		t.Fatalf("set = %+v", first)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := env.c.SetContextEnvVar(ctx, ctxID, "AWS_SECRET_ACCESS_KEY", awsSecret2); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.ContextEnvVar(ctx, ctxID, "AWS_SECRET_ACCESS_KEY")
	if err != nil || !found {
		t.Fatalf("read back: %+v, %v, %v", got, found, err)
	}
	if !got.UpdatedAt.After(first.UpdatedAt) || !got.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("update: created %v -> %v, updated %v -> %v", first.CreatedAt, got.CreatedAt, first.UpdatedAt, got.UpdatedAt)
	}
	if v, _ := emu.ContextEnvVar(ctxID, "AWS_SECRET_ACCESS_KEY"); v.Value != awsSecret2.Reveal() {
		t.Errorf("emulator holds %q", v.Value)
	}
	if _, found, err := c.ContextEnvVar(ctx, ctxID, "NOPE"); err != nil || found {
		t.Errorf("unknown variable: found %v, %v", found, err)
	}
	if err := c.DeleteContextEnvVar(ctx, ctxID, "AWS_SECRET_ACCESS_KEY"); err != nil {
		t.Fatal(err)
	}
}

func TestCircleCIErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		fault     *faults.Rule
		call      func(env circleEnv) error
		status    int
		msg       string
		permanent bool
		wait      time.Duration
	}{
		{name: "bad token", status: 401, msg: "You must log in first.", permanent: true, call: func(env circleEnv) error {
			bad := clients.NewCircleCIClient(env.url, "wrong-token", nil)
			_, err := bad.SetProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY", awsSecret)
			return err
		}},
		{name: "unknown project", status: 404, msg: "Project not found", permanent: true, call: func(env circleEnv) error {
			_, err := env.c.SetProjectEnvVar(ctx, "gh/acme/nope", "AWS_SECRET_ACCESS_KEY", awsSecret)
			return err
		}},
		{name: "unknown variable", status: 404, msg: "Environment variable not found.", permanent: true, call: func(env circleEnv) error {
			_, err := env.c.ProjectEnvVar(ctx, project, "NOPE")
			return err
		}},
		{name: "unknown context", status: 404, msg: "Context not found", permanent: true, call: func(env circleEnv) error {
			_, err := env.c.SetContextEnvVar(ctx, "00000000-0000-4000-8000-000000000000", "AWS_SECRET_ACCESS_KEY", awsSecret)
			return err
		}},
		{name: "name starting with a digit", status: 400, msg: "must start with a letter or underscore", permanent: true, call: func(env circleEnv) error {
			_, err := env.c.SetProjectEnvVar(ctx, project, "1AWS_KEY", awsSecret)
			return err
		}},
		{name: "name with a dash in a context", status: 400, msg: "must start with a letter or underscore", permanent: true, call: func(env circleEnv) error {
			_, err := env.c.SetContextEnvVar(ctx, env.ctxID, "AWS-KEY", awsSecret)
			return err
		}},
		{name: "rate limited", status: 429, msg: "Too many requests", wait: 7 * time.Second,
			fault: ptr(circleciemu.RateLimit("POST ", 7*time.Second, 1)), call: func(env circleEnv) error {
				_, err := env.c.SetProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY", awsSecret)
				return err
			}},
		{name: "server error", status: 502, fault: &faults.Rule{Op: "GET ", Status: 502, Times: 1}, call: func(env circleEnv) error {
			_, err := env.c.ProjectEnvVars(ctx, project)
			return err
		}},
		{name: "a provider echoing the value is redacted", status: 400, msg: "[REDACTED]", permanent: true,
			fault: &faults.Rule{Op: "POST ", Status: 400, Times: 1, Body: `{"message":"value ` + awsSecret.Reveal() + ` and ` + awsSecret.Reveal()[3:15] + ` refused"}`},
			call: func(env circleEnv) error {
				_, err := env.c.SetProjectEnvVar(ctx, project, "AWS_SECRET_ACCESS_KEY", awsSecret)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setupCircleCI(t)
			if tt.fault != nil {
				env.emu.Faults.Add(*tt.fault)
			}
			err := tt.call(env)
			he := httpErr(t, err)
			noSecrets(t, err, awsSecret.Reveal(), circleTok)
			if he.Provider != "circleci" || he.StatusCode != tt.status || !strings.Contains(he.Message, tt.msg) {
				t.Fatalf("got %v (status %d, message %q), want %d with %q", err, he.StatusCode, he.Message, tt.status, tt.msg)
			}
			if he.Permanent() != tt.permanent || he.Temporary() == tt.permanent {
				t.Errorf("Permanent() = %v, Temporary() = %v, want permanent %v", he.Permanent(), he.Temporary(), tt.permanent)
			}
			if got := he.Wait(time.Now()); got != tt.wait || he.RateLimited() != (tt.wait > 0) {
				t.Errorf("Wait = %v, RateLimited = %v, want %v", got, he.RateLimited(), tt.wait)
			}
		})
	}
}

func TestCircleCIEmptyArguments(t *testing.T) {
	env := setupCircleCI(t)
	if _, err := env.c.SetProjectEnvVar(context.Background(), project, "", awsSecret); err == nil || errors.As(err, new(*clients.HTTPError)) {
		t.Fatalf("empty name: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
