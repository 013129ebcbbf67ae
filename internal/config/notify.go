package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// notifyKinds are the keys that introduce a channel, one per kind.
var notifyKinds = []model.NotifyKind{model.NotifyWebhook, model.NotifySlack, model.NotifyTeams}

var channelNameRE = regexp.MustCompile(`^[A-Za-z0-9][\w.-]{0,63}$`)

// notifyChannels reads a notify list (the file's, or a rotation's, at
// path): each item one channel, of one kind, with a name that no channel in
// taken (the ones already read) has. A channel left unnamed is called after
// its kind; a second one of that kind must then be named.
func (l *loader) notifyChannels(fs fields, key, path string, taken []model.NotifyChannel) []model.NotifyChannel {
	var out []model.NotifyChannel
	for i, item := range l.seq(fs, key) {
		ipath := index(path, i)
		known := []string{"name", "secret", "events"}
		for _, k := range notifyKinds {
			known = append(known, string(k))
		}
		cf := l.mapping(item, fs.keyPos(key), ipath, known...)
		c, ok := l.notifyChannel(cf, ipath)
		if !ok {
			continue
		}
		if prev := slices.IndexFunc(append(slices.Clone(taken), out...), func(o model.NotifyChannel) bool { return o.Name == c.Name }); prev >= 0 {
			hint := "give each channel its own name:"
			if !cf.has("name") {
				hint = fmt.Sprintf("unnamed channels are called after their kind; give this one a name: (another %s channel is already called %q)", c.Kind, c.Name)
			}
			l.errf(cf.at, ipath, "duplicate notify channel %q: %s", c.Name, hint)
			continue
		}
		out = append(out, c)
	}
	return out
}

// notifyChannel reads one channel: its kind's URL, the webhook's signing
// secret, the events it wants (every one when left out) and its name.
func (l *loader) notifyChannel(fs fields, path string) (model.NotifyChannel, bool) {
	var kinds []model.NotifyKind
	for _, k := range notifyKinds {
		if fs.has(string(k)) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		l.errf(fs.at, path, "needs exactly one of webhook, slack or teams (the receiver's URL)")
		return model.NotifyChannel{}, false
	}
	c := model.NotifyChannel{Kind: kinds[0], Name: string(kinds[0]), Events: model.NotifyEvents}
	ok := true
	if fs.has("name") {
		c.Name = l.str(fs, "name")
		if !channelNameRE.MatchString(c.Name) {
			l.errf(fs.get("name").valPos(), join(path, "name"), "%q is not a channel name (letters, digits, '_', '.', '-'; at most 64)", c.Name)
			ok = false
		}
	}
	c.URL = l.notifyURL(fs, string(c.Kind), path)
	switch {
	case c.Kind == model.NotifyWebhook && !fs.present("secret"):
		l.errf(fs.at, join(path, "secret"), "is required: the key the HMAC-SHA256 signature of each delivery is made with; write secret: ${KEYROTOR_WEBHOOK_SECRET}")
		ok = false
	case c.Kind == model.NotifyWebhook:
		s, set, vars := l.strRefs(fs, "secret")
		if set && s != "" && len(vars) == 0 {
			l.warnf(fs.get("secret").valPos(), join(path, "secret"), "the signing secret is written in plain text; use ${VAR} to read it from the environment")
		}
		c.Signing = model.Secret(s)
	case fs.present("secret"):
		l.errf(fs.keyPos("secret"), join(path, "secret"), "only a webhook channel is signed; %s webhooks are authenticated by their URL", c.Kind)
		ok = false
	}
	if fs.has("events") {
		c.Events = l.notifyEvents(fs, join(path, "events"))
	}
	return c, ok
}

