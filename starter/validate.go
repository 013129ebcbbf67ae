package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/preflight"
	"github.com/keyrotor/keyrotor/internal/report"
	"github.com/keyrotor/keyrotor/worker/compose"
)

func validateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("validate", "validate --config FILE [--check-access] [--oidc-hints [--output text|json]]")
	configPath := fs.String("config", "", "keyrotor configuration file (required)")
	checkAccess := fs.Bool("check-access", false,
		"also check, with the worker's AWS credentials (the SDK's default chain: AWS_PROFILE,\n"+
			"AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_IAM/_STS, ...), that every account's roleArn can be\n"+
			"assumed and that every configured user exists and may be rotated (read-only calls only:\n"+
			"GetCallerIdentity, ListAccessKeys, GetUser and SimulatePrincipalPolicy; without the last two\n"+
			"some actions are reported unknown); then, with the worker's tokens, that every target can be\n"+
			"reached and written (each kind's read-only check, e.g. GitHub's secrets public key, GitLab's\n"+
			"variable list). Exit status 1 if anything is missing. Without this flag nothing is contacted")
	oidcHints := fs.Bool("oidc-hints", false,
		"print, per target, how its pipelines could use OIDC instead of a long-lived key: the IAM OIDC\n"+
			"provider, the role's trust policy (audience and subject scoped to the repository, project or\n"+
			"workspace) and what the pipeline sets; migrate target by target, then remove the target.\n"+
			"Nothing is contacted")
	discoverFlag := fs.Bool("discover", false,
		"also list the users each selector finds and their rendered targets, with the worker's AWS\n"+
			"credentials (read-only: ListUsers and ListUserTags); exit status 1 if a user is skipped")
	output := fs.String("output", "text", "with --oidc-hints or --discover: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return usageError("--config is required")
	}
	if *output != "text" && *output != "json" {
		return usageError("--output %q: want text or json", *output)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if *oidcHints {
		hints := preflight.OIDCHints(cfg)
		if *output == "json" {
			return writeJSON(stdout, hints)
		}
		return report.OIDCHints(stdout, hints)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	targets := 0
	for _, r := range cfg.Rotations {
		targets += len(r.Targets)
	}
	selectors := ""
	if len(cfg.Selectors) > 0 {
		selectors = fmt.Sprintf(", %d selectors", len(cfg.Selectors))
	}
	fmt.Fprintf(stdout, "%s: OK: %d accounts, %d rotations%s, %d targets\n", cfg.File, len(cfg.Accounts), len(cfg.Rotations), selectors, targets)
	if *discoverFlag {
		res, err := discoverAll(ctx, cfg)
		if err != nil {
			return err
		}
		if *output == "json" {
			if err := writeJSON(stdout, res); err != nil {
				return err
			}
		} else {
			printDiscovered(stdout, res)
		}
		if err := res.Err(); err != nil && !*checkAccess {
			return err
		}
	}
	if !*checkAccess {
		return nil
	}
	awsErr := checkAWSAccess(ctx, cfg, stdout)
	targetErr := checkTargetAccess(ctx, cfg, stdout)
	return errors.Join(awsErr, targetErr)
}

// checkTargetAccess prints every target's read-only check and fails when
// one could not be written.
func checkTargetAccess(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	checks, err := compose.CheckTargets(ctx, cfg)
	if err != nil {
		return err
	}
	failed, err := report.TargetChecks(stdout, checks)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("target access: %d of %d targets cannot be written (see above)", failed, len(checks))
	}
	fmt.Fprintln(stdout, "target access: OK")
	return nil
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
	enc.SetEscapeHTML(false) // placeholders such as <ACCOUNT_ID> stay readable
	return enc.Encode(v)
}
