package insights

import (
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// goldenEvents is February 2026 in the env's organisation (all times UTC,
// default configuration: windows 24h/2h/24h, quotes need 7 parameters,
// targets 0.95/0.90/0.90, weights 0.4/0.3/0.3). Events are in commit order.
func goldenEvents(e *env) []*fieldsyncv1.ChangeEvent {
	var evs []*fieldsyncv1.ChangeEvent
	add := func(ev ...*fieldsyncv1.ChangeEvent) { evs = append(evs, ev...) }
	draft := e.diagnosis("alice", "c-a9", "")
	draft.Status = fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT
	v1 := e.visit("bob", "h1", at(3, 9, 0), "price_negotiation")
	v1edit := e.visit("bob", "h1", at(3, 9, 0), "price_negotiation", "technical_demo")

	// 02-02: alice's diagnoses D1 (1h after creation) and D2 (26h), quotes Q1 (8 parameters) and Q2 (5).
	add(e.upsertAt("D1", e.diagnosis("alice", "c-a1", "brake pads worn"), at(2, 8, 0), at(2, 9, 0)),
		e.upsertAt("D2", e.diagnosis("alice", "c-a2", "battery dead"), at(1, 8, 0), at(2, 10, 0)),
		e.upsertAt("Q1", e.quote("alice", params(8)...), at(2, 11, 0), at(2, 11, 0)),
		e.upsertAt("Q2", e.quote("alice", params(5)...), at(2, 12, 0), at(2, 12, 0)),
		e.upsertAt("D-draft", draft, at(2, 13, 0), at(2, 13, 0)))
	// 02-03: bob's routine visit V1 (9h, high-value), clinical-director visit V2 (26h late,
	// complete, first contact), surgery S1 (12h, 3 photos); carol's quote Q3 (exactly 7).
	add(e.upsertAt("Q3", e.quote("carol", params(7)...), at(3, 10, 0), at(3, 10, 0)),
		e.upsertAt("V2", e.directorVisit("bob", "h2", at(2, 14, 0), 3, "first_contact"), at(3, 16, 0), at(3, 16, 0)),
		e.upsertAt("V1", v1, at(3, 18, 0), at(3, 18, 0)),
		e.upsertAt("S1", e.surgery("bob", at(3, 8, 0), photo("s1a"), photo("s1b"), photo("s1c")), at(3, 20, 0), at(3, 20, 0)))
	photoState := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE, "S1", nil, at(3, 21, 0), at(3, 21, 0))
	photoState.RecordType, photoState.PhotoSha256, photoState.PhotoAvailable = surgeryType, photo("s1a").Sha256, true
	add(photoState)
	// 02-04: carol's D3 exactly 24h after creation; campaign material M1 released 09:00,
	// delivered to mkt, bob 10:30 (on time), alice 12:00 (store staff: owes nothing),
	// bob's feedback 20:00 (on time).
	add(e.upsertAt("D3", e.diagnosis("carol", "c-c3", "oil leak"), at(3, 9, 0), at(4, 9, 0)),
		e.upsertAt("M1", &fieldsyncv1.CampaignMaterial{OwnerUserId: e.id("mkt"), Title: "New stent", ReleasedTime: ts(at(4, 9, 0))}, at(4, 8, 0), at(4, 8, 0)),
		e.delivery("M1", "mkt", "dev-mkt", at(4, 10, 0)),
		e.delivery("M1", "bob", "dev-bob-1", at(4, 10, 30)),
		e.delivery("M1", "alice", "dev-alice", at(4, 12, 0)),
		e.upsertAt("F1", &fieldsyncv1.CampaignFeedback{OwnerUserId: e.id("bob"), RegionId: e.id("north"), MaterialId: "M1", Rating: 4}, at(4, 20, 0), at(4, 20, 0)))
	// 02-05: carol gets M1 23h after release; bob's second phone gets it too (not his first delivery).
	add(e.delivery("M1", "carol", "dev-carol", at(5, 8, 0)),
		e.delivery("M1", "bob", "dev-bob-2", at(5, 9, 0)))
	// 02-06: alice's feedback, 25h after delivery (late); bob edits V1 (its first submission stays the fact).
	add(e.upsertAt("F2", &fieldsyncv1.CampaignFeedback{OwnerUserId: e.id("alice"), RegionId: e.id("north"), MaterialId: "M1"}, at(6, 13, 0), at(6, 13, 0)),
		e.upsertAt("V1", v1edit, at(6, 9, 0), at(6, 9, 0)))
	// 02-08: Q2 deleted (what was measured stays); an alert record (ignored).
	add(e.event(fieldsyncv1.ChangeOp_CHANGE_OP_DELETE, "Q2", nil, at(8, 9, 0), at(8, 9, 0)),
		e.upsertAt("AL1", &fieldsyncv1.Alert{RecipientUserId: e.id("bob"), Title: "x"}, at(8, 10, 0), at(8, 10, 0)))
	evs[len(evs)-2].RecordType = quoteType
	// 02-10: bob's four on-time visits, tags first_contact ×3 and technical_demo.
	for i, tag := range []string{"first_contact", "first_contact", "technical_demo", "first_contact"} {
		add(e.upsertAt("V10-"+string(rune('a'+i)), e.visit("bob", "h3", at(10, 8+i, 0), tag), at(10, 9+i, 0), at(10, 9+i, 0)))
	}
	// 02-11: bob's surgery S2, on time, two photos.
	add(e.upsertAt("S2", e.surgery("bob", at(11, 7, 0), photo("s2a"), photo("s2b")), at(11, 12, 0), at(11, 12, 0)))
	// 02-12: a draft visit (counts nowhere).
	dv := e.visit("bob", "h4", at(12, 9, 0))
	dv.Status = fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT
	add(e.upsertAt("V-draft", dv, at(12, 9, 0), at(12, 9, 0)))
	// 02-16: alice's Q4 (10 parameters, 4 empty) and Q5 (7, one name twice): 6 each.
	q4 := append(params(6), "e1", "", "e2", " ", "e3", "", "e4", "")
	q5 := append(params(6), "p5", "again")
	add(e.upsertAt("Q4", e.quote("alice", q4...), at(16, 10, 0), at(16, 10, 0)),
		e.upsertAt("Q5", e.quote("alice", q5...), at(16, 11, 0), at(16, 11, 0)))
	// 02-17: carol's D4 (30 min), D5 (37h late), D6 (exactly 24h).
	add(e.upsertAt("D4", e.diagnosis("carol", "c-c4", "worn belt"), at(17, 8, 0), at(17, 8, 30)),
		e.upsertAt("D5", e.diagnosis("carol", "c-c5", "worn belt"), at(15, 20, 0), at(17, 9, 0)),
		e.upsertAt("D6", e.diagnosis("carol", "c-c6", "worn belt"), at(16, 10, 0), at(17, 10, 0)))
	// 02-20: a good day for everyone.
	add(e.upsertAt("D7", e.diagnosis("alice", "c-a7", "clutch"), at(20, 9, 0), at(20, 9, 30)),
		e.upsertAt("Q6", e.quote("alice", params(9)...), at(20, 10, 0), at(20, 10, 0)),
		e.upsertAt("V3", e.directorVisit("bob", "h5", at(20, 9, 0), 3, "technical_demo", "decision_maker_confirmed"), at(20, 11, 0), at(20, 11, 0)),
		e.upsertAt("Q7", e.quote("carol", params(7)...), at(20, 12, 0), at(20, 12, 0)))
	// 02-27/28: day boundary. V4 on time at the last millisecond of the 27th; V5 25h late at midnight.
	add(e.upsertAt("V4", e.visit("bob", "h6", at(27, 20, 0)), at(27, 20, 0), at(28, 0, 0).Add(-time.Millisecond)),
		e.upsertAt("V5", e.visit("bob", "h7", at(26, 23, 0)), at(28, 0, 0), at(28, 0, 0)))
	return evs
}

