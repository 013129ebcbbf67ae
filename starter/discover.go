package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/discover"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// discoverAll runs the config's selectors with the rotator's AWS
// credentials (the SDK's default chain, then each account's roleArn), the
// same discovery the worker runs. Read-only: ListUsers and ListUserTags.
func discoverAll(ctx context.Context, cfg *config.Config) (discover.Result, error) {
	if len(cfg.Selectors) == 0 {
		return discover.Result{Matched: map[string]bool{}}, nil
	}
	aws, err := clients.NewAWSForConfig(ctx, cfg)
	if err != nil {
		return discover.Result{}, err
	}
	return discover.Run(ctx, cfg, discover.FromAWS(aws)), nil
}

// resolveRotation is the rotation of user in account: the one the file
// names, else the one a selector finds.
func resolveRotation(ctx context.Context, cfg *config.Config, account, user string) (model.Rotation, error) {
	r, err := cfg.Rotation(account, user)
	if err == nil || len(cfg.Selectors) == 0 {
		return r, err
	}
	res, derr := discoverAll(ctx, cfg)
	if derr != nil {
		return r, fmt.Errorf("%w; and the selectors could not run: %v", err, derr)
	}
	if f, ok := res.Lookup(account, user); ok {
		return f.Rotation, nil
	}
	for _, p := range res.Problems {
		if strings.EqualFold(p.User, user) && (account == "" || p.Account == account) {
			return r, p
		}
	}
	if e := res.Err(); e != nil {
		return r, fmt.Errorf("%w; no selector finds it (%v)", err, e)
	}
	return r, fmt.Errorf("%w; no selector finds it either", err)
}

// syncInput runs discovery for schedules sync, printing its problems.
func syncInput(ctx context.Context, cfg *config.Config, stderr io.Writer) (operator.Discovered, error) {
	res, err := discoverAll(ctx, cfg)
	if err != nil {
		return operator.Discovered{}, err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stderr, "warning:", p.Msg)
	}
	d := operator.Discovered{Keep: res.Matched, KeepAccounts: res.FailedAccounts}
	for _, f := range res.Rotations {
		d.Rotations = append(d.Rotations, operator.DiscoveredRotation{Rotation: f.Rotation, Selector: f.SelectedBy})
	}
	return d, nil
}

// printDiscovered lists what the selectors find (validate --discover).
func printDiscovered(w io.Writer, res discover.Result) {
	for _, f := range res.Rotations {
		names := make([]string, len(f.Targets))
		for i, t := range f.Targets {
			names[i] = t.String()
		}
		fmt.Fprintf(w, "%s: %s in %s: %s\n", f.SelectedBy, f.User, f.Account, strings.Join(names, ", "))
	}
	for _, p := range res.Problems {
		fmt.Fprintln(w, "skipped:", p.Msg)
	}
	fmt.Fprintf(w, "discovered: %d users, %d skipped\n", len(res.Rotations), len(res.Problems))
}
