package compose

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/preflight"
)

// CheckTargets runs every configured target's read-only preflight with the
// worker's own connections (the same clients the worker would build): can
// the worker's credentials reach each target, and write it? Nothing is
// changed anywhere.
func CheckTargets(ctx context.Context, cfg *config.Config, awsOpts ...func(*awsconfig.LoadOptions) error) ([]preflight.TargetReport, error) {
	accounts := make([]clients.AWSAccount, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		accounts = append(accounts, clients.AWSAccount{Name: a.Name, Region: a.Region, RoleARN: a.RoleARN})
	}
	aws, err := clients.NewAWS(ctx, accounts, awsOpts...)
	if err != nil {
		return nil, fmt.Errorf("AWS clients: %w", err)
	}
	kinds, err := targetKinds(cfg, cfg, aws, Options{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	targets := activities.NewTargets(kinds...)
	var out []preflight.TargetReport
	for _, r := range cfg.Rotations {
		for _, c := range activities.CheckTargets(ctx, targets, r) {
			out = append(out, preflight.TargetReport{Account: r.Account, User: r.User, Target: c.Target, OK: c.OK, Detail: c.Detail})
		}
	}
	return out, nil
}
