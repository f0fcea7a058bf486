package insights

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// storedPhi returns every stored PHI day of the env's tenant, by scope
// kind, scope and date.
func (e *env) storedPhi(t testing.TB) []*fieldsyncv1.PhiDay {
	t.Helper()
	var out []*fieldsyncv1.PhiDay
	for _, kind := range []fieldsyncv1.ScopeKind{rep, store, region} {
		must(t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
			days, err := tx.PhiDays(e.tenant, kind, "", "2026-01-01", "2026-03-31")
			out = append(out, days...)
			return err
		}))
	}
	return out
}

// TestIncrementalPhiEqualsRecompute is the property behind the consumer's
// incremental PHI (phi_store.go): for random sequences of creates, edits
// (status, tags, quality fields, action times), submissions committed out
// of order (which move a record's facts to another day or another scope),
// deletes, redelivered events and configuration changes, applied in
// random batches, the stored PHI equals a recompute of every day from the
// stored facts.
func TestIncrementalPhiEqualsRecompute(t *testing.T) {
	e := newEnv(t)
	rapid.Check(t, func(rt *rapid.T) {
		e.freshTenant() // one database, a new tenant per case: opening a database is most of a case's cost
		owners := []string{"bob", "dave", "alice", "carol"}
		kinds := []string{"visit", "director", "quote", "surgery", "diagnosis"}
		nRecords := rapid.IntRange(1, 6).Draw(rt, "records")
		recordKind := make([]string, nRecords)
		for i := range recordKind {
			recordKind[i] = rapid.SampledFrom(kinds).Draw(rt, fmt.Sprintf("kind%d", i))
		}
		base := time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
		var sent []*fieldsyncv1.ChangeEvent
		var batch []*fieldsyncv1.ChangeEvent
		flush := func() {
			if len(batch) > 0 {
				must(t, e.c.HandleBatch(e.ctx, batch))
				batch = nil
			}
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for s := range steps {
			op := rapid.IntRange(0, 9).Draw(rt, fmt.Sprintf("op%d", s))
			switch {
			case op <= 5: // an upsert: a create, an edit or a submission, committed at any time of four days
				i := rapid.IntRange(0, nRecords-1).Draw(rt, "record")
				commit := base.Add(time.Duration(rapid.IntRange(0, 4*24*60).Draw(rt, "commitMinute")) * time.Minute)
				actionAt := commit.Add(-time.Duration(rapid.IntRange(-60, 48*60).Draw(rt, "ageMinutes")) * time.Minute)
				owner := rapid.SampledFrom(owners).Draw(rt, "owner")
				rec := e.randomRecord(rt, recordKind[i], owner, actionAt)
				hlc := commit.Add(-time.Duration(rapid.IntRange(0, 72*60).Draw(rt, "hlcAgeMinutes")) * time.Minute)
				ev := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, fmt.Sprintf("rec%d", i), rec, commit, hlc)
				sent, batch = append(sent, ev), append(batch, ev)
			case op == 6: // a delete
				i := rapid.IntRange(0, nRecords-1).Draw(rt, "record")
				commit := base.Add(time.Duration(rapid.IntRange(0, 4*24*60).Draw(rt, "commitMinute")) * time.Minute)
				ev := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_DELETE, fmt.Sprintf("rec%d", i), nil, commit, commit)
				ev.RecordType = kindType(recordKind[i])
				sent, batch = append(sent, ev), append(batch, ev)
			case op == 7 && len(sent) > 0: // an event delivered again, in this batch or a later one
				batch = append(batch, rapid.SampledFrom(sent).Draw(rt, "again"))
			case op == 8: // the batch ends
				flush()
			case op == 9: // the counting settings change (after the batch so far)
				flush()
				window := time.Duration(rapid.IntRange(1, 48).Draw(rt, "windowHours")) * time.Hour
				tags := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"technical_demo", "price_negotiation", "first_contact"}), 0, 3, rapid.ID[string]).Draw(rt, "highValue")
				quoteMin := rapid.IntRange(1, 8).Draw(rt, "quoteMin")
				e.setConfig(func(c *Config) {
					c.Phi.KeyActionWindow, c.Phi.HighValueTags, c.Phi.QuoteMinParameters = Duration(window), tags, quoteMin
				})
			}
		}
		flush()
		// A day last counted under earlier settings keeps its figures until
		// a change touches it or Recompute runs (as before the tallies), so
		// its figures are compared only when counted under the current ones.
		// Which days have PHI does not depend on the settings varied here.
		incremental := e.storedPhi(t)
		current := e.countedUnderCurrentConfig(t, incremental)
		must(t, e.c.Recompute(e.ctx, e.tenant, "2026-01-25", "2026-02-10"))
		full := e.storedPhi(t)
		if len(full) != len(incremental) {
			rt.Fatalf("%d days stored incrementally, %d recomputed:\n%v\n%v", len(incremental), len(full), incremental, full)
		}
		for i, d := range incremental {
			if phiDayKey(d) != phiDayKey(full[i]) || (current[i] && !proto.Equal(d, full[i])) {
				rt.Fatalf("stored day %d:\n  incremental %v\n  recomputed  %v", i, d, full[i])
			}
		}
	})
}

func phiDayKey(d *fieldsyncv1.PhiDay) string {
	return fmt.Sprintf("%s/%s/%s", d.ScopeKind, d.ScopeId, d.Date)
}