// notifyURL reads a channel's URL: https, or http to a loopback address
// (a receiver on the same host). Slack and Teams URLs are credentials, so
// one written in plain text is a warning.
func (l *loader) notifyURL(fs fields, key, path string) model.Secret {
	s, set, vars := l.strRefs(fs, key)
	at := fs.get(key).valPos()
	if !set || s == "" {
		if len(vars) == 0 {
			l.errf(at, join(path, key), "must be the receiver's URL")
		}
		return "" // an unset variable was warned about; CheckWorker refuses it
	}
	u, err := url.Parse(s)
	// Never quote the URL: Slack's and Teams' carry their credential.
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		l.errf(at, join(path, key), "must be an https URL")
		return ""
	case u.Scheme == "http" && !loopback(u.Hostname()):
		l.errf(at, join(path, key), "must be an https URL (plain http only to a loopback address)")
		return ""
	}
	if key != string(model.NotifyWebhook) && len(vars) == 0 {
		l.warnf(at, join(path, key), "the %s webhook URL is a credential written in plain text; use ${VAR} to read it from the environment", key)
	}
	return model.Secret(s)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// notifyEvents reads a channel's events: known names, each once.
func (l *loader) notifyEvents(fs fields, path string) []model.NotifyEvent {
	var out []model.NotifyEvent
	names := make([]string, len(model.NotifyEvents))
	for i, e := range model.NotifyEvents {
		names[i] = string(e)
	}
	for i, n := range l.seq(fs, "events") {
		ev := model.NotifyEvent(n.text)
		switch {
		case n.kind != kScalar || n.typ != tString || !slices.Contains(model.NotifyEvents, ev):
			l.errf(n.pos, index(path, i), "unknown event %q; events: %s", n.text, strings.Join(names, ", "))
		case slices.Contains(out, ev):
			l.errf(n.pos, index(path, i), "event %q is listed twice", ev)
		default:
			out = append(out, ev)
		}
	}
	if len(out) == 0 {
		l.errf(fs.keyPos("events"), path, "lists no event; leave it out for every event (%s)", strings.Join(names, ", "))
	}
	return out
}

// uiURL reads temporal.uiURL: the Web UI's address, for links in
// notifications.
func (l *loader) uiURL(fs fields) string {
	if !fs.has("uiURL") {
		return ""
	}
	s := l.str(fs, "uiURL")
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		l.errf(fs.get("uiURL").valPos(), join(fs.path, "uiURL"), "must be the Temporal Web UI's http or https URL, such as https://temporal.example.com")
		return ""
	}
	return strings.TrimSuffix(s, "/")
}

// NotifyChannel returns the notify channel called name of the rotation of
// user in account: one of the file's, or one of the rotation's own.
func (c *Config) NotifyChannel(account, user, name string) (model.NotifyChannel, error) {
	r, err := c.Rotation(account, user)
	if err != nil {
		return model.NotifyChannel{}, err
	}
	return c.notifyChannel(r, c.rotationNotify[r.WorkflowID()], name)
}

// notifyChannel finds name among the file's channels and own, the
// rotation's.
func (c *Config) notifyChannel(r model.Rotation, own []model.NotifyChannel, name string) (model.NotifyChannel, error) {
	chans := append(slices.Clone(c.Notify), own...)
	var names []string
	for _, ch := range chans {
		if ch.Name == name {
			return ch, nil
		}
		names = append(names, ch.Name)
	}
	return model.NotifyChannel{}, fmt.Errorf("%s: the rotation of %s in %s has no notify channel %q; its channels: %s", c.File, r.User, r.Account, name, list(names))
}

// checkNotify reports channels the worker could not deliver to: an empty
// URL or signing secret (an unset environment variable).
func (c *Config) checkNotify(add func(p pos, path, format string, args ...any)) {
	all := slices.Clone(c.Notify)
	for _, r := range c.Rotations {
		all = append(all, c.rotationNotify[r.WorkflowID()]...)
	}
	for _, s := range c.Selectors {
		all = append(all, s.notify...)
	}
	for _, ch := range all {
		if ch.URL.Reveal() == "" {
			add(pos{}, "notify", "channel %q has no URL (is its environment variable set?)", ch.Name)
		}
		if ch.Kind == model.NotifyWebhook && ch.Signing.Reveal() == "" {
			add(pos{}, "notify", "webhook channel %q has an empty signing secret (is its environment variable set?)", ch.Name)
		}
	}
}
