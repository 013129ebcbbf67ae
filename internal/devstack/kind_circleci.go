package devstack

import (
	"github.com/keyrotor/keyrotor/internal/emulator/circleciemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The circleci-project and circleci-context kinds: a CircleCI emulator,
// its token in KEYROTOR_CIRCLECI_TOKEN.

func init() {
	registerKind(&kindHarness{
		provider: "circleci",
		demo: []model.Target{
			{Kind: model.CircleCIProject, CircleCI: &model.CircleCITarget{Project: "gh/acme/api"}},
			{Kind: model.CircleCIContext, CircleCI: &model.CircleCITarget{Context: "7c2b3e1a-0c1d-4e5f-8a9b-0123456789ab"}},
		},
		start: func(e *Emulators) {
			token := "CCIPAT_" + randomHex(20)
			emu := circleciemu.New(token)
			e.kinds["circleci"] = &circleciKind{emu: emu, url: e.serve(emu.Handler()), token: model.Secret(token)}
		},
		seed: func(e *Emulators, t model.Target) {
			if t.Kind == model.CircleCIContext {
				e.CircleCI().AddContextWithID(t.CircleCI.Context, "aws-deploy")
				return
			}
			e.CircleCI().AddProject(t.CircleCI.Project)
		},
		values: func(e *Emulators, t model.Target, names model.SecretNames) (string, string) {
			get, scope := e.CircleCI().ProjectEnvVar, t.CircleCI.Project
			if t.Kind == model.CircleCIContext {
				get, scope = e.CircleCI().ContextEnvVar, t.CircleCI.Context
			}
			id, _ := get(scope, names.AccessKeyID)
			secret, _ := get(scope, names.SecretAccessKey)
			return id.Value, secret.Value
		},
		section: func(e *Emulators) string {
			return "circleci:\n  baseURL: " + e.circleci().url + "\n  token: ${KEYROTOR_CIRCLECI_TOKEN}\n"
		},
		env: func(e *Emulators) []string {
			return []string{"KEYROTOR_CIRCLECI_TOKEN=" + e.circleci().token.Reveal()}
		},
		yaml: func(t model.Target) string {
			if t.Kind == model.CircleCIContext {
				return "circleci: {context: " + t.CircleCI.Context + "}"
			}
			return "circleci: {project: " + t.CircleCI.Project + "}"
		},
	})
}

type circleciKind struct {
	emu   *circleciemu.Emulator
	url   string
	token model.Secret
}

func (e *Emulators) circleci() *circleciKind { return e.kinds["circleci"].(*circleciKind) }

// CircleCI is the CircleCI emulator.
func (e *Emulators) CircleCI() *circleciemu.Emulator { return e.circleci().emu }
