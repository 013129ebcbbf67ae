package deploy_test

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(data []byte) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

// stage is one FROM ... AS name and the instructions under it.
type stage struct {
	image, name string
	body        []instruction
}

func stages(ins []instruction) []stage {
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--platform=") })
			s := stage{image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].body = append(out[len(out)-1].body, in)
		}
	}
	return out
}

func find(body []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// goDirective is go.mod's go line.
func goDirective(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func versionParts(v string) []int {
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		out = append(out, n)
	}
	for len(out) < 3 {
		out = append(out, 0)
	}
	return out
}

// TestDockerfile checks the image's recipe: a golang builder matching
// go.mod, a static stripped build of both binaries, a distroless static
// base pinned by tag and digest, uid 65532, OCI labels, and a default
// command the worker accepts.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(readFile(t, "Dockerfile"))
	st := stages(ins)
	if len(st) < 2 {
		t.Fatalf("Dockerfile has %d stage(s); want a build stage and a runtime stage", len(st))
	}
	build, final := st[0], st[len(st)-1]

	// The builder: golang:X.Y.Z-..., same minor version as go.mod, not older.
	name, tag, _ := imageRef(build.image)
	m := regexp.MustCompile(`^(\d+\.\d+\.\d+)(-[a-z0-9.]+)?$`).FindStringSubmatch(tag)
	if name != "golang" || m == nil {
		t.Fatalf("build stage FROM %s: want golang:X.Y.Z[-variant], pinned to a patch release", build.image)
	}
	goMod, image := versionParts(goDirective(t)), versionParts(m[1])
	if image[0] != goMod[0] || image[1] != goMod[1] || image[2] < goMod[2] {
		t.Errorf("build stage Go %s does not match go.mod's go %s", m[1], goDirective(t))
	}
	if build.name == "" {
		t.Error("build stage has no name (FROM ... AS build)")
	}
	var env, runs []string
	for _, in := range find(build.body, "ENV") {
		env = append(env, in.args)
	}
	if !slices.Contains(env, "GOTOOLCHAIN=local") {
		t.Error("build stage does not set GOTOOLCHAIN=local (the build could fetch another Go toolchain)")
	}
	var goBuild string
	for _, in := range find(build.body, "RUN") {
		runs = append(runs, in.args)
		if strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	if goBuild == "" {
		t.Fatalf("build stage has no go build: %q", runs)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "-buildvcs=false", "./worker", "./starter"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build stage's go build lacks %s: %s", want, goBuild)
		}
	}
	for _, f := range dockerBuildFlags {
		if f != "-ldflags" && f != "-s -w" && !strings.Contains(goBuild, f) {
			t.Errorf("the test builds with %s, the Dockerfile does not", f)
		}
	}

	// The runtime: distroless static, nonroot tag, pinned by digest.
	name, tag, dgst := imageRef(final.image)
	if !strings.HasPrefix(name, "gcr.io/distroless/static") {
		t.Errorf("runtime stage FROM %s: want gcr.io/distroless/static-*", final.image)
	}
	if tag != "nonroot" {
		t.Errorf("runtime stage FROM %s: want the nonroot tag", final.image)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(dgst) {
		t.Errorf("runtime stage FROM %s: not pinned by digest", final.image)
	}
	users := find(final.body, "USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER")
	}
	if u := users[len(users)-1].args; u != "65532" && u != "65532:65532" {
		t.Errorf("runtime stage USER %s: want 65532:65532 (numeric, so Kubernetes can verify runAsNonRoot)", u)
	}
	copied := map[string]bool{}
	for _, in := range find(final.body, "COPY") {
		f := strings.Fields(in.args)
		if !slices.Contains(f, "--from="+build.name) {
			t.Errorf("line %d: COPY %s does not copy from the build stage", in.line, in.args)
		}
		copied[f[len(f)-1]] = true
	}
	for _, bin := range []string{"/usr/local/bin/worker", "/usr/local/bin/starter"} {
		if !copied[bin] {
			t.Errorf("runtime stage does not COPY %s", bin)
		}
	}
	if len(find(final.body, "RUN")) > 0 {
		t.Error("runtime stage has a RUN: distroless has no shell")
	}

	// OCI labels.
	labels := map[string]string{}
	for _, in := range find(final.body, "LABEL") {
		for _, kv := range regexp.MustCompile(`([a-z0-9.]+)="([^"]*)"`).FindAllStringSubmatch(in.args, -1) {
			labels[kv[1]] = kv[2]
		}
	}
	for _, k := range []string{"title", "description", "source", "version", "revision", "base.name", "base.digest"} {
		if labels["org.opencontainers.image."+k] == "" {
			t.Errorf("runtime stage has no LABEL org.opencontainers.image.%s", k)
		}
	}
	if got := labels["org.opencontainers.image.base.digest"]; got != dgst {
		t.Errorf("LABEL base.digest %s is not the runtime stage's digest %s", got, dgst)
	}
	if got, _, _ := strings.Cut(final.image, "@"); labels["org.opencontainers.image.base.name"] != got {
		t.Errorf("LABEL base.name %s is not the runtime stage's image %s", labels["org.opencontainers.image.base.name"], got)
	}

	// The default command.
	cmds := find(final.body, "CMD")
	if len(cmds) != 1 {
		t.Fatalf("runtime stage has %d CMD; want 1", len(cmds))
	}
	if len(find(final.body, "ENTRYPOINT")) > 0 {
		t.Error("runtime stage has an ENTRYPOINT: the image runs either binary, so only CMD")
	}
	var argv []string
	for _, a := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(cmds[0].args, -1) {
		argv = append(argv, a[1])
	}
	if !strings.HasPrefix(cmds[0].args, "[") {
		t.Errorf("CMD %s: use the exec form (distroless has no shell)", cmds[0].args)
	}
	inv := checkInvocation(t, "Dockerfile CMD", argv)
	if inv.bin != "worker" || inv.flags["config"] != "/etc/keyrotor/keyrotor.yaml" {
		t.Errorf("CMD %q: want the worker with --config /etc/keyrotor/keyrotor.yaml", argv)
	}

	for _, in := range ins {
		if in.cmd == "ADD" {
			t.Errorf("line %d: ADD; use COPY", in.line)
		}
		if looksSecret(in.args) {
			t.Errorf("line %d: holds what looks like a secret", in.line)
		}
	}
}

