package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Selector is a rotations item that selects IAM users by path and tags
// instead of naming one. Its targets may use Go text/template placeholders
// over the selected user ({{.User}}, {{.Path}}, {{.Account}},
// {{.Tags.KEY}}), rendered for each user by Expand and then checked like any
// other target. The worker's file stays the only authority on where keys
// go: a user's tags only fill in the placeholders the file wrote.
type Selector struct {
	Name    string            // "rotations[2]": how messages name it
	Account string            // the account whose users it selects
	Path    string            // IAM path prefix, starting and ending with "/"
	Tags    map[string]string // tags a user must carry, with these values
	// Rotation is what every selected user's rotation shares: account,
	// description, policy, secret names and notify routes (no user, no
	// targets).
	Rotation model.Rotation
	// Kinds are the kinds of its targets (for the worker's token checks).
	Kinds []model.TargetKind

	at        pos   // the item
	targetsAt pos   // the targets key
	targets   *node // the targets list, placeholders unrendered
	templates map[*node]*targetTemplate
	notify    []model.NotifyChannel // the item's own channels
}

// targetTemplate is one templated string of a selector's targets.
type targetTemplate struct {
	tmpl *template.Template
	path string   // the field, e.g. rotations[1].targets[0].github.repository
	tags []string // the tag keys it reads
}

// SelectedUser is an IAM user a selector may select; it is what a target
// template sees.
type SelectedUser struct {
	Account string
	User    string
	Path    string
	Tags    map[string]string
}

// Matches reports whether the selector selects u: same account, a path
// under the selector's, and every tag of the selector with its value (tag
// keys compared without regard to case, as IAM does; values exactly).
func (s *Selector) Matches(u SelectedUser) bool {
	if u.Account != s.Account || !strings.HasPrefix(u.Path, s.Path) {
		return false
	}
	for k, want := range s.Tags {
		v, ok := tagValue(u.Tags, k)
		if !ok || v != want {
			return false
		}
	}
	return true
}

