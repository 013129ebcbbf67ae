package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/preflight"
	"github.com/keyrotor/keyrotor/internal/report"
)

func validateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("validate", "validate --config FILE [--check-access]")
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	checkAccess := fs.Bool("check-access", false,
		"also check, with the worker's AWS credentials (the SDK's default chain: AWS_PROFILE,\n"+
			"AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_IAM/_STS, ...), that every account's roleArn can be\n"+
			"assumed and that every configured user exists and may be rotated. Read-only calls only:\n"+
			"GetCallerIdentity, ListAccessKeys, GetUser and SimulatePrincipalPolicy (the last two are\n"+
			"optional; without them some actions are reported unknown). Exit status 1 if anything is missing.\n"+
			"Without this flag nothing is contacted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return usageError("--config is required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	targets := 0
	for _, r := range cfg.Rotations {
		targets += len(r.Targets)
	}
	fmt.Fprintf(stdout, "%s: OK: %d accounts, %d rotations, %d targets\n", cfg.File, len(cfg.Accounts), len(cfg.Rotations), targets)
	if !*checkAccess {
		return nil
	}
	return checkAWSAccess(ctx, cfg, stdout)
}

// checkAWSAccess prints the access report and fails when a rotation could
// not succeed. Unknown actions are reported but do not fail the check: the
// rotator's least-privilege policy does not let it simulate its own policy.
func checkAWSAccess(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	newClients, err := preflight.NewAWSClients(ctx, cfg)
	if err != nil {
		return err
	}
	rep, err := preflight.Check(ctx, cfg, newClients)
	if err != nil {
		return err
	}
	if err := report.Preflight(stdout, rep); err != nil {
		return err
	}
	if missing := rep.Missing(); len(missing) > 0 {
		return fmt.Errorf("AWS access: %d problem(s):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if n := rep.Unknown(); n > 0 {
		fmt.Fprintf(stdout, "AWS access: nothing missing; %d action(s) could not be checked (see deploy/README.md)\n", n)
		return nil
	}
	fmt.Fprintln(stdout, "AWS access: OK")
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
