package insights

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestA1ConflictingDiagnosesAlertsManagerAndTechAdvisor(t *testing.T) {
	for _, tc := range []struct {
		name        string
		gap         time.Duration
		conclusionB string
		want        bool
	}{
		{"71h apart", 71 * time.Hour, "rotor warped", true},
		{"73h apart", 73 * time.Hour, "rotor warped", false},
		{"same conclusion", time.Hour, "Brake pads worn", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			created := at(2, 8, 0)
			e.handle(e.upsertAt("dA", e.diagnosis("alice", "c1", "brake pads worn", photo("a1"), photo("a2")), created, created.Add(time.Hour)))
			e.handle(e.upsertAt("dB", e.diagnosis("alice", "c1", tc.conclusionB, photo("b1")), created.Add(tc.gap), created.Add(tc.gap+time.Hour)))
			got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("alerts %v, want none", got)
				}
				return
			}
			if r := e.recipients(got); !slices.Equal(r, []string{"mgr1", "techN"}) {
				t.Fatalf("recipients %v, want mgr1 and techN", r)
			}
			for _, a := range got {
				if !slices.Equal(a.RelatedRecordIds, []string{"dA", "dB"}) || len(a.Photos) != 3 ||
					a.Photos[0].Sha256 != photo("a1").Sha256 || a.Photos[2].Sha256 != photo("b1").Sha256 {
					t.Errorf("alert %v: want both records and their three photos", a)
				}
				if want := "A1:c1:dB:" + a.RecipientUserId; a.DedupKey != want {
					t.Errorf("dedup key %q, want %q", a.DedupKey, want)
				}
			}
		})
	}
}

func TestA2ReplenishmentRemindsTheTerminalsRep(t *testing.T) {
	e := newEnv(t)
	e.upsert("h1", &fieldsyncv1.Customer{Name: "City Hospital", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL,
		AssignedRepId: e.id("bob"), RegionId: e.id("north")}, at(1, 8, 0))
	stock := func(onHand int64) *fieldsyncv1.StockLevel {
		return &fieldsyncv1.StockLevel{RegionId: e.id("north"), TerminalId: "h1", ProductId: "stent-3x18", OnHand: onHand,
			SafetyStock: 10, HistoricalPurchasePriceCents: 123456, AgreementPriceCents: 119900, Currency: "CNY"}
	}
	list := func() []*fieldsyncv1.Alert { return e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT) }
	e.upsert("st1", stock(10), at(2, 8, 0))
	if got := list(); len(got) != 0 {
		t.Fatalf("on hand == safety stock: alerts %v, want none", got)
	}
	e.upsert("st1", stock(9), at(2, 9, 0))
	got := list()
	if len(got) != 1 || e.names[got[0].RecipientUserId] != "bob" {
		t.Fatalf("one below safety stock: alerts %v, want one for bob", got)
	}
	if b := got[0].Body; !strings.Contains(b, "Historical purchase price 1234.56 CNY · agreement price 1199.00 CNY") || !strings.Contains(b, "City Hospital") {
		t.Errorf("body %q lacks the prices or the terminal", b)
	}
	if p := paramMap(got[0]); !maps.Equal(p, map[string]string{"terminal": "City Hospital", "product": "stent-3x18", "on_hand": "9", "safety_stock": "10"}) {
		t.Errorf("params %v: want the terminal, product and levels a device words the alert from", p)
	}
	e.upsert("st1", stock(3), at(2, 10, 0))
	if n := len(list()); n != 1 {
		t.Fatalf("still below: %d alerts, want 1", n)
	}
	e.upsert("st1", stock(12), at(3, 8, 0))
	e.upsert("st1", stock(2), at(4, 8, 0))
	if n := len(list()); n != 2 {
		t.Fatalf("below again after a refill: %d alerts, want 2", n)
	}
}

func TestA2StaleVersionChangesNothing(t *testing.T) {
	e := newEnv(t)
	s := &fieldsyncv1.StockLevel{RegionId: e.id("north"), TerminalId: "unknown", ProductId: "p", OnHand: 12, SafetyStock: 10}
	newer := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, "st1", s, at(2, 9, 0), at(2, 9, 0))
	s.OnHand = 1
	older := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, "st1", s, at(2, 8, 0), at(2, 8, 0))
	older.Version, newer.Version = 1, 2
	e.handle(newer)
	e.handle(older) // redelivered after the newer one
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT); len(got) != 0 {
		t.Fatalf("alerts %v, want none", got)
	}
	e.upsert("st1", s, at(2, 10, 0)) // version 3, below; terminal unknown → the region's director
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT); len(got) != 1 || e.names[got[0].RecipientUserId] != "dirN" {
		t.Fatalf("alerts %v, want one for dirN", got)
	}
}

