package insights

import (
	"math"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

var base = time.Date(2026, 2, 2, 8, 0, 0, 0, time.UTC)

// repDay returns the PHI of rep "r" on date from a computation, or nil.
func repDay(days []*fieldsyncv1.PhiDay, date string) *fieldsyncv1.PhiDay {
	for _, d := range days {
		if d.ScopeKind == fieldsyncv1.ScopeKind_SCOPE_KIND_REP && d.ScopeId == "r" && d.Date == date {
			return d
		}
	}
	return nil
}

func TestComputePhiKeyActionWindow(t *testing.T) {
	cfg := DefaultConfig().Phi
	for _, tc := range []struct {
		name       string
		action     time.Time
		submit     time.Time
		recordType string
		want       float64 // NaN: not counted
	}{
		{"one hour", base, base.Add(time.Hour), visitType, 1},
		{"exactly 24h", base, base.Add(24 * time.Hour), diagnosisType, 1},
		{"24h and a millisecond", base, base.Add(24*time.Hour + time.Millisecond), surgeryType, 0},
		{"submitted before the action", base, base.Add(-time.Hour), visitType, 1},
		{"unknown action time", time.Time{}, base, visitType, math.NaN()},
		{"not submitted", base, time.Time{}, visitType, math.NaN()},
		{"a quote is no key action", base, base.Add(48 * time.Hour), quoteType, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			days := ComputePhi(Facts{Actions: []Action{{RecordID: "x", RecordType: tc.recordType,
				Scope: Scope{RepID: "r"}, ActionTime: tc.action, SubmitTime: tc.submit}}}, cfg, base)
			d := repDay(days, dateOf(tc.submit, time.UTC))
			if math.IsNaN(tc.want) {
				if d != nil && d.HasKeyAction {
					t.Fatalf("counted: %v", d)
				}
				return
			}
			if d == nil || !d.HasKeyAction || d.KeyActionCompletion != tc.want {
				t.Fatalf("got %v, want key action %v", d, tc.want)
			}
		})
	}
}

func TestComputePhiQualityBars(t *testing.T) {
	cfg := DefaultConfig().Phi
	for _, tc := range []struct {
		kind  QualityKind
		count int
		want  float64
	}{
		{QualityQuote, 7, 1}, {QualityQuote, 6, 0}, {QualityDirectorVisit, 3, 1}, {QualityDirectorVisit, 2, 0},
		{QualitySurgery, 3, 1}, {QualitySurgery, 2, 0},
	} {
		days := ComputePhi(Facts{Actions: []Action{{RecordID: "x", RecordType: quoteType, Scope: Scope{RepID: "r"},
			SubmitTime: base, Quality: tc.kind, QualityCount: tc.count}}}, cfg, base)
		if d := repDay(days, "2026-02-02"); d == nil || !d.HasQuality || d.ActionQuality != tc.want {
			t.Errorf("kind %d count %d: got %v, want %v", tc.kind, tc.count, d, tc.want)
		}
	}
}

