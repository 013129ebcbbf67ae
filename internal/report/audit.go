package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrotor/keyrotor/internal/audit"
)

// AuditTable writes `starter audit` for people: one line per key, sorted
// by account, user and age, then a summary and every problem. Ages are
// measured at the report's time.
func AuditTable(w io.Writer, r *audit.Report) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tUSER\tKEY\tSTATUS\tAGE\tLAST USED\tROTATION\tFINDINGS")
	for _, k := range r.Keys {
		rotation := k.Rotation
		if !k.Managed {
			rotation = "unmanaged"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Account, k.User, k.AccessKeyID, k.Status,
			days(k.AgeSeconds), lastUsed(k), rotation, findings(k, r.GeneratedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	unused := "not checked"
	if r.UnusedForSeconds > 0 {
		unused = "more than " + days(r.UnusedForSeconds)
	}
	maxAge := "each rotation's policy period (unmanaged users: the file's policy)"
	if r.MaxAgeSeconds > 0 {
		maxAge = days(r.MaxAgeSeconds)
	}
	fmt.Fprintf(&b, "\n%d keys in %s; %d break the policy.\n", len(r.Keys), plural(len(r.Accounts), "account"), r.Breaches)
	fmt.Fprintf(&b, "max age: %s; unused: %s; inactive keys are not judged.\n", maxAge, unused)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// auditCSVHeader are the CSV columns.
var auditCSVHeader = []string{"account", "user", "access_key_id", "status", "created", "age_days", "last_used",
	"last_used_service", "last_used_region", "managed", "rotation", "max_age_days", "too_old", "unused", "breaks_policy"}

// AuditCSV writes the keys as CSV (RFC 4180), one row per key with a
// header row; times in RFC 3339, ages in whole days, "last_used" empty
// when the key was never used or its last use could not be read.
func AuditCSV(w io.Writer, r *audit.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditCSVHeader); err != nil {
		return err
	}
	for _, k := range r.Keys {
		used := ""
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.UTC().Format(time.RFC3339)
		}
		row := []string{k.Account, k.User, k.AccessKeyID, k.Status, k.CreatedAt.UTC().Format(time.RFC3339),
			strconv.FormatInt(k.AgeSeconds/86400, 10), used, k.LastUsedService, k.LastUsedRegion,
			strconv.FormatBool(k.Managed), k.Rotation, strconv.FormatFloat(float64(k.MaxAgeSeconds)/86400, 'f', -1, 64),
			strconv.FormatBool(k.TooOld), strconv.FormatBool(k.Unused), strconv.FormatBool(k.BreaksPolicy)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// lastUsed is the key's last use: date, service and region.
func lastUsed(k audit.Key) string {
	switch {
	case !k.LastUsedKnown:
		return "unknown"
	case k.LastUsedAt == nil:
		return "never"
	}
	return k.LastUsedAt.UTC().Format("2006-01-02") + " " + k.LastUsedService + " " + k.LastUsedRegion
}

// findings says why a key breaks the policy, or "ok".
func findings(k audit.Key, now time.Time) string {
	var out []string
	if k.TooOld {
		out = append(out, "older than "+days(k.MaxAgeSeconds))
	}
	if k.Unused {
		since := k.CreatedAt
		what := "never used in"
		if k.LastUsedAt != nil {
			since, what = *k.LastUsedAt, "unused for"
		}
		out = append(out, what+" "+days(int64(now.Sub(since)/time.Second)))
	}
	if len(out) == 0 {
		return "ok"
	}
	return strings.Join(out, ", ")
}

// days writes a number of seconds as whole days (2d and more), hours or
// minutes.
func days(secs int64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d >= 48*time.Hour:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