// countedUnderCurrentConfig reports, for each day, whether its stored
// tallies were counted under the tenant's current settings. Every day the
// consumer stores has tallies.
func (e *env) countedUnderCurrentConfig(t testing.TB, days []*fieldsyncv1.PhiDay) []bool {
	t.Helper()
	cfg, err := LoadConfig(e.ctx, e.db, e.tenant)
	must(t, err)
	out := make([]bool, len(days))
	must(t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
		for i, d := range days {
			c, err := tx.PhiDayCounts(e.tenant, d.ScopeKind, d.ScopeId, d.Date)
			if err != nil {
				return err
			}
			if c == nil {
				t.Fatalf("day %s stored without tallies", phiDayKey(d))
			}
			out[i] = c.Config == cfg.Phi.countingKey()
		}
		return nil
	}))
	return out
}

// randomRecord draws a version of a record of kind: submitted or a draft,
// placed under owner, with random quality fields and tags.
func (e *env) randomRecord(rt *rapid.T, kind, owner string, actionAt time.Time) proto.Message {
	tags := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"technical_demo", "price_negotiation", "first_contact"}), 0, 3, rapid.ID[string]).Draw(rt, "tags")
	var rec proto.Message
	switch kind {
	case "visit":
		rec = e.visit(owner, "c1", actionAt, tags...)
	case "director":
		rec = e.directorVisit(owner, "c1", actionAt, rapid.IntRange(0, 3).Draw(rt, "fields"), tags...)
	case "quote":
		rec = e.quote(owner, params(rapid.IntRange(0, 9).Draw(rt, "params"))...)
	case "surgery":
		n := rapid.IntRange(0, 3).Draw(rt, "photos")
		ps := []*fieldsyncv1.PhotoRef{photo("a"), photo("b"), photo("c")}[:n]
		rec = e.surgery(owner, actionAt, ps...)
	case "diagnosis":
		rec = e.diagnosis(owner, "c1", rapid.SampledFrom([]string{"worn pads", "warped disc"}).Draw(rt, "conclusion"))
	}
	if rapid.IntRange(0, 3).Draw(rt, "draft") == 0 {
		m := rec.ProtoReflect()
		m.Set(m.Descriptor().Fields().ByName("status"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT)))
	}
	return rec
}

func kindType(kind string) string {
	switch kind {
	case "visit", "director":
		return visitType
	case "quote":
		return quoteType
	case "surgery":
		return surgeryType
	}
	return diagnosisType
}

// TestPhiDayWithoutUsableTalliesIsCountedAgain: a day stored without
// tallies (by PutPhiDay, or before they existed), or with tallies a change
// cannot be taken back from, is counted again from the facts when a change
// touches it.
func TestPhiDayWithoutUsableTalliesIsCountedAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(tx insightstore.Tx, tenant string, d *fieldsyncv1.PhiDay, c *insightstore.PhiCounts) error
	}{
		{"stored without tallies", func(tx insightstore.Tx, tenant string, d *fieldsyncv1.PhiDay, _ *insightstore.PhiCounts) error {
			return tx.PutPhiDay(tenant, d)
		}},
		{"tallies too small to take a record back", func(tx insightstore.Tx, tenant string, d *fieldsyncv1.PhiDay, c *insightstore.PhiCounts) error {
			return tx.PutPhiDayCounts(tenant, d, &insightstore.PhiCounts{Config: c.Config})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			commit := at(2, 10, 0)
			e.upsert("v1", e.visit("bob", "c1", commit.Add(-time.Hour), "technical_demo"), commit)
			e.upsert("v2", e.visit("bob", "c1", commit.Add(-time.Hour)), commit.Add(time.Minute))
			bob := e.id("bob")
			must(t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
				c, err := tx.PhiDayCounts(e.tenant, rep, bob, "2026-02-02")
				if err != nil || c == nil {
					t.Fatalf("tallies of bob's day: %v %v", c, err)
				}
				spoilt := &fieldsyncv1.PhiDay{ScopeKind: rep, ScopeId: bob, Date: "2026-02-02", Index: 1, HasVisits: true, EventCount: 1}
				return tc.spoil(tx, e.tenant, spoilt, c)
			}))
			// An earlier submission of v1, committed on the same day: its
			// facts change, so the day is touched and v1's old part taken back.
			e.handle(e.upsertAt("v1", e.visit("bob", "c1", commit.Add(-30*time.Hour)), commit.Add(-30*time.Hour), commit.Add(-time.Minute)))
			incremental := e.storedPhi(t)
			must(t, e.c.Recompute(e.ctx, e.tenant, "2026-02-01", "2026-02-03"))
			full := e.storedPhi(t)
			if len(incremental) != len(full) {
				t.Fatalf("incremental %v\nrecomputed %v", incremental, full)
			}
			for i := range full {
				if !proto.Equal(incremental[i], full[i]) {
					t.Errorf("incremental %v\nrecomputed  %v", incremental[i], full[i])
				}
			}
		})
	}
}

// freshTenant moves the env to a new tenant with the same organisation.
func (e *env) freshTenant() {
	e.ids, e.names, e.versions = map[string]string{}, map[string]string{}, map[string]uint64{}
	e.setUpOrg()
}
