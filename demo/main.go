// Command demo runs a real rotation on one machine: a Temporal dev server
// with its Web UI, the IAM/STS, GitHub and GitLab emulators seeded with a
// demo user and five targets, and the real worker. It prints the report and
// the UI link, then keeps everything up until Ctrl-C (or exits with --exit).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
	"github.com/keyrotor/keyrotor/internal/report"
	"github.com/keyrotor/keyrotor/worker/compose"
)

const demoUser = "ci-deployer"

func main() {
	exit := flag.Bool("exit", false, "exit after the report (status 0 only if the rotation succeeded) instead of waiting for Ctrl-C")
	grace := flag.Duration("grace", 5*time.Second, "grace period before the old key is deactivated")
	deleteAfter := flag.Duration("delete-after", 5*time.Second, "how long the old key stays deactivated before deletion")
	allKinds := flag.Bool("all-kinds", false, "also push to one target of every other kind (AWS Secrets Manager and SSM, Kubernetes, HCP Terraform, CircleCI, Bitbucket, Travis CI), each on its emulator")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	targets := devstack.DemoTargets()
	if *allKinds {
		targets = append(targets, devstack.AllKindTargets()...)
	}
	if err := run(ctx, *exit, *grace, *deleteAfter, targets); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, exit bool, grace, deleteAfter time.Duration, targets []model.Target) error {
	dir := ".demo"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keys, err := demoKeys(dir)
	if err != nil {
		return err
	}
	step("starting the codec server (the Temporal server only ever sees ciphertext)")
	uiPort := freePortOr("8233")
	codecURL, stopCodec, err := startCodecServer(keys, uiPort)
	if err != nil {
		return err
	}
	defer stopCodec()

	step("starting the Temporal dev server (with its Web UI)")
	logPath := filepath.Join(dir, "temporal.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UI: true, UIPort: uiPort, Port: freePortOr("7233"), Output: logFile, CodecEndpoint: codecURL})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	c, err := devstack.Dial(srv, keys, compose.WorkerInputs()...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("    Temporal at %s, Web UI at http://localhost:%s (it decodes payloads through the codec server); its log: %s\n", srv.FrontendHostPort(), uiPort, logPath)

	step("starting the provider emulators (IAM/STS, GitHub, GitLab and the other target kinds)")
	emu := devstack.StartEmulators()
	defer emu.Close()
	old, err := emu.SeedUser(demoUser, targets)
	if err != nil {
		return err
	}
	fmt.Printf("    IAM user %s has key %s; %d targets wait for its replacement\n", demoUser, old.ID, len(targets))

	policy := model.DefaultPolicy
	policy.GracePeriod, policy.DeleteAfter = grace, deleteAfter
	policy.IdleRecheck, policy.IdleChecks = time.Second, 2
	cfgPath, err := emu.WriteConfig(dir, devstack.ConfigSpec{Users: map[string][]model.Target{demoUser: targets}, Policy: policy})
	if err != nil {
		return err
	}
	cfg, err := emu.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	fmt.Printf("    configuration: %s\n", cfgPath)
	keyFile, err := filepath.Abs(filepath.Join(dir, "codec.key"))
	if err != nil {
		return err
	}
	envPath, err := emu.WriteEnv(dir, "TEMPORAL_ADDRESS="+srv.FrontendHostPort(), "TEMPORAL_NAMESPACE=default", "KEYROTOR_CODEC_KEY_FILE="+keyFile)
	if err != nil {
		return err
	}
	fmt.Printf("    environment for bin/starter and bin/temporal from another terminal: . %s\n", envPath)

	step("starting the worker")
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := compose.NewWorker(ctx, c, cfg, compose.Options{AWS: emu.AWSOptions(), Logger: quiet, Keys: keys})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	rot, err := cfg.Rotation("", demoUser)
	if err != nil {
		return err
	}
	step("rotating " + rot.WorkflowID())
	started, err := operator.StartRotation(ctx, c, cfg.TaskQueue, rot)
	if err != nil {
		return err
	}
	link := fmt.Sprintf("http://localhost:%s/namespaces/default/workflows/%s/%s/history", uiPort, url.PathEscape(started.WorkflowID), started.RunID)
	fmt.Printf("    watch it in the Temporal UI: %s\n", link)
	st, rotErr := waitShowingPhases(ctx, c, started)
	if ctx.Err() != nil {
		// Ctrl-C before the rotation ended: say where it stands, from the
		// rotation itself (the wait was cut short, it has no report).
		stopped(c, started)
		return nil
	}

	fmt.Println()
	_ = report.Text(os.Stdout, st)
	fmt.Println()
	checkErr := verify(emu, old, targets, st)
	fmt.Printf("Temporal UI: %s\n", link)
	if rotErr == nil && checkErr != nil {
		rotErr = checkErr
	}
	if exit {
		return rotErr
	}
	if rotErr != nil {
		fmt.Println("\nThe rotation failed:", rotErr)
	}
	fmt.Println("\nEverything stays up so you can look around in the UI. Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// stopped tells, after Ctrl-C, where the rotation stands. The dev server
// stops with the demo, and the rotation with it.
func stopped(c client.Client, started operator.Started) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	fmt.Println("\nThe demo was stopped (Ctrl-C) before the rotation ended.")
	st, err := operator.Status(ctx, c, started.WorkflowID)
	if err != nil {
		fmt.Printf("Rotation %s: could not read its status (%v).\n", started.WorkflowID, err)
		return
	}
	fmt.Printf("Rotation %s was in phase %s", started.WorkflowID, st.Phase)
	if st.Waiting != "" {
		fmt.Printf(" (waiting: %s)", st.Waiting)
	}
	fmt.Println("; the demo's dev server stops with it, so nothing is left running.")
}

// waitShowingPhases waits for the rotation, printing each phase as it starts.
func waitShowingPhases(ctx context.Context, c client.Client, started operator.Started) (contract.Status, error) {
	done := make(chan struct{})
	go func() {
		last := contract.Phase("")
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				st, err := operator.Status(ctx, c, started.WorkflowID)
				if err == nil && st.Phase != last {
					last = st.Phase
					fmt.Printf("    … %s\n", st.Phase)
				}
			}
		}
	}()
	st, err := operator.Wait(ctx, c, started)
	close(done)
	return st, err
}