// fallingRegion makes the north region's PHI from 02-02 on equal to
// 100·on-time/total of bob's and dave's visits, with key action the only
// component and its target 1. Late visits of 02-05 are dave's, others bob's.
func fallingRegion(e *env, days ...[2]int) {
	e.setConfig(func(c *Config) { c.Phi.Targets = Components{1, 1, 1} })
	for i, d := range days {
		onTime, total := d[0], d[1]
		for j := range total {
			owner, lateBy := "bob", 30*time.Hour
			if j < onTime {
				lateBy = time.Hour
			} else if i == 3 {
				owner = "dave"
			}
			commit := at(2+i, 9, j)
			id := "v" + commit.Format("0102-1504")
			e.upsert(id, e.visit(owner, "h1", commit.Add(-lateBy)), commit)
		}
	}
}

func TestA3ManagementIntervention(t *testing.T) {
	for _, tc := range []struct {
		name string
		days [4][2]int // on time, total
		want bool
	}{
		{"a fall of exactly 15% breaks the run", [4][2]int{{1, 1}, {17, 20}, {7, 10}, {1, 2}}, false}, // 100, 85, 70, 50
		{"just over 15% three days running", [4][2]int{{1, 1}, {21, 25}, {7, 10}, {1, 2}}, true},      // 100, 84, 70, 50
		{"two days running", [4][2]int{{1, 1}, {1, 1}, {4, 5}, {3, 5}}, false},                        // 100, 100, 80, 60
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			fallingRegion(e, tc.days[:]...)
			e.sweep(at(6, 6, 0))
			got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_MANAGEMENT_INTERVENTION)
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("alerts %v, want none", got)
				}
				return
			}
			if len(got) != 1 || e.names[got[0].RecipientUserId] != "dirN" {
				t.Fatalf("alerts %v, want one for dirN", got)
			}
			// The three latest abnormal records: dave's late visit on 02-05, then
			// the last two of bob's three late visits on 02-04 (09:07, 09:08, 09:09).
			if want := []string{"v0205-0901", "v0204-0909", "v0204-0908"}; !slices.Equal(got[0].RelatedRecordIds, want) {
				t.Errorf("related records %v, want %v", got[0].RelatedRecordIds, want)
			}
			grants, err := e.db.ListGrants(e.ctx, e.tenant, e.id("dirN"))
			must(t, err)
			var subjects []string
			for _, g := range grants {
				subjects = append(subjects, e.names[g.SubjectUserId])
			}
			slices.Sort(subjects)
			if !slices.Equal(subjects, []string{"bob", "dave"}) {
				t.Errorf("grants to read the logs of %v, want bob and dave", subjects)
			}
			e.sweep(at(6, 7, 0))
			e.sweep(at(7, 6, 0)) // the run ending 02-05 is not raised again
			if n := len(e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_MANAGEMENT_INTERVENTION)); n != 1 {
				t.Errorf("after more sweeps: %d alerts, want 1", n)
			}
			if grants2, _ := e.db.ListGrants(e.ctx, e.tenant, ""); len(grants2) != 2 {
				t.Errorf("after more sweeps: %d grants, want 2", len(grants2))
			}
		})
	}
}

func TestA3OverlappingFallIsNotRaisedAgain(t *testing.T) {
	e := newEnv(t)
	fallingRegion(e, [][2]int{{1, 1}, {21, 25}, {7, 10}, {1, 2}, {2, 5}}...) // 100, 84, 70, 50, 40
	e.sweep(at(6, 6, 0))
	e.sweep(at(7, 6, 0)) // 84, 70, 50, 40 falls too, but shares two days with the run acted on
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_MANAGEMENT_INTERVENTION); len(got) != 1 {
		t.Fatalf("alerts %v, want one", got)
	}
}

