package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/devstack"
	"github.com/keyrotor/keyrotor/internal/model"
	"github.com/keyrotor/keyrotor/internal/operator"
)

// A selector in the file: the users tagged in IAM get their schedules,
// rotate to the targets the file's template names, and lose their
// schedule once untagged or deleted. The file's own rotation is never
// touched.
func TestDiscoverSchedulesAndRotation(t *testing.T) {
	static := map[string][]model.Target{"disc-static": devstack.DemoTargets()[:1]}
	r := newRig(t, rigOptions{users: static, noStart: true, extraYAML: `  - selector: {path: /disc/, tag: {keyrotor: "true"}}
    account: demo
    targets:
      - github: {repository: "acme/{{.Tags.repo}}"}
      - gitlab: {project: "acme/{{.User}}", masked: true}
`})
	deleteSchedulesAtEnd(t, r, "disc-static", "disc-a", "disc-b", "disc-norepo")
	targetsOf := func(user, repo string) []model.Target {
		return []model.Target{
			{Kind: model.GitHubRepository, Repository: "acme/" + repo},
			{Kind: model.GitLabProject, Project: "acme/" + user, Masked: true},
		}
	}
	for user, repo := range map[string]string{"disc-a": "disc-api", "disc-b": "disc-web"} {
		r.emu.AWS.AddUserWithPath(user, "/disc/")
		r.emu.AWS.TagUser(user, map[string]string{"keyrotor": "true", "repo": repo})
		for _, tg := range targetsOf(user, repo) {
			r.emu.SeedTarget(tg)
		}
		old, err := r.emu.AWS.CreateKey(user)
		require.NoError(t, err)
		r.oldKeys[user] = old
	}
	r.emu.AWS.AddUserWithPath("disc-norepo", "/disc/")
	r.emu.AWS.TagUser("disc-norepo", map[string]string{"keyrotor": "true"})
	r.emu.AWS.AddUserWithPath("disc-other", "/other/")
	r.emu.AWS.TagUser("disc-other", map[string]string{"keyrotor": "true", "repo": "x"})
	r.startWorker()
	env := r.emu.Env()

	out, code := r.starterWithEnv(env, "validate", "--config", r.cfgPath, "--discover")
	require.Equal(t, 1, code, out) // disc-norepo is skipped
	require.Contains(t, out, "rotations[1]: disc-a in demo: github acme/disc-api, gitlab acme/disc-a")
	require.Regexp(t, `skipped: user disc-norepo in account demo \(selected by rotations\[1\]\): .*rotations\[1\]\.targets\[0\]\.github\.repository: the user has no tag "repo"`, out)
	require.NotContains(t, out, "disc-other")

	out, code = r.starterWithEnv(env, "schedules", "sync", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	requireChange(t, out, "created", scheduleID("disc-a"), "")
	requireChange(t, out, "created", scheduleID("disc-b"), "")
	requireChange(t, out, "created", scheduleID("disc-static"), "")
	require.Contains(t, out, "3 created, 0 updated, 0 deleted, 0 unchanged")
	require.Contains(t, out, `the user has no tag "repo"`)
	requireNoSchedule(t, r, scheduleID("disc-norepo"))
	d, err := r.describeSchedule(scheduleID("disc-a"))
	require.NoError(t, err)
	require.Contains(t, d.Memo.GetFields(), operator.SelectorMemoKey)
	require.Contains(t, d.Memo.GetFields(), operator.ManagedMemoKey)

	out, code = r.starterWithEnv(env, "schedules", "sync", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "0 created, 0 updated, 0 deleted, 3 unchanged", "a second sync changes nothing")

	// The discovered user's rotation runs on the worker, which found the
	// user itself, to the targets the file's template names.
	out, code = r.starterWithEnv(env, "rotate", "--config", r.cfgPath, "--user", "disc-a", "--wait")
	require.Equal(t, 0, code, out)
	keys := r.emu.AWS.Keys("disc-a")
	require.Len(t, keys, 1, out)
	r.requireRotated("disc-a", keys[0].ID, targetsOf("disc-a", "disc-api"))

	// A user untagged, another deleted: the next sync removes their
	// schedules, and only theirs.
	waitListed(t, r, scheduleID("disc-a"))
	waitListed(t, r, scheduleID("disc-b"))
	// schedules list shows the discovered users' schedules apart: active,
	// with the timing their schedule has, from a selector.
	out, code = r.starterWithEnv(env, "schedules", "list", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	require.Regexp(t, scheduleID("disc-a")+`\s+active\s+every \S+\s.*\sselector\n`, out)
	require.Regexp(t, scheduleID("disc-static")+`\s+active\s.*\sconfig\n`, out)
	require.NotContains(t, out, "not in config")
	r.emu.AWS.UntagUser("disc-b", "keyrotor")
	r.emu.AWS.DeleteUser("disc-a")
	out, code = r.starterWithEnv(env, "schedules", "sync", "--config", r.cfgPath)
	require.Equal(t, 0, code, out)
	requireChange(t, out, "deleted", scheduleID("disc-a"), "no selector finds its user")
	requireChange(t, out, "deleted", scheduleID("disc-b"), "no selector finds its user")
	require.Contains(t, out, "0 created, 0 updated, 2 deleted, 1 unchanged")
	requireNoSchedule(t, r, scheduleID("disc-a"))
	requireNoSchedule(t, r, scheduleID("disc-b"))
	_, err = r.describeSchedule(scheduleID("disc-static"))
	require.NoError(t, err)
}
