package devstack

import (
	"slices"

	"github.com/keyrotor/keyrotor/internal/model"
)

// kindHarness is one more target kind's part of the dev stack: its
// emulator, started with the others, and how targets of the kind are
// seeded, read back and written into the generated configuration. Each
// kind registers one from its own file (kind_<provider>.go), so that adding
// a kind touches no shared code here.
type kindHarness struct {
	provider string // model.TargetKind.Provider() of its kinds
	// start starts the emulator (with e.serve) and keeps it in e.kinds.
	start func(e *Emulators)
	// seed makes the target's scope exist (idempotent).
	seed func(e *Emulators, t model.Target)
	// values are what the target holds under names ("" when nothing).
	values func(e *Emulators, t model.Target, names model.SecretNames) (id, secret string)
	// section is the generated configuration's top-level section for the
	// provider's connection ("" for none), ending in a newline.
	section func(e *Emulators) string
	// env are the variables a worker process needs besides the file.
	env func(e *Emulators) []string
	// yaml renders a target as a targets item ("terraform: {…}").
	yaml func(t model.Target) string
	// demo are the kind's targets in the demo's --all-kinds (seeded by seed).
	demo []model.Target
}

// AllKindTargets are one target of every kind beyond the demo's GitHub and
// GitLab ones: AWS Secrets Manager and SSM, then each registered kind's.
func AllKindTargets() []model.Target {
	out := []model.Target{
		{Kind: model.AWSSecretsManager, AWSSecret: &model.AWSSecretTarget{Account: "demo", SecretID: "ci/deployer"}},
		{Kind: model.AWSSSMParameter, AWSSecret: &model.AWSSecretTarget{Account: "demo", Parameter: "/ci/deployer"}},
	}
	for _, h := range kindHarnesses {
		out = append(out, h.demo...)
	}
	return out
}

var kindHarnesses []*kindHarness

// registerKind adds a kind's harness; called from the kind's file's init.
func registerKind(h *kindHarness) {
	kindHarnesses = append(kindHarnesses, h)
	slices.SortFunc(kindHarnesses, func(a, b *kindHarness) int {
		switch {
		case a.provider < b.provider:
			return -1
		case a.provider > b.provider:
			return 1
		}
		return 0
	})
}

func harnessOf(provider string) *kindHarness {
	for _, h := range kindHarnesses {
		if h.provider == provider {
			return h
		}
	}
	return nil
}
