package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/keyrotor/keyrotor/internal/preflight"
)

// Preflight writes the permissions check for a terminal, one line per
// action.
func Preflight(w io.Writer, r *preflight.Report) error {
	var b strings.Builder
	for _, a := range r.Accounts {
		writeAccount(&b, a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeAccount(b *strings.Builder, a preflight.AccountReport) {
	fmt.Fprintf(b, "account %s", a.Name)
	if a.RoleARN != "" {
		fmt.Fprintf(b, " (role %s)", a.RoleARN)
	}
	switch {
	case a.Problem != "":
		fmt.Fprintf(b, ": %s\n", a.Problem)
		return
	default:
		fmt.Fprintf(b, ": as %s\n", a.Caller)
	}
	if len(a.Users) == 0 {
		b.WriteString("  no user is rotated in this account\n")
	}
	for _, u := range a.Users {
		writeUser(b, u)
	}
}

func writeUser(b *strings.Builder, u preflight.UserReport) {
	if u.Problem != "" {
		fmt.Fprintf(b, "  user %s: %s\n", u.Name, u.Problem)
		return
	}
	fmt.Fprintf(b, "  user %s (%s)\n", u.Name, u.ARN)
	for _, res := range u.Actions {
		fmt.Fprintf(b, "    %-8s %-25s %s\n", res.Status, res.Action, res.Reason)
	}
}

// TargetChecks writes the targets' read-only checks, one line each, and
// returns how many failed.
func TargetChecks(w io.Writer, checks []preflight.TargetReport) (failed int, err error) {
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, c := range checks {
		mark := "ok     "
		if !c.OK {
			mark = "MISSING"
			failed++
		}
		fmt.Fprintf(&b, "  %s  %s in %s: %s: %s\n", mark, c.User, c.Account, c.Target, c.Detail)
	}
	_, err = io.WriteString(w, b.String())
	return failed, err
}

// OIDCHints writes, per target, how its pipelines could drop the key.
func OIDCHints(w io.Writer, hints []preflight.OIDCHint) error {
	var b strings.Builder
	for i, h := range hints {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s (user %s in %s)\n", h.Target, h.User, h.Account)
		if !h.Applicable {
			fmt.Fprintf(&b, "  no OIDC: %s\n", h.Note)
			if h.Docs != "" {
				fmt.Fprintf(&b, "  docs: %s\n", h.Docs)
			}
			continue
		}
		fmt.Fprintf(&b, "  IAM OIDC provider: %s (audience %s)\n", h.Provider, h.Audience)
		b.WriteString("  role trust policy:\n")
		for _, line := range strings.Split(string(h.TrustPolicy), "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
		b.WriteString("  the pipeline sets:\n")
		for _, p := range h.Pipeline {
			fmt.Fprintf(&b, "    - %s\n", p)
		}
		fmt.Fprintf(&b, "  docs: %s\n", h.Docs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
