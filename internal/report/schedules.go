package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrotor/keyrotor/internal/operator"
)

// ScheduleChanges writes what a schedule sync did (or would do): one line
// per schedule and a summary.
func ScheduleChanges(w io.Writer, changes []operator.ScheduleChange, dryRun bool) {
	counts := map[operator.ChangeKind]int{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ch := range changes {
		counts[ch.Kind]++
		verb := string(ch.Kind)
		if dryRun && ch.Kind != operator.Unchanged && ch.Kind != operator.Conflict {
			verb = "would be " + verb
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", verb, ch.ScheduleID, ch.Detail)
	}
	_ = tw.Flush()
	var parts []string
	for _, k := range []operator.ChangeKind{operator.Created, operator.Updated, operator.Deleted, operator.Unchanged, operator.Conflict} {
		if counts[k] > 0 || k != operator.Conflict {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	suffix := ""
	if dryRun {
		suffix = " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "%s%s\n", strings.Join(parts, ", "), suffix)
}

// Schedules writes the schedules as a table.
func Schedules(w io.Writer, list []operator.ScheduleStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tSTATE\tTIMING\tNEXT RUN\tLAST RUN\tLAST RESULT\tFROM")
	for _, s := range list {
		state := s.State
		if s.State == operator.StatePaused && s.Note != "" {
			state += " (" + s.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ScheduleID, state, dash(s.Timing), when(s.NextRun), when(s.LastRun), dash(s.LastResult), source(s))
	}
	return tw.Flush()
}

// source says where a schedule's rotation comes from: the file's
// rotations, or a selector's discovery (schedules sync).
func source(s operator.ScheduleStatus) string {
	switch {
	case s.Discovered:
		return "selector"
	case s.State == operator.StateNotInCfg || s.State == operator.StateNotManaged:
		return "-"
	}
	return "config"
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
