package devstack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrotor/keyrotor/internal/emulator/bitbucketemu"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The bitbucket-repository and bitbucket-deployment kinds: Bitbucket
// Pipelines variables, served by bitbucketemu.

// bitbucketKind is the Bitbucket emulator with its URL and access token.
type bitbucketKind struct {
	emu   *bitbucketemu.Emulator
	url   string
	token model.Secret
}

func init() {
	registerKind(&kindHarness{
		provider: "bitbucket",
		demo: []model.Target{
			{Kind: model.BitbucketRepository, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api"}},
			{Kind: model.BitbucketDeployment, Bitbucket: &model.BitbucketTarget{Workspace: "acme", Repository: "api", Deployment: "Production"}},
		},
		start: func(e *Emulators) {
			k := &bitbucketKind{token: model.Secret("bbat-" + randomHex(16))}
			k.emu = bitbucketemu.New(k.token.Reveal())
			k.url = e.serve(k.emu.Handler())
			e.kinds["bitbucket"] = k
		},
		seed: func(e *Emulators, t model.Target) {
			b := e.bitbucket()
			full := t.Bitbucket.Workspace + "/" + t.Bitbucket.Repository
			b.emu.AddRepository(full) // with Test, Staging and Production
			if t.Kind == model.BitbucketDeployment {
				if _, err := b.emu.AddEnvironment(full, t.Bitbucket.Deployment, ""); err != nil {
					panic(fmt.Sprintf("seed bitbucket environment %s: %v", t, err))
				}
			}
		},
		values: func(e *Emulators, t model.Target, names model.SecretNames) (id, secret string) {
			b := e.bitbucket()
			full := t.Bitbucket.Workspace + "/" + t.Bitbucket.Repository
			read := func(key string) string {
				var v bitbucketemu.Variable
				if t.Kind == model.BitbucketDeployment {
					env, ok := b.emu.Environment(full, t.Bitbucket.Deployment)
					if !ok {
						return ""
					}
					v, _ = b.emu.DeploymentVariable(full, env, key)
				} else {
					v, _ = b.emu.RepositoryVariable(full, key)
				}
				return v.Value // the emulator keeps secured values in the clear
			}
			return read(names.AccessKeyID), read(names.SecretAccessKey)
		},
		section: func(e *Emulators) string {
			return fmt.Sprintf("bitbucket:\n  baseURL: %s\n  token: ${KEYROTOR_BITBUCKET_TOKEN}\n", e.bitbucket().url)
		},
		env: func(e *Emulators) []string {
			return []string{"KEYROTOR_BITBUCKET_TOKEN=" + e.bitbucket().token.Reveal()}
		},
		yaml: func(t model.Target) string {
			fields := []string{"workspace: " + strconv.Quote(t.Bitbucket.Workspace), "repository: " + strconv.Quote(t.Bitbucket.Repository)}
			if t.Kind == model.BitbucketDeployment {
				fields = append(fields, "deployment: "+strconv.Quote(t.Bitbucket.Deployment))
			}
			return "bitbucket: {" + strings.Join(fields, ", ") + "}"
		},
	})
}

func (e *Emulators) bitbucket() *bitbucketKind { return e.kinds["bitbucket"].(*bitbucketKind) }

// Bitbucket is the Bitbucket emulator (bitbucket-repository and
// bitbucket-deployment targets).
func (e *Emulators) Bitbucket() *bitbucketemu.Emulator { return e.bitbucket().emu }

// BitbucketURL is the Bitbucket emulator's API host.
func (e *Emulators) BitbucketURL() string { return e.bitbucket().url }
