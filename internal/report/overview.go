package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/operator"
)

// Overviews writes `starter status`: one block per rotation.
func Overviews(w io.Writer, os []operator.Overview, now time.Time) error {
	var b strings.Builder
	for i, o := range os {
		if i > 0 {
			b.WriteString("\n")
		}
		overview(&b, o, now)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func overview(b *strings.Builder, o operator.Overview, now time.Time) {
	phase := ""
	if o.Status != nil {
		phase = " — " + string(o.Status.Phase)
	}
	fmt.Fprintf(b, "%s: %s%s\n", o.WorkflowID, o.Execution, phase)
	if o.Problem != "" {
		fmt.Fprintf(b, "  problem:  %s\n", o.Problem)
	}
	if s := o.Status; s != nil {
		if s.OldKeyID != "" {
			fmt.Fprintf(b, "  old key:  %s%s\n", s.OldKeyID, age(s.OldKeyCreatedAt, now))
		}
		if s.NewKeyID != "" {
			fmt.Fprintf(b, "  new key:  %s%s\n", s.NewKeyID, age(s.NewKeyCreatedAt, now))
		}
		if s.WaitUntil != nil {
			fmt.Fprintf(b, "  waiting:  %s, %s left (until %s)\n", s.Waiting, roundDuration(s.WaitUntil.Sub(now)), s.WaitUntil.UTC().Format(time.RFC3339))
		}
		if s.HeldReason != "" {
			fmt.Fprintf(b, "  held:     %s\n", s.HeldReason)
		}
		if s.Error != "" {
			fmt.Fprintf(b, "  error:    %s\n", s.Error)
		}
		for _, t := range s.Targets {
			line := string(t.State)
			switch {
			case t.Error != "":
				line += ": " + t.Error
			case t.Waiting != "":
				line += ": " + t.Waiting
			case t.ConfirmedBy != "":
				line += " by " + t.ConfirmedBy
			}
			fmt.Fprintf(b, "  target:   %-28s %s\n", t.Target, line)
		}
		for _, rv := range s.Revocations {
			fmt.Fprintf(b, "  revoke:   %s %s%s\n", orNone(rv.AccessKeyID), rv.State, errSuffix(rv.Error))
		}
		for _, n := range s.Notices {
			fmt.Fprintf(b, "  notice:   %s\n", n)
		}
	}
	if o.ClosedAt != nil {
		fmt.Fprintf(b, "  closed:   %s ago\n", roundDuration(now.Sub(*o.ClosedAt)))
	}
	switch sc := o.Schedule; {
	case sc == nil:
		b.WriteString("  schedule: none (starter schedules sync creates it)\n")
	case sc.Paused:
		b.WriteString("  schedule: paused\n")
	case sc.NextRun != nil:
		fmt.Fprintf(b, "  schedule: next run in %s (%s)\n", roundDuration(sc.NextRun.Sub(now)), sc.NextRun.UTC().Format(time.RFC3339))
	}
}

func age(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return ", created " + roundDuration(now.Sub(*t)) + " ago"
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

// roundDuration keeps durations readable: seconds under an hour, minutes
// under a day, then days and hours.
func roundDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		return d.Round(time.Minute).String()
	default:
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%dh", days, int((d%(24*time.Hour))/time.Hour))
	}
}
