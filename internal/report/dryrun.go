package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/keyrotor/keyrotor/internal/preflight"
)

// DryRun writes what each user's rotation would do, a block per user: the
// IAM actions the rotator may call on the user, and per target what would
// be written where, how it would be confirmed, and whether the worker may
// write it. Names only: a dry run holds no key.
func DryRun(w io.Writer, runs []preflight.DryRun) error {
	var b strings.Builder
	for i, d := range runs {
		if i > 0 {
			b.WriteString("\n")
		}
		writeDryRun(&b, d)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDryRun(b *strings.Builder, d preflight.DryRun) {
	fmt.Fprintf(b, "dry run: %s in %s (would start %s; nothing created, nothing started)\n", d.User, d.Account, d.WorkflowID)
	fmt.Fprintf(b, "  secret names: %s, %s\n", d.SecretNames.AccessKeyID, d.SecretNames.SecretAccessKey)
	switch {
	case d.IAM.Problem != "":
		fmt.Fprintf(b, "  IAM: MISSING  %s\n", d.IAM.Problem)
	default:
		fmt.Fprintf(b, "  IAM: user %s, as %s\n", d.IAM.ARN, d.Caller)
		for _, res := range d.IAM.Actions {
			fmt.Fprintf(b, "    %-8s %-25s %s\n", res.Status, res.Action, res.Reason)
		}
	}
	if len(d.Targets) == 0 {
		b.WriteString("  targets: none\n")
	} else {
		fmt.Fprintf(b, "  targets (%d):\n", len(d.Targets))
	}
	for _, t := range d.Targets {
		mark := "ok     "
		if !t.Access.OK {
			mark = "MISSING"
		}
		fmt.Fprintf(b, "    %s  %s (%s)\n", mark, t.Target, t.Kind)
		fmt.Fprintf(b, "             writes:    %s, %s (%s", t.Names.AccessKeyID, t.Names.SecretAccessKey, t.Where)
		if t.Detail != "" {
			fmt.Fprintf(b, "; %s", t.Detail)
		}
		b.WriteString(")\n")
		if len(t.Restarts) > 0 {
			fmt.Fprintf(b, "             restarts:  %s\n", strings.Join(t.Restarts, ", "))
		}
		fmt.Fprintf(b, "             confirmed: %s\n", t.ConfirmedBy)
		fmt.Fprintf(b, "             access:    %s\n", t.Access.Detail)
	}
	missing := d.Missing()
	switch {
	case len(missing) > 0:
		fmt.Fprintf(b, "  result: %d problem(s), the rotation would fail:\n", len(missing))
		for _, m := range missing {
			fmt.Fprintf(b, "    - %s\n", m)
		}
	case d.Unknown() > 0:
		fmt.Fprintf(b, "  result: OK; %d IAM action(s) could not be checked (see deploy/README.md)\n", d.Unknown())
	default:
		b.WriteString("  result: OK\n")
	}
}
