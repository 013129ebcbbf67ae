package config

import (
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// PolicyPeriod is how often the policy rotates: every, or for a cron
// policy the longest gap between two of its runs in the year from now (the
// longest a key waits for its next rotation). Zero when it cannot tell.
func PolicyPeriod(p model.RotationPolicy, now time.Time) time.Duration {
	if p.Cron == "" {
		return p.Every
	}
	sched, err := parseCron(p.Cron)
	if err != nil {
		return 0
	}
	const maxRuns = 1000
	horizon := now.AddDate(1, 0, 0)
	var longest time.Duration
	prev := sched.Next(now.UTC())
	for i := 0; i < maxRuns && !prev.IsZero() && prev.Before(horizon); i++ {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	return longest
}