// TestBinariesAreStatic builds the binaries with the Dockerfile's flags and
// checks that they run on distroless static: no dynamic loader, no shared
// library, and stripped (-s -w) and without the build's paths (-trimpath).
func TestBinariesAreStatic(t *testing.T) {
	dir := binaries(t)
	for _, name := range []string{"worker", "starter"} {
		p := filepath.Join(dir, name)
		f, err := elf.Open(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked (%v)", name, prog.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", name, libs)
		}
		for _, s := range f.Sections {
			if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug") || strings.HasPrefix(s.Name, ".zdebug") {
				t.Errorf("%s has section %s: not stripped", name, s.Name)
			}
		}
		f.Close()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(root)) {
			t.Errorf("%s holds the build directory %s: not built with -trimpath", name, root)
		}
	}
}

// dockerignore is .dockerignore's rules, in order.
type dockerignore []struct {
	re      *regexp.Regexp
	exclude bool
}

// parseDockerignore reads .dockerignore with Docker's rules: one pattern a
// line, # comments, ! re-includes, the last matching pattern wins, a
// pattern matching a directory matches everything under it, * and ? stop at
// /, and ** matches any number of directories.
func parseDockerignore(data []byte) dockerignore {
	var out dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		exclude := true
		if strings.HasPrefix(line, "!") {
			exclude, line = false, strings.TrimSpace(line[1:])
		}
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("(/.*)?$")
		out = append(out, struct {
			re      *regexp.Regexp
			exclude bool
		}{regexp.MustCompile(re.String()), exclude})
	}
	return out
}

func (d dockerignore) excluded(rel string) bool {
	ex := false
	for _, r := range d {
		if r.re.MatchString(rel) {
			ex = r.exclude
		}
	}
	return ex
}

// TestDockerignore checks that the build context holds every file the two
// binaries are built from, and nothing secret or local.
func TestDockerignore(t *testing.T) {
	d := parseDockerignore(readFile(t, ".dockerignore"))
	need := []string{"go.mod", "go.sum", "Dockerfile"}
	list := goList(t, "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{"\n"}}{{end}}{{end}}`,
		"./worker", "./starter")
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range f[1:] {
			need = append(need, filepath.ToSlash(filepath.Join(rel, file)))
		}
	}
	if len(need) < 20 {
		t.Fatalf("found only %d files the binaries need: %v", len(need), need)
	}
	for _, f := range need {
		if f == "Dockerfile" {
			continue // the builder reads it whatever .dockerignore says
		}
		if d.excluded(f) {
			t.Errorf(".dockerignore leaves out %s, which go build ./worker ./starter needs", f)
		}
	}
	for _, f := range []string{
		".git/config", "bin/worker", ".demo/codec.key", "keyrotor-codec.key", "codec-server.token",
		"deploy/compose/secrets/codec.key", "deploy/compose/secrets/keyrotor.env",
		"deploy/compose/keyrotor.yaml", "examples/keyrotor.yaml", "internal/codec/testdata/x.key",
		"workflows/testdata/rotate_access_key.v1.history.json", "workflows/rotate_test.go", ".env",
	} {
		if !d.excluded(f) {
			t.Errorf(".dockerignore sends %s to the build", f)
		}
	}
}
