package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyrotor/keyrotor/internal/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// auditReport has a key of every kind: managed and fine, too old, unused,
// never used, inactive, last use unknown, in two accounts, and a problem.
func auditReport() *audit.Report {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const day = 86400
	at := func(daysAgo int) *time.Time { t := now.Add(-time.Duration(daysAgo) * 24 * time.Hour); return &t }
	key := func(account, user, id, status string, ageDays int, used *time.Time, rotation string, maxAgeDays int) audit.Key {
		k := audit.Key{Account: account, User: user, AccessKeyID: id, Status: status, CreatedAt: *at(ageDays),
			AgeSeconds: int64(ageDays) * day, LastUsedAt: used, LastUsedKnown: true, Managed: rotation != "",
			Rotation: rotation, MaxAgeSeconds: int64(maxAgeDays) * day}
		if used != nil {
			k.LastUsedService, k.LastUsedRegion = "s3", "us-east-1"
		}
		return k
	}
	managed := key("prod", "ci-deployer", "AKIAIOSFODNN7EXAMPLE", "Active", 10, at(0), "rotate/prod/ci-deployer", 30)
	old := key("prod", "legacy", "AKIAI44QH8DHBEXAMPLE", "Active", 400, at(2), "", 90)
	old.TooOld, old.BreaksPolicy = true, true
	idle := key("prod", "idle", "AKIAJ2EXAMPLEIDLE001", "Active", 60, at(50), "", 90)
	idle.Unused, idle.BreaksPolicy = true, true
	never := key("prod", "never-used", "AKIAJ2EXAMPLENEVER01", "Active", 40, nil, "", 90)
	never.Unused, never.BreaksPolicy = true, true
	inactive := key("prod", "retired", "AKIAJ2EXAMPLERETIRE1", "Inactive", 200, at(199), "", 90)
	unknown := key("stage", "deploy-stage", "AKIAJ2EXAMPLESTAGE01", "Active", 10, nil, "rotate/stage/deploy-stage", 7)
	unknown.LastUsedKnown, unknown.TooOld, unknown.BreaksPolicy = false, true, true
	return &audit.Report{
		GeneratedAt: now, Accounts: []string{"prod", "stage"}, UnusedForSeconds: 30 * day,
		Keys:     []audit.Key{managed, idle, old, never, inactive, unknown},
		Breaches: 4,
		Problems: []audit.Problem{{Account: "stage", User: "deploy-stage", AccessKeyID: "AKIAJ2EXAMPLESTAGE01",
			Action: audit.ActionGetAccessKeyLastUsed, Reason: "AccessDenied: not authorized"}},
	}
}

func TestAuditGolden(t *testing.T) {
	for _, tt := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"audit.golden.txt", func(b *bytes.Buffer) error { return AuditTable(b, auditReport()) }},
		{"audit.golden.csv", func(b *bytes.Buffer) error { return AuditCSV(b, auditReport()) }},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var got bytes.Buffer
			require.NoError(t, tt.render(&got))
			golden := filepath.Join("testdata", tt.file)
			if *update {
				require.NoError(t, os.WriteFile(golden, got.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "rewrite with: go test ./internal/report -run TestAuditGolden -update")
			require.Equal(t, string(want), got.String())
		})
	}
}
