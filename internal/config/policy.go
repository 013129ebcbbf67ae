package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// policy reads the policy at path over base: the default policy, or for a
// rotation the top-level one. Fields left out keep base's values.
func (l *loader) policy(f *field, path string, base model.RotationPolicy) model.RotationPolicy {
	fs := l.mapping(f.val, f.keyPos, path, "every", "cron", "jitter", "gracePeriod", "deleteAfter", "requireOldKeyIdle", "idleRecheck", "idleChecks", "pushRetryFor")
	p := base
	dur := func(key string, dst *time.Duration, allowZero bool) {
		d, ok := l.duration(fs, key)
		switch {
		case !ok:
		case d < 0 || (d == 0 && !allowZero):
			what := "positive"
			if allowZero {
				what = "zero or positive"
			}
			l.errf(fs.get(key).valPos(), join(path, key), "must be %s", what)
		default:
			*dst = d
		}
	}
	dur("every", &p.Every, false)
	l.cron(fs, &p)
	dur("jitter", &p.Jitter, true)
	l.checkJitter(fs, p)
	dur("gracePeriod", &p.GracePeriod, true)
	dur("deleteAfter", &p.DeleteAfter, true)
	dur("idleRecheck", &p.IdleRecheck, false)
	dur("pushRetryFor", &p.PushRetryFor, false)
	p.RequireOldKeyIdle = l.boolean(fs, "requireOldKeyIdle", p.RequireOldKeyIdle)
	if n, ok := l.integer(fs, "idleChecks"); ok {
		if n < 1 {
			l.errf(fs.get("idleChecks").valPos(), join(path, "idleChecks"), "must be at least 1")
		} else {
			p.IdleChecks = n
		}
	}
	return p
}

// cron reads the policy's cron expression. A level sets either every or
// cron; whichever is written replaces what it inherits, so a rotation's cron
// overrides the default every, and a rotation's every drops an inherited cron.
func (l *loader) cron(fs fields, p *model.RotationPolicy) {
	path := join(fs.path, "cron")
	if fs.has("every") {
		if fs.present("cron") {
			l.errf(fs.keyPos("cron"), path, "every and cron are mutually exclusive; write one of them")
		}
		p.Cron = ""
		return
	}
	if !fs.present("cron") {
		return
	}
	expr := strings.TrimSpace(l.nonEmpty(fs, "cron", " (leave it out to use every)"))
	if expr == "" {
		return
	}
	if _, err := checkCron(expr); err != nil {
		l.errf(fs.get("cron").valPos(), path, "invalid cron expression %q: %v", expr, err)
		return
	}
	p.Cron = expr
}

// checkJitter makes sure the random delay stays shorter than the period, so
// a delayed run never lands on the next one. It is checked at every level
// that writes every, cron or jitter, against the merged policy.
func (l *loader) checkJitter(fs fields, p model.RotationPolicy) {
	if p.Jitter <= 0 || !fs.has("every") && !fs.has("cron") && !fs.has("jitter") {
		return
	}
	period, what := p.Every, "every ("+p.Every.String()+")"
	if p.Cron != "" {
		gap, err := checkCron(p.Cron)
		if err != nil || gap == 0 {
			return // reported where the cron is written, or it runs too rarely to matter
		}
		period, what = gap, fmt.Sprintf("the shortest gap between runs of cron %q (%s)", p.Cron, gap)
	}
	if p.Jitter < period {
		return
	}
	key, inherited := "jitter", ""
	if !fs.has("jitter") {
		key, inherited = "every", " (inherited)"
		if fs.has("cron") {
			key = "cron"
		}
	}
	l.errf(fs.get(key).valPos(), join(fs.path, key), "jitter %s%s must be shorter than %s", p.Jitter, inherited, what)
}
