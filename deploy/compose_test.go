package deploy_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The services of docker-compose.yml.
const (
	svcPostgres    = "postgresql"
	svcSchema      = "temporal-admin-tools"
	svcTemporal    = "temporal"
	svcNamespace   = "temporal-create-namespace"
	svcUI          = "temporal-ui"
	svcWorker      = "keyrotor-worker"
	svcCodecServer = "keyrotor-codec-server"
)

var keyrotorServices = []string{svcWorker, svcCodecServer}

// loadCompose loads dir/docker-compose.yml as Docker Compose does (schema
// validation, interpolation, normalization, consistency checks), with an
// empty outside environment. With resolveEnv, env_file entries are read
// into each service's environment (the files must exist).
func loadCompose(t *testing.T, dir string, resolveEnv bool) *types.Project {
	t.Helper()
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	}
	if !resolveEnv {
		opts = append(opts, cli.WithoutEnvironmentResolution)
	}
	o, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

func envValue(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

// composeWithSecrets copies docker-compose.yml into a fresh directory laid
// out like a checkout after `sh deploy/compose/init-secrets.sh` and a copy
// of the example config, and loads it with every env file read. It returns
// the project and the secrets directory.
func composeWithSecrets(t *testing.T) (*types.Project, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), readFile(t, "docker-compose.yml"), 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "deploy", "compose", "secrets")
	initSecrets(t, secrets)
	if err := os.WriteFile(filepath.Join(dir, "deploy", "compose", "keyrotor.yaml"), readFile(t, "examples/keyrotor.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadCompose(t, dir, true), secrets
}

// initSecrets runs deploy/compose/init-secrets.sh into dir.
func initSecrets(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(root, "deploy", "compose", "init-secrets.sh"), dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("init-secrets.sh: %v\n%s", err, out)
	}
	return string(out)
}

// TestComposeLoads loads docker-compose.yml from the repository with Docker
// Compose's loader (the secrets it names are not in a checkout, so env
// files are not read here; TestComposeEnvironment reads them).
func TestComposeLoads(t *testing.T) {
	p := loadCompose(t, root, false)
	want := []string{svcPostgres, svcSchema, svcTemporal, svcNamespace, svcUI, svcWorker, svcCodecServer}
	got := p.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
}

