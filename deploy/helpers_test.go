package deploy_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// root is the repository's root directory.
var root string

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root = filepath.Dir(wd)
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The binaries, built once per run with the Dockerfile's flags.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// dockerBuildFlags are the flags the Dockerfile's go build uses
// (TestDockerfile checks that it does).
var dockerBuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags", "-s -w"}

// binaries builds ./worker and ./starter as the image does (CGO_ENABLED=0,
// -trimpath, -ldflags "-s -w") and returns the directory holding them.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "keyrotor-deploy-test-")
		if buildErr != nil {
			return
		}
		args := append([]string{"build"}, dockerBuildFlags...)
		args = append(args, "-o", binDir+string(filepath.Separator), "./worker", "./starter")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// helpFlag is one flag a binary's --help lists.
type helpFlag struct {
	takesValue bool
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]map[string]helpFlag{}
)

// helpFlagLine is the first line of a flag in Go's flag.PrintDefaults:
// "  -name type" for a flag with a value, "  -name" for a boolean.
var helpFlagLine = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)(?: ([a-z]+))?[ \t]*$`)

// help runs `bin [sub] --help` (with no environment but PATH) and returns
// its output.
func help(t *testing.T, bin, sub string) string {
	t.Helper()
	args := []string{"--help"}
	if sub != "" {
		args = []string{sub, "--help"}
	}
	cmd := exec.Command(filepath.Join(binaries(t), bin), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// helpFlags returns the flags `bin [sub] --help` lists.
func helpFlags(t *testing.T, bin, sub string) map[string]helpFlag {
	t.Helper()
	key := bin + " " + sub
	helpMu.Lock()
	defer helpMu.Unlock()
	if f, ok := helpCache[key]; ok {
		return f
	}
	out := help(t, bin, sub)
	flags := map[string]helpFlag{}
	for _, m := range helpFlagLine.FindAllStringSubmatch(out, -1) {
		flags[m[1]] = helpFlag{takesValue: m[2] != ""}
	}
	if len(flags) == 0 {
		t.Fatalf("%s: found no flags in its --help:\n%s", key, out)
	}
	helpCache[key] = flags
	return flags
}

// pendingFlags are flags a manifest uses before the binary has them: each
// is reported (not failed) while the binary has no flag of that family, and
// checked like any other flag once it has one.
var pendingFlags = map[string]struct{ family, why string }{
	"worker --metrics-addr": {
		family: "metrics",
		why:    "the worker's metrics, /healthz and /readyz listener (deploy/kubernetes probes and PodMonitor)",
	},
}

// invocation is a keyrotor container's command line, split up.
type invocation struct {
	bin   string            // worker or starter
	sub   string            // the starter's command
	flags map[string]string // flag name: value ("" for a boolean)
}

// checkInvocation checks a keyrotor container's argv: /usr/local/bin/worker
// or /usr/local/bin/starter (where the Dockerfile puts them), for the
// starter a command its --help lists, then only flags that the binary's (or
// command's) --help lists, each with a value when it takes one, and no
// positional arguments.
func checkInvocation(t *testing.T, where string, argv []string) invocation {
	t.Helper()
	inv := invocation{flags: map[string]string{}}
	if len(argv) == 0 {
		t.Errorf("%s: no command", where)
		return inv
	}
	switch argv[0] {
	case "/usr/local/bin/worker", "/usr/local/bin/starter":
		inv.bin = path.Base(argv[0])
	default:
		t.Errorf("%s: runs %q, not /usr/local/bin/worker or /usr/local/bin/starter", where, argv[0])
		return inv
	}
	rest := argv[1:]
	if inv.bin == "starter" {
		if len(rest) == 0 {
			t.Errorf("%s: starter without a command", where)
			return inv
		}
		inv.sub, rest = rest[0], rest[1:]
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(inv.sub) + `\s`).MatchString(help(t, "starter", "")) {
			t.Errorf("%s: starter's --help lists no command %q", where, inv.sub)
			return inv
		}
	}
	known := helpFlags(t, inv.bin, inv.sub)
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if !strings.HasPrefix(arg, "-") {
			t.Errorf("%s: positional argument %q (the binaries take flags only)", where, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f, ok := known[name]
		if !ok {
			if p, pending := pendingFlags[inv.bin+" --"+name]; pending && !hasFlagOfFamily(known, p.family) {
				t.Logf("%s: --%s is not in %s --help yet: %s", where, name, inv.bin, p.why)
				f = helpFlag{takesValue: i+1 < len(rest) && !strings.HasPrefix(rest[i+1], "-")}
			} else {
				t.Errorf("%s: `%s --help` lists no flag --%s", where, strings.TrimSpace(inv.bin+" "+inv.sub), name)
				continue
			}
		}
		if f.takesValue && !hasValue {
			if i+1 >= len(rest) {
				t.Errorf("%s: --%s needs a value", where, name)
				continue
			}
			i++
			value = rest[i]
		}
		inv.flags[name] = value
	}
	return inv
}

func hasFlagOfFamily(flags map[string]helpFlag, family string) bool {
	for name := range flags {
		if strings.Contains(name, family) {
			return true
		}
	}
	return false
}

// envReader says which code reads an environment variable that a keyrotor
// container may be given. TestEnvReadersReadTheirVariables proves each.
type envReader struct {
	pkg       string // a package of this module whose source names it
	module    string // or a dependency module whose source names it
	configVar bool   // or: a ${VAR} of examples/keyrotor.yaml, which internal/config expands
}

const (
	envconfigModule = "go.temporal.io/sdk/contrib/envconfig"
	awsConfigModule = "github.com/aws/aws-sdk-go-v2/config"
)

var envReaders = map[string]envReader{
	"KEYROTOR_CODEC_KEY_FILE":     {pkg: "internal/codec"},
	"KEYROTOR_CODEC_SERVER_TOKEN": {pkg: "starter"},
	"TEMPORAL_ADDRESS":            {module: envconfigModule},
	"TEMPORAL_NAMESPACE":          {module: envconfigModule},
	"TEMPORAL_API_KEY":            {module: envconfigModule},
	"AWS_ACCESS_KEY_ID":           {module: awsConfigModule},
	"AWS_SECRET_ACCESS_KEY":       {module: awsConfigModule},
	"AWS_SESSION_TOKEN":           {module: awsConfigModule},
	"AWS_REGION":                  {module: awsConfigModule},
	"AWS_PROFILE":                 {module: awsConfigModule},
	"GITHUB_TOKEN":                {configVar: true},
	"GITLAB_TOKEN":                {configVar: true},
	"KEYROTOR_WEBHOOK_SECRET":     {configVar: true},
	"SLACK_WEBHOOK_URL":           {configVar: true},
	"TEAMS_WEBHOOK_URL":           {configVar: true},
}

// checkEnvIsRead fails for a variable no keyrotor code reads.
func checkEnvIsRead(t *testing.T, where, name string) {
	t.Helper()
	if _, ok := envReaders[name]; !ok {
		t.Errorf("%s: sets %s, which keyrotor does not read (known: see envReaders)", where, name)
	}
}

// stringLiterals returns the string constants in the non-test Go files of dir.
func stringLiterals(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	lits := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					lits[s] = true
				}
			}
			return true
		})
	}
	return lits
}

func goList(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestEnvReadersReadTheirVariables proves envReaders: every variable is a
// string constant in the source of the package or module that reads it
// (and that module is linked into the binaries), or a ${VAR} of the example
// configuration, which internal/config expands from the environment.
func TestEnvReadersReadTheirVariables(t *testing.T) {
	deps := goList(t, "list", "-deps", "-f", "{{.ImportPath}}", "./worker", "./starter")
	linked := map[string]bool{}
	for _, p := range strings.Fields(deps) {
		linked[p] = true
	}
	lits := map[string]map[string]bool{}
	literalsOf := func(key, dir string) map[string]bool {
		if lits[key] == nil {
			lits[key] = stringLiterals(t, dir)
		}
		return lits[key]
	}
	example := string(readFile(t, "examples/keyrotor.yaml"))
	for name, r := range envReaders {
		switch {
		case r.pkg != "":
			if !literalsOf(r.pkg, filepath.Join(root, r.pkg))[name] {
				t.Errorf("%s: no string constant %q in %s", name, name, r.pkg)
			}
			if !linked["github.com/keyrotor/keyrotor/"+r.pkg] {
				t.Errorf("%s: %s is not linked into the worker or the starter", name, r.pkg)
			}
		case r.module != "":
			if !linked[r.module] {
				t.Errorf("%s: %s is not linked into the worker or the starter", name, r.module)
				continue
			}
			dir := goList(t, "list", "-m", "-f", "{{.Dir}}", r.module)
			if !literalsOf(r.module, dir)[name] {
				t.Errorf("%s: no string constant %q in %s", name, name, r.module)
			}
		case r.configVar:
			if !strings.Contains(example, "${"+name+"}") {
				t.Errorf("%s: examples/keyrotor.yaml has no ${%s}", name, name)
			}
		}
	}
	// internal/config expands ${VAR} with os.LookupEnv.
	if !strings.Contains(string(readFile(t, "internal/config/config.go")), "os.LookupEnv") {
		t.Error("internal/config no longer reads ${VAR} from the environment with os.LookupEnv")
	}
}

// Literal secrets.
var (
	secretValuePatterns = []*regexp.Regexp{
		regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),           // AWS access key ID
		regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}`),          // GitHub tokens
		regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{20,}`),        // GitHub fine-grained token
		regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`),            // GitLab token
		regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),    // PEM private key
		regexp.MustCompile(`(?i)(password|passwd|pwd)\s*[:=]\s*\S`), // an inline password
	}
	// A long run of base64 or hex: keys and tokens (see looksRandom).
	randomRun = regexp.MustCompile(`[A-Za-z0-9+/=_-]{32,}`)
	hexRun    = regexp.MustCompile(`^[0-9a-f]+$`)
	digest    = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	// Names that hold a secret (unless they name a file holding it).
	secretName = regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|api_?key|private_?key|credential)`)
)

// looksSecret says whether s holds something that looks like a key, token
// or password. Image digests are not secrets.
func looksSecret(s string) bool {
	s = digest.ReplaceAllString(s, "")
	for _, p := range secretValuePatterns {
		if p.MatchString(s) {
			return true
		}
	}
	for _, run := range randomRun.FindAllString(s, -1) {
		if looksRandom(run) {
			return true
		}
		for _, seg := range strings.Split(run, "/") {
			if len(seg) >= 32 && looksRandom(seg) {
				return true
			}
		}
	}
	return false
}

// looksRandom says whether a long run of characters is base64 (upper and
// lower case letters and digits) or hex (digits and letters a-f), as keys
// and tokens are, rather than a path or a name.
func looksRandom(run string) bool {
	has := func(lo, hi rune) bool {
		return strings.IndexFunc(run, func(r rune) bool { return r >= lo && r <= hi }) >= 0
	}
	digits := has('0', '9')
	if hexRun.MatchString(run) {
		return digits && has('a', 'f')
	}
	return digits && has('a', 'z') && has('A', 'Z')
}

// checkNoLiteralSecret fails for a value that looks like a secret, and for
// a non-empty value of a variable whose name says it holds one (a *_FILE
// variable names a file, which is fine).
func checkNoLiteralSecret(t *testing.T, where, name, value string) {
	t.Helper()
	if looksSecret(value) {
		t.Errorf("%s: %s holds what looks like a secret", where, name)
	}
	if name != "" && secretName.MatchString(name) && !strings.HasSuffix(name, "_FILE") && value != "" {
		t.Errorf("%s: %s is a secret and is written here; take it from a secret file or env file", where, name)
	}
}

func TestLooksSecret(t *testing.T) {
	for _, s := range []string{
		"AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789",
		"glpat-abcdefghij0123456789",
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"http://localhost:8081/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"POSTGRES_PASSWORD=temporal",
	} {
		if !looksSecret(s) {
			t.Errorf("looksSecret(%q) = false", s)
		}
	}
	for _, s := range []string{
		"/run/secrets/keyrotor_codec_key",
		"/var/run/secrets/keyrotor/codec-server/token",
		"temporal-frontend.temporal.svc.cluster.local:7233",
		"temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0",
		"gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab",
		"http://localhost:8080",
		"/etc/temporal/schema/postgresql/v12/temporal/versioned",
	} {
		if looksSecret(s) {
			t.Errorf("looksSecret(%q) = true", s)
		}
	}
}

// imageRef splits an image reference into name, tag and digest.
func imageRef(ref string) (name, tag, dgst string) {
	name, dgst, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, dgst
}

// checkImagePinned fails for an image without a tag, or tagged latest.
func checkImagePinned(t *testing.T, where, ref string) {
	t.Helper()
	_, tag, dgst := imageRef(ref)
	switch {
	case tag == "" && dgst == "":
		t.Errorf("%s: image %q has no tag", where, ref)
	case tag == "latest":
		t.Errorf("%s: image %q is tagged latest", where, ref)
	case dgst != "" && !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(dgst):
		t.Errorf("%s: image %q has a malformed digest", where, ref)
	}
}

// temporalServerVersion is the Temporal server version the cluster tests
// pin in the Makefile (TEMPORAL_SERVER_VERSION, or the version in
// TEMPORAL_SERVER), or 1.29.1 while the Makefile pins none.
func temporalServerVersion(t *testing.T) string {
	t.Helper()
	vars := makeVariables(string(readFile(t, "Makefile")))
	for _, name := range []string{"TEMPORAL_SERVER_VERSION", "TEMPORAL_SERVER"} {
		value, ok := vars[name]
		if !ok {
			continue
		}
		v := regexp.MustCompile(`v?(\d+\.\d+\.\d+)`).FindStringSubmatch(value)
		if v == nil {
			t.Fatalf("Makefile: %s = %q holds no version", name, value)
		}
		return v[1]
	}
	t.Log("the Makefile pins no Temporal server (TEMPORAL_SERVER_VERSION or TEMPORAL_SERVER) yet; expecting 1.29.1")
	return "1.29.1"
}

// makeVariables reads a Makefile's simple assignments (NAME = value, :=,
// ?=), with $(NAME) references to earlier ones expanded.
func makeVariables(makefile string) map[string]string {
	vars := map[string]string{}
	ref := regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`)
	for _, m := range regexp.MustCompile(`(?m)^(?:export\s+)?([A-Za-z0-9_]+)\s*(?::=|\?=|=)\s*(.*?)\s*$`).FindAllStringSubmatch(makefile, -1) {
		vars[m[1]] = ref.ReplaceAllStringFunc(m[2], func(r string) string {
			return vars[ref.FindStringSubmatch(r)[1]]
		})
	}
	return vars
}

func TestMakeVariables(t *testing.T) {
	vars := makeVariables("A := v1.2.3\nB   := mod@$(A)\nexport C ?= x\n")
	if vars["B"] != "mod@v1.2.3" || vars["C"] != "x" {
		t.Errorf("makeVariables: %v", vars)
	}
}
