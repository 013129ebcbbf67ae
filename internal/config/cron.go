package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron"
)

// cronDescriptors are the shorthands both the cron parser here and Temporal
// Schedules accept. (@every is left out: write every: instead.)
var cronDescriptors = []string{"@yearly", "@monthly", "@weekly", "@daily", "@hourly"}

// checkCron validates a standard 5-field cron expression (minute hour
// day-of-month month day-of-week) or a descriptor such as @daily, and returns
// the shortest gap between two of its runs (0 when it runs at most once in
// the years sampled). Schedules run in UTC, so time zone prefixes are refused.
func checkCron(expr string) (time.Duration, error) {
	switch {
	case strings.HasPrefix(expr, "@every"):
		return 0, fmt.Errorf("use every: for a fixed period")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return 0, fmt.Errorf("time zones are not supported; schedules run in UTC")
	case strings.HasPrefix(expr, "@") && !contains(cronDescriptors, expr):
		return 0, fmt.Errorf("unknown descriptor; use one of %s or 5 fields", strings.Join(cronDescriptors, ", "))
	case !strings.HasPrefix(expr, "@") && len(strings.Fields(expr)) != 5:
		return 0, fmt.Errorf("need 5 fields (minute hour day-of-month month day-of-week), got %d", len(strings.Fields(expr)))
	}
	sched, err := parseCron(expr)
	if err != nil {
		return 0, err
	}
	return shortestGap(sched)
}

// parseCron wraps the parser so that a panic on odd input is an error.
func parseCron(expr string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return cron.ParseStandard(expr)
}

// cronSampleStart is a fixed origin, so validation does not depend on when
// the file is loaded.
var cronSampleStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// shortestGap samples the schedule's runs over a few years (or up to a
// bounded number of runs, enough to see a per-minute schedule's gap) and
// returns the shortest interval between two consecutive runs.
func shortestGap(s cron.Schedule) (time.Duration, error) {
	const maxRuns = 2000
	horizon := cronSampleStart.AddDate(8, 0, 0)
	prev := s.Next(cronSampleStart)
	if prev.IsZero() {
		return 0, fmt.Errorf("it never runs")
	}
	var gap time.Duration
	for range maxRuns {
		next := s.Next(prev)
		if next.IsZero() || next.After(horizon) {
			break
		}
		if d := next.Sub(prev); gap == 0 || d < gap {
			gap = d
		}
		prev = next
	}
	return gap, nil
}