func TestComputePhiCollaboration(t *testing.T) {
	cfg := DefaultConfig().Phi
	rel := base
	for _, tc := range []struct {
		name                string
		released, delivered time.Time
		feedback, asOf      time.Time
		// want is what the rep's collaboration counts per date: "num/den".
		want map[string][2]int64
	}{
		{"delivered exactly 2h after release, feedback at 24h", rel, rel.Add(2 * time.Hour), rel.Add(26 * time.Hour), rel.Add(99 * time.Hour),
			map[string][2]int64{"2026-02-02": {1, 1}, "2026-02-03": {1, 1}}},
		{"delivered 2h and a millisecond after release", rel, rel.Add(2*time.Hour + time.Millisecond), rel.Add(3 * time.Hour), rel.Add(99 * time.Hour),
			map[string][2]int64{"2026-02-02": {1, 2}}},
		{"no feedback, deadline not reached", rel, rel.Add(time.Hour), time.Time{}, rel.Add(25*time.Hour - time.Millisecond),
			map[string][2]int64{"2026-02-02": {1, 1}}},
		{"no feedback, deadline reached", rel, rel.Add(time.Hour), time.Time{}, rel.Add(25 * time.Hour),
			map[string][2]int64{"2026-02-02": {1, 1}, "2026-02-03": {0, 1}}},
		{"late feedback is a miss on the deadline's day", rel, rel.Add(time.Hour), rel.Add(72 * time.Hour), rel.Add(99 * time.Hour),
			map[string][2]int64{"2026-02-02": {1, 1}, "2026-02-03": {0, 1}}},
		{"unknown release: feedback only", time.Time{}, rel.Add(time.Hour), rel.Add(2 * time.Hour), rel.Add(99 * time.Hour),
			map[string][2]int64{"2026-02-02": {1, 1}}},
		{"not delivered: nothing", rel, time.Time{}, rel.Add(2 * time.Hour), rel.Add(99 * time.Hour), map[string][2]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			days := ComputePhi(Facts{Deliveries: []Delivery{{MaterialID: "m", Scope: Scope{RepID: "r"},
				ReleasedTime: tc.released, DeliveredTime: tc.delivered, FeedbackTime: tc.feedback}}}, cfg, tc.asOf)
			got := map[string][2]int64{}
			for _, d := range days {
				if d.ScopeId == "r" && d.HasCollaboration {
					got[d.Date] = [2]int64{int64(math.Round(d.CollaborationTimeliness * float64(d.EventCount))), d.EventCount}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for date, w := range tc.want {
				if got[date] != w {
					t.Errorf("%s: got %v, want %v", date, got[date], w)
				}
			}
		})
	}
}

func TestComputePhiRollsUpToStoreAndRegion(t *testing.T) {
	acts := []Action{
		{RecordID: "a", RecordType: visitType, Scope: Scope{"r1", "s1", "g"}, ActionTime: base, SubmitTime: base, Tags: []string{"technical_demo"}},
		{RecordID: "b", RecordType: visitType, Scope: Scope{"r2", "", "g"}, ActionTime: base, SubmitTime: base.Add(48 * time.Hour)},
		{RecordID: "c", RecordType: visitType, Scope: Scope{"r2", "", "g"}, ActionTime: base.Add(-48 * time.Hour), SubmitTime: base},
	}
	days := ComputePhi(Facts{Actions: acts}, DefaultConfig().Phi, base)
	want := []string{"REP/r1/2026-02-02", "REP/r2/2026-02-02", "REP/r2/2026-02-04", "STORE/s1/2026-02-02", "REGION/g/2026-02-02", "REGION/g/2026-02-04"}
	if len(days) != len(want) {
		t.Fatalf("got %d days, want %d: %v", len(days), len(want), days)
	}
	for i, d := range days {
		got := d.ScopeKind.String()[len("SCOPE_KIND_"):] + "/" + d.ScopeId + "/" + d.Date
		if got != want[i] {
			t.Errorf("day %d = %s, want %s", i, got, want[i])
		}
	}
	if g := days[4]; g.KeyActionCompletion != 0.5 || g.HighValueActionShare != 0.5 || g.EventCount != 4 {
		t.Errorf("region g on 02-02 = %v, want key action 1/2, share 1/2, 4 observations", g)
	}
}

func TestComputePhiTimeZone(t *testing.T) {
	cfg := DefaultConfig().Phi
	cfg.TimeZone = "Asia/Shanghai"
	late := time.Date(2026, 2, 2, 16, 30, 0, 0, time.UTC) // 00:30 on the 3rd in Shanghai
	days := ComputePhi(Facts{Actions: []Action{{RecordID: "x", RecordType: visitType, Scope: Scope{RepID: "r"},
		ActionTime: late, SubmitTime: late}}}, cfg, late)
	if len(days) != 1 || days[0].Date != "2026-02-03" {
		t.Fatalf("got %v, want one day 2026-02-03", days)
	}
}

func TestPhiIndex(t *testing.T) {
	cfg := DefaultConfig().Phi
	for _, tc := range []struct {
		name string
		day  *fieldsyncv1.PhiDay
		want float64
	}{
		{"nothing present", &fieldsyncv1.PhiDay{}, 0},
		{"above target caps at 1", &fieldsyncv1.PhiDay{HasKeyAction: true, KeyActionCompletion: 0.97}, 100},
		{"below target scales", &fieldsyncv1.PhiDay{HasQuality: true, ActionQuality: 0.45}, 50},
		{"absent components do not weigh", &fieldsyncv1.PhiDay{HasKeyAction: true, KeyActionCompletion: 0.95,
			HasCollaboration: true, CollaborationTimeliness: 0}, 100 * 0.4 / 0.7},
		{"all three", &fieldsyncv1.PhiDay{HasKeyAction: true, KeyActionCompletion: 0.475, HasQuality: true, ActionQuality: 0.9,
			HasCollaboration: true, CollaborationTimeliness: 0.45}, 100 * (0.4*0.5 + 0.3*1 + 0.3*0.5)},
	} {
		if got := cfg.Index(tc.day); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: index %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"phi":{"time_zone":"Asia/Shanghai","weights":{"key_action":1,"quality":0,"collaboration":0}},"rules":{"stall_window":"240h"}}`))
	must(t, err)
	if cfg.Phi.TimeZone != "Asia/Shanghai" || cfg.Phi.Weights.KeyAction != 1 || cfg.Phi.Weights.Quality != 0 ||
		cfg.Rules.StallWindow.D() != 240*time.Hour || cfg.Phi.KeyActionWindow.D() != 24*time.Hour || cfg.Rules.InterventionDays != 3 {
		t.Errorf("parsed %+v", cfg)
	}
	for _, bad := range []string{
		`{"phi":{"time_zone":"Mars/Olympus"}}`,
		`{"phi":{"targets":{"key_action":0}}}`,
		`{"phi":{"weights":{"key_action":0,"quality":0,"collaboration":0}}}`,
		`{"rules":{"intervention_drop":1}}`,
		`{"rules":{"conflict_window":"-1h"}}`,
		`{"rules":{"stall_window":"two weeks"}}`,
		`not json`,
	} {
		if _, err := ParseConfig([]byte(bad)); !syncengine.IsCode(err, syncengine.CodeInvalid) {
			t.Errorf("ParseConfig(%s) = %v, want CodeInvalid", bad, err)
		}
	}
}

func TestConfigStoredPerTenantWithDefaultFallback(t *testing.T) {
	e := newEnv(t)
	cfg, err := LoadConfig(e.ctx, e.db, e.tenant)
	must(t, err)
	if cfg.Rules.ConflictWindow.D() != 72*time.Hour {
		t.Fatalf("default conflict window = %v", cfg.Rules.ConflictWindow.D())
	}
	e.setConfig(func(c *Config) { c.Rules.ConflictWindow = Duration(48 * time.Hour) })
	cfg, err = LoadConfig(e.ctx, e.db, e.tenant)
	must(t, err)
	other, err := LoadConfig(e.ctx, e.db, "another-tenant")
	must(t, err)
	if cfg.Rules.ConflictWindow.D() != 48*time.Hour || other.Rules.ConflictWindow.D() != 72*time.Hour {
		t.Errorf("stored %v, other tenant %v", cfg.Rules.ConflictWindow.D(), other.Rules.ConflictWindow.D())
	}
	if err := SaveConfig(e.ctx, e.db, e.tenant, Config{}); !syncengine.IsCode(err, syncengine.CodeInvalid) {
		t.Errorf("saving an invalid config: %v", err)
	}
}