// none marks an absent component in goldenRow.
const none = -1.0

type goldenRow struct {
	date                 string // 2026-02-dd
	kind                 fieldsyncv1.ScopeKind
	scope                string // a name of the env
	keyAction, quality   float64
	collaboration, share float64
	index                float64
	events               int64
}

const (
	rep    = fieldsyncv1.ScopeKind_SCOPE_KIND_REP
	store  = fieldsyncv1.ScopeKind_SCOPE_KIND_STORE
	region = fieldsyncv1.ScopeKind_SCOPE_KIND_REGION
)

// goldenPhi is the PHI of goldenEvents, computed by hand. Worked examples:
//
//	02-02 alice: D1 on time, D2 late → key action 1/2; Q1 (8) meets the bar,
//	  Q2 (5) not → quality 1/2; index = 100·(0.4·min(1, 0.5/0.95) + 0.3·min(1, 0.5/0.90)) / (0.4+0.3)
//	  = 100·(0.210526 + 0.166667)/0.7 = 53.885. Store s1 and region north see only alice that day.
//	02-03 bob: V1 (9h) and S1 (12h) on time, V2 26h late → 2/3; V2 has its three
//	  fields and S1 three photos → quality 2/2; visits V1 (price_negotiation) and V2
//	  (first_contact) → share 1/2; 7 observations; index = 100·(0.4·(2/3)/0.95 + 0.3·1)/0.7 = 82.957.
//	02-04 north: bob's delivery (1.5h) and feedback (9.5h) on time → 2/2. The material is
//	  for reps: mkt's, alice's and carol's deliveries and alice's late feedback count nowhere.
//	02-11 bob: S2 on time but two photos → key action 1/1, quality 0/1; index = 100·0.4/0.7 = 57.143.
//	02-16 alice: Q4 has 6 non-empty values, Q5 six distinct names → 0/2.
//	02-27/28 bob: V4 committed at 23:59:59.999 counts on the 27th, V5 at 00:00 on the 28th.
var goldenPhi = []goldenRow{
	{"02", rep, "alice", 0.5, 0.5, none, none, 100 * (0.4*0.5/0.95 + 0.3*0.5/0.9) / 0.7, 4},
	{"02", store, "s1", 0.5, 0.5, none, none, 100 * (0.4*0.5/0.95 + 0.3*0.5/0.9) / 0.7, 4},
	{"02", region, "north", 0.5, 0.5, none, none, 100 * (0.4*0.5/0.95 + 0.3*0.5/0.9) / 0.7, 4},
	{"03", rep, "bob", 2.0 / 3, 1, none, 0.5, 100 * (0.4*(2.0/3)/0.95 + 0.3*1) / 0.7, 7},
	{"03", region, "north", 2.0 / 3, 1, none, 0.5, 100 * (0.4*(2.0/3)/0.95 + 0.3*1) / 0.7, 7},
	{"03", rep, "carol", none, 1, none, none, 100, 1},
	{"03", store, "s2", none, 1, none, none, 100, 1},
	{"03", region, "south", none, 1, none, none, 100, 1},
	{"04", rep, "carol", 1, none, none, none, 100, 1},
	{"04", store, "s2", 1, none, none, none, 100, 1},
	{"04", region, "south", 1, none, none, none, 100, 1},
	{"04", rep, "bob", none, none, 1, none, 100, 2},
	{"04", region, "north", none, none, 1, none, 100, 2},
	{"10", rep, "bob", 1, none, none, 0.25, 100, 8},
	{"10", region, "north", 1, none, none, 0.25, 100, 8},
	{"11", rep, "bob", 1, 0, none, none, 100 * 0.4 / 0.7, 2},
	{"11", region, "north", 1, 0, none, none, 100 * 0.4 / 0.7, 2},
	{"16", rep, "alice", none, 0, none, none, 0, 2},
	{"16", store, "s1", none, 0, none, none, 0, 2},
	{"16", region, "north", none, 0, none, none, 0, 2},
	{"17", rep, "carol", 2.0 / 3, none, none, none, 100 * (2.0 / 3) / 0.95, 3},
	{"17", store, "s2", 2.0 / 3, none, none, none, 100 * (2.0 / 3) / 0.95, 3},
	{"17", region, "south", 2.0 / 3, none, none, none, 100 * (2.0 / 3) / 0.95, 3},
	{"20", rep, "alice", 1, 1, none, none, 100, 2},
	{"20", store, "s1", 1, 1, none, none, 100, 2},
	{"20", rep, "bob", 1, 1, none, 1, 100, 3},
	{"20", region, "north", 1, 1, none, 1, 100, 5},
	{"20", rep, "carol", none, 1, none, none, 100, 1},
	{"20", store, "s2", none, 1, none, none, 100, 1},
	{"20", region, "south", none, 1, none, none, 100, 1},
	{"27", rep, "bob", 1, none, none, 0, 100, 2},
	{"27", region, "north", 1, none, none, 0, 100, 2},
	{"28", rep, "bob", 0, none, none, 0, 0, 2},
	{"28", region, "north", 0, none, none, 0, 0, 2},
}

