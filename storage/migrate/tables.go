package migrate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Copied lists the tables copied row by row, every column, in an order
// that satisfies PostgreSQL's foreign keys (a table after those it refers
// to). A table added to either schema must be added here or to NotCopied
// or Translated: until then Run refuses to start (checkTables) and the
// package's tests fail.
var Copied = []string{
	// identity (sqlite 0001)
	"tenants", "regions", "stores", "users", "enrollment_codes", "devices", "api_keys", "meta",
	// versions and the change log (0002, 0008, 0010)
	"tenant_versions", "records", "scope_exits", "actor_seqs", "push_results", "conflicts",
	"receipts", "device_cursors", "device_status", "served_pages",
	// photos and uploads (0003, 0006, 0007)
	"record_photos", "photos", "photo_holders", "photo_attachers", "uploads", "upload_chunks", "upload_objects", "tenant_photos", "photo_notices",
	// the event outbox and its unsent events and sent marks (0004, 0021)
	"outbox", "outbox_unsent", "outbox_sent",
	// insights (0005, 0009, 0012)
	"insights_applied_events", "insights_config", "insights_actions", "insights_materials",
	"insights_deliveries", "insights_phi_days", "insights_customers", "insights_stock",
	"insights_photos", "insights_stalls", "insights_progress", "insights_effects",
	"insights_interventions", "insights_findings", "access_grants", "audit_entries",
	// rating links (0013)
	"rating_secrets", "rating_tokens",
}

// Translated lists the tables whose rows do not copy one to one, with what
// Run does instead.
var Translated = map[string]string{
	"counters": "SQLite's one row 'seq' (the commit sequence across tenants, records.seq) becomes PostgreSQL's " +
		"'surgery_seq' (the position of surgery supports, records.seq): records.seq is copied unchanged, " +
		"so the photo sweep's mark (meta photos_surgery_mark) stays valid and new positions come after every copied one",
}

// NotCopied lists the tables of either schema that are not copied, with
// the reason. Tables whose name starts with "sqlite_" are SQLite's own.
var NotCopied = map[string]string{
	"schema_migrations": "each store records the migrations it applied; postgres.Open applies PostgreSQL's before the copy",
	"insights_progress_staged": "SQLite's stage of insights_progress rows (migration 0022): Run folds it into insights_progress " +
		"before its snapshot and refuses a snapshot in which rows were staged since; PostgreSQL writes insights_progress directly",
}

// sqliteSequence is SQLite's table of AUTOINCREMENT high-water marks. It
// is read, not copied: the PostgreSQL sequence of each serial column
// (outbox.seq, insights_effects.id) is set to the larger of the mark and
// the highest copied value, so no id is ever handed out twice.
const sqliteSequence = "sqlite_sequence"

// sqliteInternal reports whether a table is SQLite's own
// (sqlite_sequence, sqlite_stat1, …).
func sqliteInternal(name string) bool { return strings.HasPrefix(name, "sqlite_") }

// checkTables returns an error naming every table of either schema that
// is neither copied, translated nor listed as not copied, and every copied
// or translated table missing from either schema.
func checkTables(sqliteTables, pgTables []string) error {
	known := func(name string) bool {
		_, tr := Translated[name]
		_, nc := NotCopied[name]
		return tr || nc || slices.Contains(Copied, name)
	}
	var problems []string
	for _, side := range []struct {
		name   string
		tables []string
	}{{"SQLite", sqliteTables}, {"PostgreSQL", pgTables}} {
		for _, t := range side.tables {
			if !known(t) && !sqliteInternal(t) {
				problems = append(problems, fmt.Sprintf("%s table %s is neither copied nor listed as not copied (storage/migrate/tables.go)", side.name, t))
			}
		}
		for _, t := range append(slices.Clone(Copied), keys(Translated)...) {
			if !slices.Contains(side.tables, t) {
				problems = append(problems, fmt.Sprintf("copied table %s is missing from the %s schema", t, side.name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the schemas and the copy plan disagree:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
