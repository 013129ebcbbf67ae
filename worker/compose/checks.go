package compose

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/preflight"
)

// CheckTargets runs every configured target's read-only preflight with the
// worker's own connections (the same clients the worker would build): can
// the worker's credentials reach each target, and write it? Nothing is
// changed anywhere.
func CheckTargets(ctx context.Context, cfg *config.Config, awsOpts ...func(*awsconfig.LoadOptions) error) ([]preflight.TargetReport, error) {
	targets, err := checkingTargets(ctx, cfg, awsOpts)
	if err != nil {
		return nil, err
	}
	var out []preflight.TargetReport
	for _, r := range cfg.Rotations {
		for _, c := range activities.CheckTargets(ctx, targets, r) {
			out = append(out, preflight.TargetReport{Account: r.Account, User: r.User, Target: c.Target, OK: c.OK, Detail: c.Detail})
		}
	}
	return out, nil
}

// PlanTargets is the targets' part of a dry run of rots: per rotation (in
// the order of rots), what each target would be written and how the write
// confirmed (activities.Plan), and the target's read-only preflight with
// the worker's own connections, as CheckTargets runs it. Nothing is
// changed anywhere.
func PlanTargets(ctx context.Context, cfg *config.Config, rots []model.Rotation, awsOpts ...func(*awsconfig.LoadOptions) error) ([][]preflight.PlannedTarget, error) {
	targets, err := checkingTargets(ctx, cfg, awsOpts)
	if err != nil {
		return nil, err
	}
	out := make([][]preflight.PlannedTarget, len(rots))
	for i, r := range rots {
		checks := activities.CheckTargets(ctx, targets, r)
		for j, t := range r.Targets {
			p := activities.Plan(t, r.SecretNames)
			out[i] = append(out[i], preflight.PlannedTarget{
				Target: p.Target, Kind: string(p.Kind), Names: p.Names, Where: p.Where, Detail: p.Detail,
				Restarts: p.Restarts, ConfirmedBy: p.ConfirmedBy,
				Access: preflight.TargetAccess{OK: checks[j].OK, Detail: checks[j].Detail},
			})
		}
	}
	return out, nil
}

// checkingTargets builds the worker's target kinds over cfg's connections,
// for their read-only checks.
func checkingTargets(ctx context.Context, cfg *config.Config, awsOpts []func(*awsconfig.LoadOptions) error) (*activities.Targets, error) {
	aws, err := clients.NewAWSForConfig(ctx, cfg, awsOpts...)
	if err != nil {
		return nil, fmt.Errorf("AWS clients: %w", err)
	}
	kinds, err := targetKinds(cfg, cfg, aws, Options{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	return activities.NewTargets(kinds...), nil
}
