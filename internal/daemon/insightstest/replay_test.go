package insightstest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/daemon/insightstest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

const days = 30

// lateDays are the days on which the rep's second visit is entered two
// days after it happened: half the day's key actions are late.
var lateDays = map[int]bool{5: true, 12: true, 26: true}

func visit(rep, customer string, at time.Time, tags ...string) *fieldsyncv1.Visit {
	return &fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, OwnerUserId: rep, CustomerId: customer,
		VisitTime: timestamppb.New(at), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: tags}
}

func diagnosis(staff, customer, conclusion string) *fieldsyncv1.Diagnosis {
	return &fieldsyncv1.Diagnosis{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, OwnerUserId: staff, CustomerId: customer,
		Conclusion: conclusion, Photos: []*fieldsyncv1.PhotoRef{{Sha256: strings.Repeat("ab", 32), SizeBytes: 10}}}
}

// TestReplayAMonth replays 30 days of a team's work on a manual clock: two
// visits a day (one entered late on lateDays), two conflicting diagnoses
// on day 10 (A1) and a decision-maker confirmation without progress on
// day 8 (A5, due 14 days later). Day-by-day PHI lands on the simulated
// days, each planted violation is alerted exactly once, and recomputing
// the month changes neither.
func TestReplayAMonth(t *testing.T) {
	start := time.Now().UTC().AddDate(0, 0, -days-10).Truncate(24 * time.Hour)
	h := insightstest.Start(t, start)
	rep, staff := h.User("rep"), h.User("store_staff")
	for d := range days {
		day := start.AddDate(0, 0, d)
		h.Clock.Set(day.Add(10 * time.Hour))
		rows := []*fieldsyncv1.HistoryRow{h.Row(key("a", d), visit(rep.UserID, "demo-ruijin", day.Add(9*time.Hour), "technical_demo"))}
		late := day.Add(9 * time.Hour)
		if lateDays[d] {
			late = late.AddDate(0, 0, -2)
		}
		rows = append(rows, h.Row(key("b", d), visit(rep.UserID, "demo-ruijin", late, "price_negotiation")))
		switch d {
		case 8:
			rows = append(rows, h.Row("stall", visit(rep.UserID, "demo-huashan", day.Add(9*time.Hour), "decision_maker_confirmed")))
		case 10:
			rows = append(rows, h.RowAt("diag-1", day.Add(8*time.Hour), diagnosis(staff.UserID, "demo-huang", "worn brake pads")),
				h.Row("diag-2", diagnosis(staff.UserID, "demo-huang", "warped brake discs")))
		}
		h.Import(rows...)
		h.Advance(14 * time.Hour) // the next midnight: a sweep
	}
	first, last := start.Format(time.DateOnly), start.AddDate(0, 0, days-1).Format(time.DateOnly)
	checkPhi(t, h.Phi(fieldsyncv1.ScopeKind_SCOPE_KIND_REP, rep.UserID, first, last), start)
	checkAlertsOnce(t, h)

	h.RecomputePhi(first, last)
	checkPhi(t, h.Phi(fieldsyncv1.ScopeKind_SCOPE_KIND_REP, rep.UserID, first, last), start)
	checkAlertsOnce(t, h)
}

func key(prefix string, d int) string { return fmt.Sprintf("%s-%d", prefix, d) }

// checkPhi wants one PHI day per simulated day, its key actions on time
// but on lateDays (one of two late).
func checkPhi(t *testing.T, got []*fieldsyncv1.PhiDay, start time.Time) {
	t.Helper()
	byDate := map[string]*fieldsyncv1.PhiDay{}
	for _, d := range got {
		byDate[d.Date] = d
	}
	for d := range days {
		date := start.AddDate(0, 0, d).Format(time.DateOnly)
		p := byDate[date]
		if p == nil || !p.HasKeyAction {
			t.Errorf("day %d (%s): no key-action PHI", d, date)
			continue
		}
		want := 1.0
		if lateDays[d] {
			want = 0.5
		}
		if p.KeyActionCompletion != want {
			t.Errorf("day %d (%s): key action completion %v, want %v", d, date, p.KeyActionCompletion, want)
		}
	}
	if len(byDate) != days {
		t.Errorf("%d PHI days, want %d", len(byDate), days)
	}
}

// checkAlertsOnce wants exactly one A1 alert for the store manager and one
// A5 alert for the rep.
func checkAlertsOnce(t *testing.T, h *insightstest.Harness) {
	t.Helper()
	for _, c := range []struct {
		role string
		kind fieldsyncv1.AlertKind
	}{
		{"store_manager", fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES},
		{"rep", fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE},
	} {
		n := 0
		for _, a := range h.Alerts(c.role) {
			if a.Kind == c.kind {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s has %d %v alerts, want 1", c.role, n, c.kind)
		}
	}
}

// TestRecomputeEvaluatesTheRulesOverImportedHistory imports a month in one
// call, with no sweep in between: the decision-maker confirmation of day 3
// (progress on that customer only on day 20, after its 14-day window) is
// alerted (A5) only once RecomputePhi evaluates the rules as of each day,
// and once however often it runs; PHI lands on the simulated days.
func TestRecomputeEvaluatesTheRulesOverImportedHistory(t *testing.T) {
	start := time.Now().UTC().AddDate(0, 0, -days-10).Truncate(24 * time.Hour)
	h := insightstest.Start(t, start.AddDate(0, 0, days))
	rep := h.User("rep")
	var rows []*fieldsyncv1.HistoryRow
	for d := range days {
		at := start.AddDate(0, 0, d).Add(9 * time.Hour)
		rows = append(rows, h.RowAt(key("a", d), at.Add(time.Hour), visit(rep.UserID, "demo-ruijin", at, "technical_demo")))
		late := at
		if lateDays[d] {
			late = late.AddDate(0, 0, -2)
		}
		rows = append(rows, h.RowAt(key("b", d), at.Add(time.Hour), visit(rep.UserID, "demo-ruijin", late, "technical_demo")))
		switch d {
		case 3:
			rows = append(rows, h.RowAt("stall", at.Add(time.Hour), visit(rep.UserID, "demo-huashan", at, "decision_maker_confirmed")))
		case 20:
			rows = append(rows, h.RowAt("late-progress", at.Add(time.Hour), &fieldsyncv1.Opportunity{OwnerUserId: rep.UserID, CustomerId: "demo-huashan", Title: "stents"}))
		}
	}
	h.Import(rows...)
	first, last := start.Format(time.DateOnly), start.AddDate(0, 0, days-1).Format(time.DateOnly)
	stalls := func() int {
		n := 0
		for _, a := range h.Alerts("rep") {
			if a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE {
				n++
			}
		}
		return n
	}
	if n := stalls(); n != 0 {
		t.Fatalf("%d A5 alerts before any sweep", n)
	}
	h.RecomputePhi(first, last)
	h.RecomputePhi(first, last)
	if n := stalls(); n != 1 {
		t.Errorf("%d A5 alerts after two recomputes, want 1", n)
	}
	checkPhi(t, h.Phi(fieldsyncv1.ScopeKind_SCOPE_KIND_REP, rep.UserID, first, last), start)
}