func tagValue(tags map[string]string, key string) (string, bool) {
	if v, ok := tags[key]; ok {
		return v, true
	}
	for k, v := range tags {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Expand renders the selector's targets for u and checks them as the
// loader checks a named rotation's: the result is the user's rotation. The
// error names the user, the field and, for a missing tag, the tag.
func (c *Config) Expand(s *Selector, u SelectedUser) (model.Rotation, error) {
	r := s.Rotation
	r.User = u.User
	if !userRE.MatchString(u.User) {
		return r, fmt.Errorf("user %q in account %s (selected by %s): not a valid IAM user name", u.User, u.Account, s.Name)
	}
	var problems []string
	rendered := s.targets.clone(func(orig, cp *node) {
		t := s.templates[orig]
		if t == nil {
			return
		}
		var b strings.Builder
		if err := t.tmpl.Execute(&b, u); err != nil {
			problems = append(problems, c.renderProblem(orig, t, u, err))
			return
		}
		cp.text, cp.raw = b.String(), true
	})
	if len(problems) == 0 {
		l := &loader{file: c.File, lookupEnv: c.lookupEnv}
		fs := fields{m: map[string]*field{"targets": {key: "targets", keyPos: s.targetsAt, val: rendered}}, at: s.at, path: s.Name}
		r.Targets = l.targets(fs, s.Name, c)
		for _, e := range l.errs {
			msg := e.Error()
			if t := s.templateAt(e.Line, e.Column); t != nil && len(t.tags) > 0 {
				msg += " (rendered from tag " + strings.Join(t.tags, ", ") + ")"
			}
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return r, fmt.Errorf("user %s in account %s (selected by %s): %s", u.User, u.Account, s.Name, strings.Join(problems, "; "))
	}
	return r, nil
}

// NotifyChannelOf returns the notify channel called name of a rotation
// that s expanded: one of the file's, or one of the selector's own.
func (c *Config) NotifyChannelOf(s *Selector, r model.Rotation, name string) (model.NotifyChannel, error) {
	return c.notifyChannel(r, s.notify, name)
}

func (c *Config) renderProblem(n *node, t *targetTemplate, u SelectedUser, err error) string {
	where := fmt.Sprintf("%s:%d:%d: %s", c.File, n.pos.line, n.pos.col, t.path)
	for _, k := range t.tags {
		if _, ok := u.Tags[k]; !ok {
			return fmt.Sprintf("%s: the user has no tag %q", where, k)
		}
	}
	return fmt.Sprintf("%s: %v", where, err)
}

func (s *Selector) templateAt(line, col int) *targetTemplate {
	for n, t := range s.templates {
		if n.pos.line == line && n.pos.col == col {
			return t
		}
	}
	return nil
}

// clone deep-copies the tree, calling edit with each original string
// scalar and its copy (templates are keyed by the original).
func (n *node) clone(edit func(orig, cp *node)) *node {
	if n == nil {
		return nil
	}
	cp := *n
	switch n.kind {
	case kScalar:
		edit(n, &cp)
	case kMap:
		cp.fields = make([]*field, len(n.fields))
		for i, f := range n.fields {
			cp.fields[i] = &field{key: f.key, keyPos: f.keyPos, val: f.val.clone(edit)}
		}
	case kSeq:
		cp.items = make([]*node, len(n.items))
		for i, it := range n.items {
			cp.items[i] = it.clone(edit)
		}
	}
	return &cp
}

var (
	// iamPathRE is an IAM path: "/" or /segments/.
	iamPathRE = regexp.MustCompile(`^/(?:[\x21-\x7E]*/)?$`)
	// tagKeyRE is an IAM tag key.
	tagKeyRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// selector reads a rotations item with a selector (fs are the item's
// fields): the users it selects, and its targets as templates. r holds
// what the item shares with a named rotation (policy, secret names,
// notify), read by the caller.
func (l *loader) selector(fs fields, path string, cfg *Config) *Selector {
	f := fs.get("selector")
	spath := join(path, "selector")
	s := &Selector{Name: path, at: fs.at, targetsAt: fs.keyPos("targets"), templates: map[*node]*targetTemplate{}}
	if f == nil {
		l.errf(fs.keyPos("selector"), spath, "must not be empty: give path, tag or both")
		return s
	}
	sfs := l.mapping(f.val, f.keyPos, spath, "account", "path", "tag")
	if fs.present("user") {
		l.errf(fs.keyPos("user"), join(path, "user"), "user and selector are mutually exclusive: a rotation names one user or selects several")
	}
	// The account: in the selector or at the item's level, not two.
	item, own := l.str(fs, "account"), l.str(sfs, "account")
	switch {
	case item != "" && own != "" && item != own:
		l.errf(sfs.get("account").valPos(), join(spath, "account"), "%q differs from the rotation's account %q; write it once", own, item)
	case own != "":
		s.Account = own
	default:
		s.Account = item
	}
	if s.Account == "" {
		l.errf(sfs.at, join(spath, "account"), "is required (in the selector or the rotation)")
	} else if _, ok := cfg.Account(s.Account); !ok {
		at := fs.keyPos("account")
		if own != "" {
			at = sfs.get("account").valPos()
		}
		l.errf(at, join(spath, "account"), "unknown account %q; accounts: %s", s.Account, list(accountNames(cfg)))
	}
	s.Path = "/"
	if sfs.present("path") {
		p := l.nonEmpty(sfs, "path", " (leave it out for every path)")
		switch {
		case p == "":
		case !iamPathRE.MatchString(p):
			l.errf(sfs.get("path").valPos(), join(spath, "path"), "%q is not an IAM path: it starts and ends with / (/ci/), so that /ci does not also select /cicd/", p)
		default:
			s.Path = p
		}
	}
	if tf := sfs.get("tag"); tf != nil {
		s.Tags = l.selectorTags(tf, join(spath, "tag"))
	}
	if s.Path == "/" && !sfs.present("path") && !sfs.has("tag") || s.Path == "/" && sfs.has("path") && l.str(sfs, "path") == "/" && !sfs.has("tag") {
		l.errf(sfs.at, spath, "selects every user of the account: give a path other than / or a tag")
	}
	l.targetTemplates(fs, path, s, cfg)
	return s
}

// selectorTags reads selector.tag: tag keys and the values users must have.
func (l *loader) selectorTags(f *field, path string) map[string]string {
	n := f.val
	if n.kind != kMap {
		l.errf(f.valPos(), path, "must be a mapping of tag keys to values, not %s", n.describe())
		return nil
	}
	tags := map[string]string{}
	for _, tf := range n.fields {
		p := join(path, tf.key)
		if !tagKeyRE.MatchString(tf.key) || strings.HasPrefix(strings.ToLower(tf.key), "aws:") {
			l.errf(tf.keyPos, p, "%q is not an IAM tag key", tf.key)
			continue
		}
		if _, ok := tagValue(tags, tf.key); ok {
			l.errf(tf.keyPos, p, "tag %q is listed twice (IAM tag keys do not differ by case)", tf.key)
			continue
		}
		v := tf.val
		switch {
		case v.kind == kNull:
			tags[tf.key] = ""
		case v.kind != kScalar:
			l.errf(tf.valPos(), p, "must be the tag's value, not %s", v.describe())
		case v.typ != tString:
			l.errf(tf.valPos(), p, "must be a string, not %s (quote it: %q)", v.describe(), v.text)
		case len(v.text) > 256:
			l.errf(tf.valPos(), p, "an IAM tag value has at most 256 characters")
		default:
			tags[tf.key] = v.text
		}
	}
	if len(n.fields) == 0 {
		l.errf(f.valPos(), path, "must list at least one tag (or leave tag out)")
	}
	return tags
}

// targetTemplates parses every templated string of the selector's targets
// and reads the targets once with sample values, so that a mistake that
// does not depend on the user (an unknown field, a missing one, two kinds
// in one item) is reported at load. What a placeholder renders to is only
// known per user: those values are checked by Expand.
func (l *loader) targetTemplates(fs fields, path string, s *Selector, cfg *Config) {
	f := fs.get("targets")
	if f == nil || f.val.kind != kSeq {
		l.targets(fs, path, cfg)
		return
	}
	s.targets = f.val
	l.walkTargets(f.val, join(path, "targets"), func(n *node, npath string) {
		if !strings.Contains(n.text, "{{") {
			return
		}
		src, _, err := expandEnv(n.text, l.lookupEnv, func(name string) {
			l.warnf(n.pos, npath, "environment variable %s is not set; the value is empty", name)
		})
		if err != nil {
			l.errf(n.pos, npath, "%v", err)
			return
		}
		t, err := template.New(npath).Option("missingkey=error").Parse(src)
		if err != nil {
			l.errf(n.pos, npath, "template: %s", strings.TrimPrefix(err.Error(), "template: "+npath+":"))
			return
		}
		tags, problem := templateFields(t)
		if problem != "" {
			l.errf(n.pos, npath, "%s", problem)
			return
		}
		s.templates[n] = &targetTemplate{tmpl: t, path: npath, tags: tags}
	})
	// The sample read: each placeholder renders to a plain word (a tag to
	// its key), so that two targets differing by their placeholders stay
	// different; errors at a templated value are left to Expand.
	sample := SelectedUser{Account: s.Account, User: "user", Path: "/path/", Tags: map[string]string{}}
	for _, t := range s.templates {
		for _, k := range t.tags {
			sample.Tags[k] = k
		}
	}
	rendered := s.targets.clone(func(orig, cp *node) {
		if t := s.templates[orig]; t != nil {
			var b strings.Builder
			if t.tmpl.Execute(&b, sample) == nil {
				cp.text, cp.raw = b.String(), true
			}
		}
	})
	sub := &loader{file: l.file, lookupEnv: l.lookupEnv}
	tfs := fields{m: map[string]*field{"targets": {key: "targets", keyPos: f.keyPos, val: rendered}}, at: fs.at, path: path}
	targets := sub.targets(tfs, path, cfg)
	for _, e := range sub.errs {
		if s.templateAt(e.Line, e.Column) == nil {
			l.errs = append(l.errs, e)
		}
	}
	kinds := map[model.TargetKind]bool{}
	for _, t := range targets {
		kinds[t.Kind] = true
	}
	s.Kinds = slices.Sorted(maps.Keys(kinds))
}

// walkTargets calls fn for every string scalar under n.
func (l *loader) walkTargets(n *node, path string, fn func(n *node, path string)) {
	switch n.kind {
	case kScalar:
		if n.typ == tString {
			fn(n, path)
		}
	case kMap:
		for _, f := range n.fields {
			l.walkTargets(f.val, join(path, f.key), fn)
		}
	case kSeq:
		for i, it := range n.items {
			l.walkTargets(it, index(path, i), fn)
		}
	}
}

// rejectTemplates reports placeholders in a named rotation's targets: they
// only mean something with a selector.
func (l *loader) rejectTemplates(fs fields, path string) {
	f := fs.get("targets")
	if f == nil {
		return
	}
	l.walkTargets(f.val, join(path, "targets"), func(n *node, npath string) {
		if strings.Contains(n.text, "{{") {
			l.errf(n.pos, npath, "a placeholder ({{...}}) needs a selector: a rotation that names its user has nothing to fill it with")
		}
	})
}

// templateFields checks that a template only reads .User, .Path, .Account
// and .Tags.KEY, and returns the tag keys it reads.
func templateFields(t *template.Template) (tags []string, problem string) {
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		if problem != "" || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			problem = "with changes what . means: write {{.Tags.KEY}}, {{.User}}, {{.Path}} or {{.Account}}"
		case *parse.RangeNode:
			problem = "range is not supported: write {{.Tags.KEY}}, {{.User}}, {{.Path}} or {{.Account}}"
		case *parse.TemplateNode:
			problem = "template is not supported"
		case *parse.ChainNode:
			problem = "unsupported placeholder " + n.String()
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				walk(&parse.FieldNode{Ident: n.Ident[1:]})
			}
		case *parse.FieldNode:
			switch {
			case len(n.Ident) == 1 && slices.Contains([]string{"User", "Path", "Account"}, n.Ident[0]):
			case len(n.Ident) == 2 && n.Ident[0] == "Tags":
				if !slices.Contains(tags, n.Ident[1]) {
					tags = append(tags, n.Ident[1])
				}
			case n.Ident[0] == "Tags":
				problem = "write {{.Tags.KEY}}: the value of one tag"
			default:
				problem = fmt.Sprintf("unknown field .%s; a placeholder reads .User, .Path, .Account or .Tags.KEY", strings.Join(n.Ident, "."))
			}
		}
	}
	walk(t.Root)
	return tags, problem
}

func accountNames(cfg *Config) []string {
	names := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		names[i] = a.Name
	}
	return names
}
