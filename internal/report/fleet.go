package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrotor/keyrotor/internal/operator"
)

// FleetProgress is the one-line progress of `starter rotate --all`.
func FleetProgress(p operator.FleetProgress) string {
	line := fmt.Sprintf("%d users: %d running (%d pushing, %d waiting", p.Total, p.Running, p.Pushing, p.Waiting)
	if p.Holding > 0 {
		line += fmt.Sprintf(", %d holding", p.Holding)
	}
	line += fmt.Sprintf("), %d done, %d failed", p.Done, p.Failed)
	if p.Queued > 0 {
		line += fmt.Sprintf(", %d queued", p.Queued)
	}
	if p.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", p.Skipped)
	}
	return line
}

// FleetResults writes the summary table of `starter rotate --all`: one line
// per user with its outcome, new key ID, duration and error.
func FleetResults(w io.Writer, results []operator.FleetResult, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tUSER\tOUTCOME\tNEW KEY\tDURATION\tERROR")
	for _, r := range results {
		outcome := r.Outcome
		switch {
		case r.Outcome == operator.OutcomeRunning && r.Phase != "":
			outcome += " (" + string(r.Phase) + ")"
		case r.Outcome == operator.OutcomeSkipped && r.LastRotated != nil:
			outcome += " (rotated " + roundDuration(now.Sub(*r.LastRotated)) + " ago)"
		}
		if r.AlreadyRunning {
			outcome += ", was running"
		}
		dur := "-"
		if r.Duration > 0 || r.Outcome == operator.OutcomeDone || (r.Outcome == operator.OutcomeFailed && r.RunID != "") {
			dur = roundDuration(r.Duration)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.User, outcome, dash(r.NewKeyID), dur, dash(oneLine(r.Error)))
	}
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// FleetSummary writes `starter status --summary`.
func FleetSummary(w io.Writer, s operator.FleetSummary, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d users, %d with a running rotation\n\n", s.Users, s.Running)
	phases := phaseOrder(s.ByPhase)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "ACCOUNT\tUSERS\tRUNNING")
	for _, p := range phases {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(p))
	}
	fmt.Fprintln(tw)
	row := func(name string, users, running int, by map[string]int) {
		fmt.Fprintf(tw, "%s\t%d\t%d", name, users, running)
		for _, p := range phases {
			fmt.Fprintf(tw, "\t%d", by[p])
		}
		fmt.Fprintln(tw)
	}
	for _, a := range s.ByAccount {
		row(a.Account, a.Users, a.Running, a.ByPhase)
	}
	if len(s.ByAccount) > 1 {
		row("all", s.Users, s.Running, s.ByPhase)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	if k := s.OldestKey; k != nil {
		fmt.Fprintf(&b, "oldest key: %s of %s/%s, created %s ago (%s; %s)\n", k.KeyID, k.Account, k.User,
			roundDuration(now.Sub(k.CreatedAt)), k.CreatedAt.UTC().Format(time.RFC3339), k.From)
	} else {
		b.WriteString("oldest key: unknown (no rotation has run)\n")
	}
	if n := s.ByPhase[operator.NeverRunPhase]; n > 0 && s.OldestKey != nil {
		fmt.Fprintf(&b, "            (%d users never rotated here: their keys' ages are unknown)\n", n)
	}
	if len(s.Holds) == 0 {
		b.WriteString("holds: none\n")
	} else {
		fmt.Fprintf(&b, "holds needing attention: %d\n", len(s.Holds))
		for _, h := range s.Holds {
			fmt.Fprintf(&b, "  %s: %s\n", h.WorkflowID, orNone(h.Reason))
			for _, c := range h.Resolve {
				fmt.Fprintf(&b, "    %s\n", c)
			}
		}
	}
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// phaseOrder lists the phases present, in runbook order, then the endings,
// then "never run".
func phaseOrder(by map[string]int) []string {
	order := []string{"inspecting", "creating", "verifying", "pushing", "grace", "checking-idle", "holding",
		"deactivating", "waiting-to-delete", "deleting", "rolling-back", "revoking", "cancelling",
		"done", "failed", "rolled-back", "cancelled", operator.NeverRunPhase}
	var out []string
	for _, p := range order {
		if by[p] > 0 {
			out = append(out, p)
		}
	}
	var rest []string
	for p, n := range by {
		if n > 0 && !slices.Contains(order, p) {
			rest = append(rest, p)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