func TestAccessToOperationLogsOnlyDuringGrant(t *testing.T) {
	e := newEnv(t)
	dir, bob := e.id("dirN"), e.id("bob")
	sweepAt := at(6, 6, 0)
	if _, err := e.db.ActiveGrant(e.ctx, e.tenant, dir, bob, sweepAt); err == nil {
		t.Fatal("director reads bob's logs without a grant")
	}
	fallingRegion(e, [][2]int{{1, 1}, {21, 25}, {7, 10}, {1, 2}}...)
	e.sweep(sweepAt)
	for _, tc := range []struct {
		name string
		when time.Time
		ok   bool
	}{
		{"before the grant", sweepAt.Add(-time.Second), false},
		{"when granted", sweepAt, true},
		{"71h later", sweepAt.Add(71 * time.Hour), true},
		{"at expiry (72h)", sweepAt.Add(72 * time.Hour), false},
		{"after expiry", sweepAt.Add(100 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := e.db.ActiveGrant(e.ctx, e.tenant, dir, bob, tc.when)
			if (err == nil) != tc.ok {
				t.Fatalf("ActiveGrant = %v, %v; want readable %v", g, err, tc.ok)
			}
			_, auditErr := e.db.RecordAudit(e.ctx, e.tenant, firstGrant(t, e), dir, bob, 4, tc.when)
			if (auditErr == nil) != tc.ok {
				t.Fatalf("RecordAudit: %v; want allowed %v", auditErr, tc.ok)
			}
		})
	}
	if _, err := e.db.ActiveGrant(e.ctx, e.tenant, e.id("dirS"), bob, sweepAt); err == nil {
		t.Error("another director reads bob's logs")
	}
	entries, err := e.db.ListAudit(e.ctx, e.tenant, bob)
	must(t, err)
	if len(entries) != 2 || entries[0].ReaderUserId != dir || entries[0].RecordsRead != 4 {
		t.Errorf("audit of bob = %v, want the two reads made under the grant", entries)
	}
}

func firstGrant(t *testing.T, e *env) string {
	grants, err := e.db.ListGrants(e.ctx, e.tenant, e.id("dirN"))
	must(t, err)
	for _, g := range grants {
		if g.SubjectUserId == e.id("bob") {
			return g.Id
		}
	}
	t.Fatal("no grant for bob")
	return ""
}

func TestA4ProspectingTrap(t *testing.T) {
	// ISO weeks 2026-W07 (from 02-09) and W08 (from 02-16); swept on 02-23 (W09).
	for _, tc := range []struct {
		name         string
		week1, week2 int // first-contact visits out of 5; -1 for none at all
		want         bool
	}{
		{"exactly 60% in the first week", 3, 4, false},
		{"above 60% two weeks running", 4, 4, true},
		{"one week only", -1, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for w, n := range []int{tc.week1, tc.week2} {
				for i := 0; n >= 0 && i < 5; i++ {
					tag := "technical_demo"
					if i < n {
						tag = "first_contact"
					}
					commit := at(10+7*w, 9+i, 0)
					e.upsert("v"+commit.Format("0102-15"), e.visit("bob", "h1", commit.Add(-time.Hour), tag), commit)
				}
			}
			e.sweep(at(23, 1, 0))
			got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_PROSPECTING_TRAP)
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("alerts %v, want none", got)
				}
				return
			}
			if r := e.recipients(got); !slices.Equal(r, []string{"bob", "dirN"}) {
				t.Fatalf("recipients %v, want bob and dirN", r)
			}
			if !strings.HasPrefix(got[0].DedupKey, "A4:"+e.id("bob")+":2026-W08:") {
				t.Errorf("dedup key %q", got[0].DedupKey)
			}
		})
	}
}

func TestA5StalledClose(t *testing.T) {
	confirmed := at(2, 10, 0)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		progress func(e *env)
		want     bool
	}{
		{"no progress", func(e *env) {}, true},
		{"a later visit", func(e *env) { e.upsert("v2", e.visit("dave", "c1", confirmed.Add(5*day)), confirmed.Add(5*day)) }, false},
		{"an opportunity change", func(e *env) {
			e.upsert("o1", &fieldsyncv1.Opportunity{OwnerUserId: e.id("bob"), CustomerId: "c1", Stage: fieldsyncv1.OpportunityStage_OPPORTUNITY_STAGE_PROPOSAL}, confirmed.Add(3*day))
		}, false},
		{"only the visit's own open commitment", func(e *env) {
			e.upsert("k1", &fieldsyncv1.Commitment{OwnerUserId: e.id("bob"), CustomerId: "c1", VisitId: "v1", State: fieldsyncv1.CommitmentState_COMMITMENT_STATE_OPEN}, confirmed.Add(time.Hour))
		}, true},
		{"the visit's commitment done", func(e *env) {
			e.upsert("k1", &fieldsyncv1.Commitment{OwnerUserId: e.id("bob"), CustomerId: "c1", VisitId: "v1", State: fieldsyncv1.CommitmentState_COMMITMENT_STATE_DONE}, confirmed.Add(4*day))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.upsert("v1", e.visit("bob", "c1", confirmed, "decision_maker_confirmed"), confirmed.Add(2*time.Hour))
			tc.progress(e)
			list := func() []*fieldsyncv1.Alert { return e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE) }
			e.sweep(confirmed.Add(13 * day))
			if got := list(); len(got) != 0 {
				t.Fatalf("after 13 days: alerts %v, want none", got)
			}
			e.sweep(confirmed.Add(15 * day))
			got := list()
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("after 15 days: alerts %v, want none", got)
				}
				return
			}
			if len(got) != 1 || e.names[got[0].RecipientUserId] != "bob" || got[0].RelatedRecordIds[0] != "v1" {
				t.Fatalf("after 15 days: alerts %v, want one for bob about v1", got)
			}
			e.sweep(confirmed.Add(16 * day))
			if n := len(list()); n != 1 {
				t.Errorf("after another sweep: %d alerts, want 1", n)
			}
		})
	}
}

