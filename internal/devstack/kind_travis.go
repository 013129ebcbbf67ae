package devstack

import (
	"github.com/keyrotor/keyrotor/internal/emulator/travisemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The travis-repository kind: a Travis CI emulator, its token in
// KEYROTOR_TRAVIS_TOKEN.

func init() {
	registerKind(&kindHarness{
		provider: "travis",
		demo:     []model.Target{{Kind: model.TravisRepository, Travis: &model.TravisTarget{Repository: "acme/api"}}},
		start: func(e *Emulators) {
			token := randomHex(11)
			emu := travisemu.New(token)
			e.kinds["travis"] = &travisKind{emu: emu, url: e.serve(emu.Handler()), token: model.Secret(token)}
		},
		seed: func(e *Emulators, t model.Target) { e.Travis().AddRepository(t.Travis.Repository) },
		values: func(e *Emulators, t model.Target, names model.SecretNames) (string, string) {
			id, _ := e.Travis().EnvVar(t.Travis.Repository, names.AccessKeyID)
			secret, _ := e.Travis().EnvVar(t.Travis.Repository, names.SecretAccessKey)
			return id.Value, secret.Value
		},
		section: func(e *Emulators) string {
			return "travis:\n  baseURL: " + e.travis().url + "\n  token: ${KEYROTOR_TRAVIS_TOKEN}\n"
		},
		env: func(e *Emulators) []string {
			return []string{"KEYROTOR_TRAVIS_TOKEN=" + e.travis().token.Reveal()}
		},
		yaml: func(t model.Target) string { return "travis: {repository: " + t.Travis.Repository + "}" },
	})
}

type travisKind struct {
	emu   *travisemu.Emulator
	url   string
	token model.Secret
}

func (e *Emulators) travis() *travisKind { return e.kinds["travis"].(*travisKind) }

// Travis is the Travis CI emulator.
func (e *Emulators) Travis() *travisemu.Emulator { return e.travis().emu }
