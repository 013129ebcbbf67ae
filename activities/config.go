package activities

import (
	"context"
	"fmt"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Config holds the activity that reads the worker's own configuration. The
// workflow input only names the account and the user; the targets, secret
// names and policy always come from here.
type Config struct {
	rotations Rotations
}

// NewConfig returns the configuration activity over rs.
func NewConfig(rs Rotations) *Config { return &Config{rotations: rs} }

// ResolveRotationInput names the rotation, and the digest of the
// configuration the starter saw (empty when it sent none).
type ResolveRotationInput struct {
	Account string `json:"account"`
	User    string `json:"user"`
	Digest  string `json:"digest,omitempty"`
}

// ResolveRotationResult is the worker's configured rotation of the user.
// Drift explains, when the starter's digest differs, that the worker's
// configuration was used.
type ResolveRotationResult struct {
	Rotation model.Rotation `json:"rotation"`
	Drift    string         `json:"drift,omitempty"`
}

// ResolveRotation returns the configured rotation of the user. A user this
// worker does not rotate is refused, non-retryably, before any key exists.
func (a *Config) ResolveRotation(_ context.Context, in ResolveRotationInput) (ResolveRotationResult, error) {
	r, err := configuredRotation(a.rotations, in.Account, in.User)
	if err != nil {
		return ResolveRotationResult{}, err
	}
	res := ResolveRotationResult{Rotation: r}
	if d := r.Digest(); in.Digest != "" && in.Digest != d {
		res.Drift = fmt.Sprintf("the starter's configuration of this rotation (digest %s) differs from the worker's (%s); the worker's is used", in.Digest, d)
	}
	return res, nil
}