// TestComposeKeyrotorCommands checks every keyrotor service's command
// against the binaries' --help, and how the services fit together.
func TestComposeKeyrotorCommands(t *testing.T) {
	p := loadCompose(t, root, false)

	w := service(t, p, svcWorker)
	inv := checkInvocation(t, svcWorker, append(w.Entrypoint, w.Command...))
	if inv.bin != "worker" {
		t.Errorf("%s runs %s, not the worker", svcWorker, inv.bin)
	}
	if w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas != 2 {
		t.Errorf("%s: want deploy.replicas 2", svcWorker)
	}
	if w.ContainerName != "" {
		t.Errorf("%s: container_name prevents replicas", svcWorker)
	}
	configMounted := false
	for _, c := range w.Configs {
		if c.Target == inv.flags["config"] {
			configMounted = true
		}
	}
	if !configMounted {
		t.Errorf("%s: --config %s is not a mounted config", svcWorker, inv.flags["config"])
	}

	c := service(t, p, svcCodecServer)
	inv = checkInvocation(t, svcCodecServer, append(c.Entrypoint, c.Command...))
	if inv.bin != "starter" || inv.sub != "codec-server" {
		t.Fatalf("%s runs %s %s, not starter codec-server", svcCodecServer, inv.bin, inv.sub)
	}
	_, port, err := net.SplitHostPort(inv.flags["listen"])
	if err != nil {
		t.Fatalf("%s --listen %q: %v", svcCodecServer, inv.flags["listen"], err)
	}
	var published string
	for _, pc := range c.Ports {
		if pc.Published != "" && pc.Target == mustAtoi(t, port) {
			published = pc.Published
		}
	}
	if published == "" {
		t.Errorf("%s: --listen port %s is not published", svcCodecServer, port)
	}
	if !strings.HasPrefix(inv.flags["token-file"], "/run/secrets/") || !mountsSecret(c, strings.TrimPrefix(inv.flags["token-file"], "/run/secrets/")) {
		t.Errorf("%s: --token-file %s is not one of its secrets", svcCodecServer, inv.flags["token-file"])
	}

	// The UI calls the codec server from the browser: the codec server must
	// allow the UI's origin, and serve the UI's namespace.
	ui := service(t, p, svcUI)
	var uiOrigin string
	for _, pc := range ui.Ports {
		if pc.Target == 8080 {
			uiOrigin = "http://localhost:" + pc.Published
		}
	}
	if inv.flags["allow-origin"] != uiOrigin {
		t.Errorf("%s --allow-origin %q, but the UI is at %q", svcCodecServer, inv.flags["allow-origin"], uiOrigin)
	}
	ns := envValue(w, "TEMPORAL_NAMESPACE")
	if ns == "" {
		t.Fatalf("%s: no TEMPORAL_NAMESPACE", svcWorker)
	}
	for what, got := range map[string]string{
		svcCodecServer + " --namespace":                   inv.flags["namespace"],
		svcUI + " TEMPORAL_DEFAULT_NAMESPACE":             envValue(ui, "TEMPORAL_DEFAULT_NAMESPACE"),
		svcNamespace + " TEMPORAL_NAMESPACE (creates it)": envValue(service(t, p, svcNamespace), "TEMPORAL_NAMESPACE"),
	} {
		if got != ns {
			t.Errorf("%s = %q, but the worker uses namespace %q", what, got, ns)
		}
	}

	// Both keyrotor services: the image built from the Dockerfile, run as
	// 65532 with a read-only root, no capabilities, no privilege gain, the
	// payload key as a Compose secret named by KEYROTOR_CODEC_KEY_FILE,
	// after the namespace exists.
	for _, name := range keyrotorServices {
		s := service(t, p, name)
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" || filepath.Clean(s.Build.Context) != root {
			t.Errorf("%s: not built from the repository's Dockerfile", name)
		}
		if s.User != "65532:65532" || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want user 65532:65532, read_only, cap_drop [ALL], security_opt no-new-privileges:true", name)
		}
		key := envValue(s, "KEYROTOR_CODEC_KEY_FILE")
		if !strings.HasPrefix(key, "/run/secrets/") || !mountsSecret(s, strings.TrimPrefix(key, "/run/secrets/")) {
			t.Errorf("%s: KEYROTOR_CODEC_KEY_FILE=%s is not one of its secrets", name, key)
		}
		if envValue(s, "TEMPORAL_ADDRESS") != "" && envValue(s, "TEMPORAL_ADDRESS") != "temporal:7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS %s is not the temporal service", name, envValue(s, "TEMPORAL_ADDRESS"))
		}
	}
	if d, ok := w.DependsOn[svcNamespace]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("%s does not wait for %s to complete", svcWorker, svcNamespace)
	}
}

func mountsSecret(s types.ServiceConfig, name string) bool {
	for _, sec := range s.Secrets {
		if sec.Source == name && (sec.Target == "" || sec.Target == name || sec.Target == "/run/secrets/"+name) {
			return true
		}
	}
	return false
}

func mustAtoi(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a port", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}

// TestComposeEnvironment loads the compose file as it runs after
// init-secrets.sh, env files read: every variable a keyrotor service gets
// is one keyrotor reads, no secret is written in the compose file, and the
// UI's codec endpoint carries the codec server's token.
func TestComposeEnvironment(t *testing.T) {
	// As committed: no secret in any service's environment, command or labels.
	p := loadCompose(t, root, false)
	for _, s := range p.Services {
		for k, v := range s.Environment {
			val := ""
			if v != nil {
				val = *v
			}
			checkNoLiteralSecret(t, s.Name+" environment", k, val)
		}
		for _, a := range append(append([]string{}, s.Entrypoint...), s.Command...) {
			checkNoLiteralSecret(t, s.Name+" command", "", a)
		}
		for k, v := range s.Labels {
			checkNoLiteralSecret(t, s.Name+" labels", k, v)
		}
		for _, ef := range s.EnvFiles {
			rel, _ := filepath.Rel(root, ef.Path)
			if !strings.HasPrefix(filepath.ToSlash(rel), "deploy/compose/secrets/") {
				t.Errorf("%s: env file %s is outside deploy/compose/secrets/", s.Name, rel)
			}
		}
	}
	for name, sec := range p.Secrets {
		rel, _ := filepath.Rel(root, sec.File)
		if !strings.HasPrefix(filepath.ToSlash(rel), "deploy/compose/secrets/") {
			t.Errorf("secret %s: file %s is outside deploy/compose/secrets/", name, rel)
		}
	}
	raw := string(readFile(t, "docker-compose.yml"))
	if looksSecret(raw) {
		t.Error("docker-compose.yml holds what looks like a secret")
	}
	checkGitIgnored(t, "deploy/compose/secrets/codec.key", "deploy/compose/secrets/keyrotor.env", "deploy/compose/keyrotor.yaml")

	// As it runs, env files read.
	p, secrets := composeWithSecrets(t)
	for _, name := range keyrotorServices {
		s := service(t, p, name)
		if len(s.Environment) == 0 {
			t.Errorf("%s: empty environment", name)
		}
		for k := range s.Environment {
			checkEnvIsRead(t, name, k)
		}
	}
	token := strings.TrimSpace(string(mustRead(t, filepath.Join(secrets, "codec-server.token"))))
	if got, want := envValue(service(t, p, svcUI), "TEMPORAL_CODEC_ENDPOINT"), "http://localhost:8081/"+token; got != want {
		t.Errorf("%s: TEMPORAL_CODEC_ENDPOINT = %q, want the codec server's published address and token", svcUI, got)
	}
	pw := envValue(service(t, p, svcPostgres), "POSTGRES_PASSWORD")
	if pw == "" || envValue(service(t, p, svcTemporal), "POSTGRES_PWD") != pw || envValue(service(t, p, svcSchema), "SQL_PASSWORD") != pw {
		t.Error("postgres, the Temporal server (POSTGRES_PWD) and temporal-sql-tool (SQL_PASSWORD) do not get the same password")
	}

	// The env file template: only variables the worker reads, no values.
	for _, line := range strings.Split(string(readFile(t, "deploy/compose/keyrotor.env.example")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		checkEnvIsRead(t, "keyrotor.env.example", k)
		if v != "" {
			t.Errorf("keyrotor.env.example: %s has a value", k)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGitIgnored checks that git would not commit the given paths.
func checkGitIgnored(t *testing.T, paths ...string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not found: not checking .gitignore")
		return
	}
	if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Log("not a git checkout: not checking .gitignore")
		return
	}
	for _, p := range paths {
		if err := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("git does not ignore %s", p)
		}
	}
}

// TestComposeImages checks that every image is pinned to a tag (none is
// latest), the keyrotor services share the image they build, and the
// Temporal server and admin tools are the version the cluster tests pin.
func TestComposeImages(t *testing.T) {
	p := loadCompose(t, root, false)
	for _, s := range p.Services {
		if s.Image == "" {
			t.Errorf("%s: no image", s.Name)
			continue
		}
		checkImagePinned(t, s.Name, s.Image)
	}
	if a, b := service(t, p, svcWorker).Image, service(t, p, svcCodecServer).Image; a != b {
		t.Errorf("the worker (%s) and the codec server (%s) should share one image", a, b)
	}
	want := temporalServerVersion(t)
	if name, tag, _ := imageRef(service(t, p, svcTemporal).Image); name != "temporalio/server" || tag != want {
		t.Errorf("%s: image %s, want temporalio/server:%s", svcTemporal, service(t, p, svcTemporal).Image, want)
	}
	for _, name := range []string{svcSchema, svcNamespace} {
		img := service(t, p, name).Image
		if n, tag, _ := imageRef(img); n != "temporalio/admin-tools" || (tag != want && !strings.HasPrefix(tag, want+"-")) {
			t.Errorf("%s: image %s, want temporalio/admin-tools:%s[-...]", name, img, want)
		}
	}
	if n, _, _ := imageRef(service(t, p, svcUI).Image); n != "temporalio/ui" {
		t.Errorf("%s: image %s, want temporalio/ui", svcUI, service(t, p, svcUI).Image)
	}
}

// TestComposeTemporal checks the Temporal side: the schema job runs
// setup-postgres.sh against the postgres service, the server waits for it
// and reads deploy/temporal/dynamicconfig.yaml, the namespace job runs
// create-namespace.sh after the server is healthy, and every published
// port listens on loopback only.
func TestComposeTemporal(t *testing.T) {
	p := loadCompose(t, root, false)
	scripts := map[string]string{svcSchema: "setup-postgres.sh", svcNamespace: "create-namespace.sh"}
	for name, script := range scripts {
		s := service(t, p, name)
		argv := append(append([]string{}, s.Entrypoint...), s.Command...)
		if !slices.Equal(argv, []string{"/bin/sh", "/scripts/" + script}) {
			t.Errorf("%s runs %q, want /bin/sh /scripts/%s", name, argv, script)
		}
		mounted := false
		for _, v := range s.Volumes {
			rel, _ := filepath.Rel(root, v.Source)
			if v.Type == types.VolumeTypeBind && filepath.ToSlash(rel) == "deploy/compose/"+script && v.Target == "/scripts/"+script && v.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: deploy/compose/%s is not mounted read-only at /scripts/%s", name, script, script)
		}
	}
	schema := service(t, p, svcSchema)
	if envValue(schema, "POSTGRES_SEEDS") != svcPostgres {
		t.Errorf("%s: POSTGRES_SEEDS is not %s", svcSchema, svcPostgres)
	}
	temporal := service(t, p, svcTemporal)
	for k, want := range map[string]string{"DB": "postgres12", "POSTGRES_SEEDS": svcPostgres, "POSTGRES_USER": envValue(schema, "POSTGRES_USER")} {
		if got := envValue(temporal, k); got != want {
			t.Errorf("%s: %s = %q, want %q", svcTemporal, k, got, want)
		}
	}
	if d := temporal.DependsOn[svcSchema]; d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("%s does not wait for %s to complete", svcTemporal, svcSchema)
	}
	if d := service(t, p, svcNamespace).DependsOn[svcTemporal]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s does not wait for %s to be healthy", svcNamespace, svcTemporal)
	}
	if envValue(service(t, p, svcNamespace), "TEMPORAL_ADDRESS") != "temporal:7233" {
		t.Errorf("%s: TEMPORAL_ADDRESS is not temporal:7233", svcNamespace)
	}

	// Dynamic config: the directory deploy/temporal, read-only, and the file
	// DYNAMIC_CONFIG_FILE_PATH names is deploy/temporal/dynamicconfig.yaml.
	dc := envValue(temporal, "DYNAMIC_CONFIG_FILE_PATH")
	found := false
	for _, v := range temporal.Volumes {
		rel, _ := filepath.Rel(root, v.Source)
		if filepath.ToSlash(rel) == "deploy/temporal" && v.ReadOnly && filepath.Join(v.Target, "dynamicconfig.yaml") == dc {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: DYNAMIC_CONFIG_FILE_PATH %s is not deploy/temporal/dynamicconfig.yaml mounted read-only", svcTemporal, dc)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "temporal", "dynamicconfig.yaml")); err != nil {
		t.Logf("deploy/temporal/dynamicconfig.yaml is not there yet (%v): the temporal service needs it", err)
	}

	for _, s := range p.Services {
		for _, pc := range s.Ports {
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 only", s.Name, pc.Target, pc.HostIP)
			}
		}
	}
	if len(service(t, p, svcPostgres).Ports) > 0 {
		t.Errorf("%s: PostgreSQL need not be published", svcPostgres)
	}
	if v := regexp.MustCompile(`(?m)^\s*container_name:`).FindString(string(readFile(t, "docker-compose.yml"))); v != "" {
		t.Error("docker-compose.yml sets container_name: it breaks replicas and clashes between projects")
	}
}