func TestGoldenPhiFebruary(t *testing.T) {
	e := newEnv(t)
	for _, ev := range goldenEvents(e) {
		e.handle(ev)
	}
	t.Run("handled", func(t *testing.T) { e.checkGolden(t) })
	must(t, e.c.Recompute(e.ctx, e.tenant, "2026-01-25", "2026-03-03"))
	t.Run("recomputed", func(t *testing.T) { e.checkGolden(t) })
}

// checkGolden compares every stored PHI day of February with goldenPhi.
func (e *env) checkGolden(t *testing.T) {
	t.Helper()
	want := map[string]goldenRow{}
	for _, r := range goldenPhi {
		want[r.kind.String()+"/"+r.scope+"/2026-02-"+r.date] = r
	}
	got := 0
	for _, kind := range []fieldsyncv1.ScopeKind{rep, store, region} {
		var days []*fieldsyncv1.PhiDay
		must(t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
			var err error
			days, err = tx.PhiDays(e.tenant, kind, "", "2026-01-01", "2026-03-31")
			return err
		}))
		for _, d := range days {
			got++
			key := kind.String() + "/" + e.names[d.ScopeId] + "/" + d.Date
			r, ok := want[key]
			if !ok {
				t.Errorf("unexpected PHI %s: %v", key, d)
				continue
			}
			checkRow(t, key, r, d)
		}
	}
	if got != len(goldenPhi) {
		t.Errorf("got %d PHI days, want %d", got, len(goldenPhi))
	}
	series, err := e.db.PhiSeries(e.ctx, e.tenant, rep, e.id("bob"), "2026-02-10", "2026-02-11")
	must(t, err)
	if len(series) != 2 || series[0].Date != "2026-02-10" || series[1].Date != "2026-02-11" {
		t.Errorf("PhiSeries(bob, 10..11) = %v", series)
	}
}

func checkRow(t *testing.T, key string, r goldenRow, d *fieldsyncv1.PhiDay) {
	t.Helper()
	for _, c := range []struct {
		name      string
		want, got float64
		has       bool
	}{
		{"key action", r.keyAction, d.KeyActionCompletion, d.HasKeyAction},
		{"quality", r.quality, d.ActionQuality, d.HasQuality},
		{"collaboration", r.collaboration, d.CollaborationTimeliness, d.HasCollaboration},
		{"high-value share", r.share, d.HighValueActionShare, d.HasVisits},
		{"index", r.index, d.Index, true},
	} {
		if (c.want != none) != c.has || (c.has && math.Abs(c.want-c.got) > 1e-9) {
			t.Errorf("%s %s = %v (present %v), want %v", key, c.name, c.got, c.has, c.want)
		}
	}
	if d.EventCount != r.events {
		t.Errorf("%s event count = %d, want %d", key, d.EventCount, r.events)
	}
}
