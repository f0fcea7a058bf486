package insights

import (
	"math"
	"slices"
	"testing"
	"time"
)

var nan = math.NaN()

func TestConflictingDiagnoses(t *testing.T) {
	w := 72 * time.Hour
	a := DiagnosisFact{RecordID: "a", CustomerID: "c", Conclusion: "brake pads worn", Time: base}
	for _, tc := range []struct {
		name string
		b    DiagnosisFact
		want bool
	}{
		{"71h apart", DiagnosisFact{"b", "c", "rotor warped", base.Add(71 * time.Hour)}, true},
		{"exactly 72h apart", DiagnosisFact{"b", "c", "rotor warped", base.Add(72 * time.Hour)}, true},
		{"73h apart", DiagnosisFact{"b", "c", "rotor warped", base.Add(73 * time.Hour)}, false},
		{"71h earlier", DiagnosisFact{"b", "c", "rotor warped", base.Add(-71 * time.Hour)}, true},
		{"same conclusion, other case and spacing", DiagnosisFact{"b", "c", "  Brake  pads WORN", base}, false},
		{"other customer", DiagnosisFact{"b", "d", "rotor warped", base}, false},
		{"same record", DiagnosisFact{"a", "c", "rotor warped", base}, false},
		{"no conclusion", DiagnosisFact{"b", "c", " ", base}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConflictingDiagnoses(a, tc.b, w); got != tc.want {
				t.Errorf("ConflictingDiagnoses(a, b) = %v, want %v", got, tc.want)
			}
			if got := ConflictingDiagnoses(tc.b, a, w); got != tc.want {
				t.Errorf("ConflictingDiagnoses(b, a) = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBelowSafetyStock(t *testing.T) {
	for _, tc := range []struct {
		onHand, safety int64
		want           bool
	}{{5, 5, false}, {4, 5, true}, {6, 5, false}, {0, 0, false}, {0, 1, true}} {
		if got := BelowSafetyStock(tc.onHand, tc.safety); got != tc.want {
			t.Errorf("BelowSafetyStock(%d, %d) = %v, want %v", tc.onHand, tc.safety, got, tc.want)
		}
	}
}

func TestFalling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index []float64
		want  bool
	}{
		{"three falls of 20%", []float64{100, 80, 64, 51.2}, true},
		{"one fall of exactly 15%", []float64{100, 85, 70, 50}, false},
		{"just over 15% each", []float64{100, 84.99, 72.2, 61.3}, true},
		{"exactly 15% three times", []float64{100, 85, 72.25, 61.4125}, false},
		{"two falls only", []float64{100, 100, 80, 60}, false},
		{"a day without PHI", []float64{100, nan, 60, 40}, false},
		{"from zero", []float64{0, 0, 0, 0}, false},
		{"too short", []float64{100, 80, 60}, false},
		{"longer history, last three fall", []float64{50, 100, 80, 60, 40}, true},
	} {
		if got := Falling(tc.index, 3, 0.15); got != tc.want {
			t.Errorf("%s: Falling(%v) = %v, want %v", tc.name, tc.index, got, tc.want)
		}
	}
}

func TestAbnormalAndLatestAbnormal(t *testing.T) {
	cfg := DefaultConfig().Phi
	acts := []Action{
		{RecordID: "on-time", RecordType: visitType, ActionTime: base, SubmitTime: base.Add(time.Hour)},
		{RecordID: "late-1", RecordType: visitType, ActionTime: base, SubmitTime: base.Add(25 * time.Hour)},
		{RecordID: "late-2", RecordType: diagnosisType, ActionTime: base, SubmitTime: base.Add(26 * time.Hour)},
		{RecordID: "poor", RecordType: quoteType, SubmitTime: base.Add(27 * time.Hour), Quality: QualityQuote, QualityCount: 6},
		{RecordID: "good", RecordType: quoteType, SubmitTime: base.Add(28 * time.Hour), Quality: QualityQuote, QualityCount: 7},
		{RecordID: "late-3", RecordType: surgeryType, ActionTime: base, SubmitTime: base.Add(24*time.Hour + time.Second)},
	}
	var ids []string
	for _, a := range LatestAbnormal(acts, cfg, 3) {
		ids = append(ids, a.RecordID)
	}
	if want := []string{"poor", "late-2", "late-1"}; !slices.Equal(ids, want) {
		t.Errorf("LatestAbnormal = %v, want %v", ids, want)
	}
}

func TestTagShareAndProspectingTrap(t *testing.T) {
	if s := TagShare([]string{"first_contact", "first_contact", "first_contact", "technical_demo", "price_negotiation"}, "first_contact"); s != 0.6 {
		t.Errorf("TagShare = %v, want 0.6", s)
	}
	if s := TagShare(nil, "first_contact"); !math.IsNaN(s) {
		t.Errorf("TagShare(nil) = %v, want NaN", s)
	}
	for _, tc := range []struct {
		shares []float64
		want   bool
	}{
		{[]float64{0.6, 0.8}, false},
		{[]float64{0.8, 0.6}, false},
		{[]float64{0.61, 0.61}, true},
		{[]float64{0.8, 0.8}, true},
		{[]float64{nan, 1}, false},
		{[]float64{1}, false},
		{[]float64{0.2, 0.7, 0.9}, true},
	} {
		if got := ProspectingTrap(tc.shares, 2, 0.6); got != tc.want {
			t.Errorf("ProspectingTrap(%v) = %v, want %v", tc.shares, got, tc.want)
		}
	}
}

func TestWeeklyTagShares(t *testing.T) {
	monday := time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC)
	v := func(rep string, day int, tags ...string) Action {
		return Action{RecordID: rep, RecordType: visitType, Scope: Scope{RepID: rep, RegionID: "g-" + rep},
			SubmitTime: monday.AddDate(0, 0, day), Tags: tags}
	}
	acts := []Action{
		v("r", 0, "first_contact"), v("r", 6, "first_contact", "technical_demo"), // week 1: 2/3
		v("r", 7, "first_contact"),                                 // week 2: 1/1
		v("r", 14, "technical_demo"), v("r", -1, "technical_demo"), // outside
		{RecordID: "q", RecordType: quoteType, Scope: Scope{RepID: "r"}, SubmitTime: monday, Tags: []string{"x"}},
		v("s", 8), // week 2, no tags
	}
	shares, regions := WeeklyTagShares(acts, "2026-02-09", 2, "first_contact", time.UTC)
	if got := shares["r"]; len(got) != 2 || math.Abs(got[0]-2.0/3) > 1e-12 || got[1] != 1 {
		t.Errorf("shares[r] = %v, want [2/3 1]", got)
	}
	if got := shares["s"]; len(got) != 2 || !math.IsNaN(got[0]) || !math.IsNaN(got[1]) {
		t.Errorf("shares[s] = %v, want [NaN NaN]", got)
	}
	if regions["r"] != "g-r" {
		t.Errorf("region of r = %q", regions["r"])
	}
}

func TestStalled(t *testing.T) {
	w := 14 * 24 * time.Hour
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		progress []time.Duration // after the confirmation
		now      time.Duration
		want     bool
	}{
		{"13 days, nothing", nil, 13 * day, false},
		{"exactly 14 days, nothing", nil, 14 * day, true},
		{"15 days, nothing", nil, 15 * day, true},
		{"15 days, progress on day 5", []time.Duration{5 * day}, 15 * day, false},
		{"15 days, progress on day 15", []time.Duration{15 * day}, 15 * day, false},
		{"15 days, only before the confirmation", []time.Duration{-day, 0}, 15 * day, true},
		{"15 days, progress only later (replayed history)", []time.Duration{16 * day}, 15 * day, true},
	} {
		var progress []time.Time
		for _, p := range tc.progress {
			progress = append(progress, base.Add(p))
		}
		if got := Stalled(base, progress, base.Add(tc.now), w); got != tc.want {
			t.Errorf("%s: Stalled = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRepeatPhotoPartners(t *testing.T) {
	for _, tc := range []struct {
		name       string
		attachedTo []string
		want       []string
	}{
		{"only this record", []string{"a"}, nil},
		{"this record twice", []string{"a", "a"}, nil},
		{"two records", []string{"a", "b"}, []string{"b"}},
		{"three records, one twice", []string{"c", "a", "b", "c"}, []string{"b", "c"}},
	} {
		if got := RepeatPhotoPartners("a", tc.attachedTo); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