// verify checks the end state against the emulators, as an auditor would.
func verify(emu *devstack.Emulators, old model.NewAccessKey, targets []model.Target, st contract.Status) error {
	passed, err := emu.CheckRotated(demoUser, st.NewKeyID, old, targets)
	for _, p := range passed {
		fmt.Println("Check: " + p)
	}
	return err
}

// demoKeys loads the demo's payload key, making one on the first run.
func demoKeys(dir string) (*codec.Keyring, error) {
	path := filepath.Join(dir, "codec.key")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := codec.GenerateKeyFile(path); err != nil {
			return nil, err
		}
		fmt.Printf("    made a payload encryption key: %s\n", path)
	}
	return codec.LoadKeyring([]string{path})
}

// startCodecServer serves the codec to the Web UI on loopback. The UI
// cannot send a bearer token, so the random token is the endpoint's first
// path segment; the endpoint is handed to the dev server (on its command
// line, so local users see it in ps: the demo's data is made up) and never
// printed.
func startCodecServer(keys *codec.Keyring, uiPort string) (endpoint string, stop func(), err error) {
	token := make([]byte, 18)
	if _, err := rand.Read(token); err != nil {
		return "", nil, err
	}
	tok := hex.EncodeToString(token)
	h, err := codec.NewHTTPHandler(keys, codec.ServerOptions{
		Token:          model.Secret(tok),
		AllowedOrigins: []string{"http://localhost:" + uiPort, "http://127.0.0.1:" + uiPort},
	})
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := codec.NewHTTPServer(h)
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/" + tok, func() { _ = srv.Close() }, nil
}

// freePortOr returns port if nothing listens on it, else a free one.
func freePortOr(port string) string {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return port
		}
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }
