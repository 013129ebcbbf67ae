package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// targetKind is one kind of target: the key that introduces it in a
// targets item, which is also the name of its provider
// (model.TargetKind.Provider), and what the kind checks itself.
type targetKind struct {
	key    string
	fields []string // the fields of the kind's mapping
	// read reads the kind's mapping, whose fields are fs, at path.
	read func(l *loader, fs fields, path string) model.Target
	// configured reports whether the file has the provider's top-level
	// section, which holds its connection.
	configured func(*Config) bool
	// refuseSecretName says why the provider refuses a secret name that is
	// otherwise valid, or "" when it takes it. Nil: it takes every one.
	refuseSecretName func(name string) string
	// check, when set, says what is wrong with a target read without
	// error, given the rest of the file (e.g. an unknown account).
	check func(c *Config, t model.Target) string
}

// targetKinds are the kinds of target, in the order messages name them. A
// new kind is a file that declares its targetKind, plus a line here.
var targetKinds = []targetKind{
	githubTargetKind,
	gitlabTargetKind,
	awsSecretsManagerTargetKind,
	awsSSMTargetKind,
	bitbucketTargetKind,
	circleciTargetKind,
	travisTargetKind,
	kubernetesTargetKind,
	terraformTargetKind,
}

// targets reads a rotation's targets: at least one, each of one kind, none
// twice.
func (l *loader) targets(rot fields, rpath string, cfg *Config) []model.Target {
	path := join(rpath, "targets")
	items := l.seq(rot, "targets")
	if len(items) == 0 {
		if rot.get("targets") == nil || rot.get("targets").val.kind == kSeq {
			l.errf(rot.keyPos("targets"), path, "a rotation needs at least one target")
		}
		return nil
	}
	keys := make([]string, len(targetKinds))
	for i, k := range targetKinds {
		keys[i] = k.key
	}
	var out []model.Target
	seen := map[string]int{} // target → line
	for i, item := range items {
		ipath := index(path, i)
		fs := l.mapping(item, rot.keyPos("targets"), ipath, keys...)
		t, ok := l.target(item, fs, ipath, keys, cfg)
		if !ok {
			continue
		}
		k := strings.ToLower(t.String())
		if line, dup := seen[k]; dup {
			l.errf(fs.at, ipath, "duplicate target %s (first at line %d)", t, line)
			continue
		}
		seen[k] = fs.at.line
		out = append(out, t)
	}
	return out
}

// target reads one targets item, whose fields are fs: the key of exactly
// one kind, read by that kind, whose provider's section the file must have.
// It is not ok when the kind's reader reported a problem (an unknown field
// of the kind's mapping does not count).
func (l *loader) target(item *node, fs fields, path string, keys []string, cfg *Config) (model.Target, bool) {
	var kind *targetKind
	for i := range targetKinds {
		k := &targetKinds[i]
		if !fs.present(k.key) {
			continue
		}
		if kind != nil {
			l.errf(fs.keyPos(k.key), path, "%s and %s are mutually exclusive; write one target per list item", kind.key, k.key)
			return model.Target{}, false
		}
		kind = k
	}
	if kind == nil {
		if item.kind == kMap || item.kind == kNull {
			l.errf(fs.at, path, "a target needs %s", strings.Join(keys, " or "))
		}
		return model.Target{}, false
	}
	f := fs.m[kind.key]
	kpath := join(path, kind.key)
	kfs := l.mapping(f.val, f.keyPos, kpath, kind.fields...)
	nerr := len(l.errs)
	t := kind.read(l, kfs, kpath)
	ok := len(l.errs) == nerr
	if !kind.configured(cfg) {
		l.errf(f.keyPos, kpath, "a %s target needs the top-level %s section (with its token)", kind.key, kind.key)
	}
	if ok && kind.check != nil {
		if problem := kind.check(cfg, t); problem != "" {
			l.errf(f.keyPos, kpath, "%s", problem)
			ok = false
		}
	}
	return t, ok
}

// oneOf returns which of the keys a and b a target's fields fs hold, when
// they hold exactly one. Otherwise it reports the problem, need being the
// message for neither, and returns "".
func (l *loader) oneOf(fs fields, path, a, b, need string) string {
	hasA, hasB := fs.has(a), fs.has(b)
	switch {
	case hasA && hasB:
		l.errf(fs.at, path, "%s and %s are mutually exclusive", a, b)
	case hasA:
		return a
	case hasB:
		return b
	default:
		l.errf(fs.at, path, "%s", need)
	}
	return ""
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// secretNames reads a rotation's secretNames: the names the targets store
// the key under, valid for every provider the rotation's targets use, and
// different from each other.
func (l *loader) secretNames(rot fields, rpath string, targets []model.Target) model.SecretNames {
	names := model.DefaultSecretNames
	f := rot.get("secretNames")
	if f == nil {
		return names
	}
	path := join(rpath, "secretNames")
	fs := l.mapping(f.val, f.keyPos, path, "accessKeyId", "secretAccessKey")
	var used []targetKind // the kinds of the targets, whose providers must take the names
	for _, k := range targetKinds {
		if k.refuseSecretName != nil && slices.ContainsFunc(targets, func(t model.Target) bool { return t.Kind.Provider() == k.key }) {
			used = append(used, k)
		}
	}
	check := func(key string, dst *string) bool {
		if !fs.present(key) {
			return true
		}
		s := l.str(fs, key)
		at := fs.keyPos(key)
		if g := fs.get(key); g != nil {
			at = g.valPos()
		}
		if !secretNameRE.MatchString(s) {
			l.errf(at, join(path, key), "%q is not a valid variable name (letters, digits and _, not starting with a digit)", s)
			return false
		}
		for _, k := range used {
			if why := k.refuseSecretName(s); why != "" {
				l.errf(at, join(path, key), "%s", why)
				return false
			}
		}
		*dst = s
		return true
	}
	ok1 := check("accessKeyId", &names.AccessKeyID)
	ok2 := check("secretAccessKey", &names.SecretAccessKey)
	if ok1 && ok2 && strings.EqualFold(names.AccessKeyID, names.SecretAccessKey) {
		key := "secretAccessKey"
		if !fs.present(key) {
			key = "accessKeyId"
		}
		l.errf(fs.keyPos(key), join(path, key), "must differ from the other secret name (%s)", names.AccessKeyID)
	}
	return names
}

// isDotSegment reports whether s is "." or "..", which a URL path resolves
// away instead of sending as a name.
func isDotSegment(s string) bool { return s == "." || s == ".." }
