// Package report renders a rotation's status for people (text) and scripts
// (JSON). It only ever sees key IDs: Status holds no secret.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrotor/keyrotor/internal/contract"
	"github.com/keyrotor/keyrotor/internal/model"
)

// JSON writes the status as indented JSON.
func JSON(w io.Writer, s contract.Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Text writes a readable report: keys, targets, timeline.
func Text(w io.Writer, s contract.Status) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Rotation %s: %s\n", model.WorkflowID(s.Account, s.User), strings.ToUpper(string(s.Phase)))
	if s.Error != "" {
		fmt.Fprintf(&b, "  error:   %s\n", s.Error)
	}
	if s.HeldReason != "" {
		fmt.Fprintf(&b, "  held:    %s\n", s.HeldReason)
	}
	fmt.Fprintf(&b, "  old key: %s\n", orNone(s.OldKeyID))
	fmt.Fprintf(&b, "  new key: %s\n", orNone(s.NewKeyID))
	if s.WaitUntil != nil {
		fmt.Fprintf(&b, "  waiting: %s until %s\n", s.Waiting, s.WaitUntil.UTC().Format(time.RFC3339))
	}
	b.WriteString("\nTargets:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range s.Targets {
		detail := t.Error
		if t.Waiting != "" {
			detail = t.Waiting
		}
		if t.ConfirmedAt != nil {
			detail = "confirmed " + t.ConfirmedAt.UTC().Format(time.RFC3339)
			if t.ConfirmedBy != "" {
				detail += " by " + t.ConfirmedBy
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Target, t.State, detail)
	}
	_ = tw.Flush()
	if len(s.Revocations) > 0 {
		b.WriteString("\nRevocations:\n")
		for _, rv := range s.Revocations {
			fmt.Fprintf(&b, "  %s  %s %s%s%s%s\n", rv.ReceivedAt.UTC().Format(time.RFC3339), orNone(rv.AccessKeyID), rv.State,
				optional(" mode "+rv.Mode, rv.Mode != ""), optional(" by "+rv.RequestedBy, rv.RequestedBy != ""), optional(": "+rv.Reason+rv.Error, rv.Reason+rv.Error != ""))
		}
	}
	if len(s.Notices) > 0 {
		b.WriteString("\nNotices:\n")
		for _, n := range s.Notices {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	b.WriteString("\nTimeline:\n")
	for _, e := range s.Timeline {
		fmt.Fprintf(&b, "  %s  %-17s %s\n", e.At.UTC().Format("15:04:05.000"), e.Phase, e.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func optional(s string, ok bool) string {
	if ok {
		return s
	}
	return ""
}