func TestA6RepeatPhoto(t *testing.T) {
	e := newEnv(t)
	x, y := photo("x"), photo("y")
	flagged := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, strings.Split(id, "/")[0]+"/"+strings.Split(id, "/")[1]+"/repeat_photo_flagged")
		}
		slices.Sort(out)
		return out
	}
	// The same photo twice on one record: nothing.
	e.upsert("s1", e.surgery("bob", at(2, 8, 0), x, x, photo("z")), at(2, 9, 0))
	d := e.diagnosis("alice", "c1", "worn", y, y)
	e.upsert("d1", d, at(2, 10, 0))
	if f := e.sink.flagged(); len(f) != 0 {
		t.Fatalf("flags %v, want none", f)
	}
	// y on a second diagnosis in the same store: both flagged, store manager alerted.
	e.upsert("d2", e.diagnosis("alice", "c2", "worn", y), at(2, 11, 0))
	if f, want := e.sink.flagged(), flagged(diagnosisType+"/d1", diagnosisType+"/d2"); !slices.Equal(f, want) {
		t.Fatalf("flags %v, want %v", f, want)
	}
	got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO)
	if r := e.recipients(got); !slices.Equal(r, []string{"mgr1"}) || !slices.Equal(got[0].RelatedRecordIds, []string{"d1", "d2"}) {
		t.Fatalf("alerts %v, want one for mgr1 about d1 and d2", got)
	}
	// x on carol's diagnosis (store s2): the surgery (no store) alerts north's director.
	e.upsert("d3", e.diagnosis("carol", "c3", "worn", x), at(2, 12, 0))
	got = e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO)
	if r := e.recipients(got); !slices.Equal(r, []string{"dirN", "mgr1", "mgr2"}) {
		t.Fatalf("recipients %v, want dirN, mgr1 and mgr2", r)
	}
	// The flag comes back as a new version of d1: nothing new.
	d.RepeatPhotoFlagged = true
	calls := e.sink.calls
	e.upsert("d1", d, at(2, 13, 0))
	if e.sink.calls != calls {
		t.Errorf("re-found repeats made %d more calls", e.sink.calls-calls)
	}
	if f := e.sink.flagged(); len(f) != 4 {
		t.Errorf("flags %v, want d1, d2, d3 and s1", f)
	}
}

// TestA6AlertsRelateOnlyTheRecipientsRecords: each recipient's A6 alert
// relates (and so takes its photo from) the records of its own store, so a
// diagnosis citing another store's photo hash does not show that store's
// photo to its own manager through the alert.
func TestA6AlertsRelateOnlyTheRecipientsRecords(t *testing.T) {
	e := newEnv(t)
	y := photo("y")
	e.upsert("d1", e.diagnosis("alice", "c1", "worn", y), at(2, 10, 0))
	e.upsert("d3", e.diagnosis("carol", "c3", "worn", y), at(2, 11, 0))
	got := map[string][]string{}
	for _, a := range e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO) {
		got[e.names[a.RecipientUserId]] = a.RelatedRecordIds
	}
	if !slices.Equal(got["mgr1"], []string{"d1"}) || !slices.Equal(got["mgr2"], []string{"d3"}) || len(got) != 2 {
		t.Fatalf("related records by recipient %v, want mgr1: d1, mgr2: d3", got)
	}
}
