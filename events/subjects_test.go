package events

import (
	"testing"

	"pgregory.net/rapid"
)

func TestSubjectsAreFourSafeTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got, want, stream string
	}{
		{ChangeSubject("01HTENANT", "fieldsync.v1.Visit"), "fieldsync.01HTENANT.changes.Visit", ChangesStream},
		{ChangeSubject("01HTENANT", "Order"), "fieldsync.01HTENANT.changes.Order", ChangesStream},
		{AlertSubject("01HTENANT", "stock.out"), "fieldsync.01HTENANT.alerts.stock_out", AlertsStream},
		{AlertSubject("a b*c>", ""), "fieldsync.a_b_c_.alerts._", AlertsStream},
		{ChangeSubject("", "fieldsync.v1."), "fieldsync._.changes._", ChangesStream},
	} {
		if tc.got != tc.want {
			t.Errorf("subject %q, want %q", tc.got, tc.want)
		}
		if s, ok := StreamForSubject(tc.got); !ok || s != tc.stream {
			t.Errorf("StreamForSubject(%q) = %q, %v; want %q", tc.got, s, ok, tc.stream)
		}
	}
}

func TestStreamForSubjectRejectsForeignSubjects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "fieldsync", "orders.t.changes.Visit", "fieldsync.t.changes", "fieldsync.t.changes.Visit.extra",
		"fieldsync.t.other.Visit", "fieldsync.*.changes.Visit", "fieldsync.t.changes.>", "fieldsync..changes.Visit",
		AllChanges, AllAlerts,
	} {
		if stream, ok := StreamForSubject(s); ok {
			t.Errorf("StreamForSubject(%q) = %q, want none", s, stream)
		}
	}
}

func TestFiltersMatchTheirSubjects(t *testing.T) {
	t.Parallel()
	if got, want := TenantChanges("t.1"), "fieldsync.t_1.changes.*"; got != want {
		t.Errorf("TenantChanges = %q, want %q", got, want)
	}
	if got, want := TenantAlerts("t1"), "fieldsync.t1.alerts.*"; got != want {
		t.Errorf("TenantAlerts = %q, want %q", got, want)
	}
}

// TestSubjectsAreAlwaysWellFormed checks, for any tenant id and type name,
// that the subjects built are four tokens of the right stream, and that
// tokens needing no escaping (generated ids, type names) are kept as they
// are, so today's subjects do not change.
func TestSubjectsAreAlwaysWellFormed(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		tenant := rapid.String().Draw(t, "tenant")
		name := rapid.String().Draw(t, "name")
		if s, ok := StreamForSubject(ChangeSubject(tenant, "fieldsync.v1."+name)); !ok || s != ChangesStream {
			t.Fatalf("change subject %q: stream %q, %v", ChangeSubject(tenant, "fieldsync.v1."+name), s, ok)
		}
		if s, ok := StreamForSubject(AlertSubject(tenant, name)); !ok || s != AlertsStream {
			t.Fatalf("alert subject %q: stream %q, %v", AlertSubject(tenant, name), s, ok)
		}
		plain := rapid.StringMatching(`[0-9A-Za-z_-]{1,30}`)
		tenant, name = plain.Draw(t, "plain tenant"), plain.Draw(t, "plain name")
		if got, want := ChangeSubject(tenant, "fieldsync.v1."+name), "fieldsync."+tenant+".changes."+name; got != want {
			t.Fatalf("change subject %q, want %q", got, want)
		}
		if got, want := AlertSubject(tenant, name), "fieldsync."+tenant+".alerts."+name; got != want {
			t.Fatalf("alert subject %q, want %q", got, want)
		}
	})
}
