package insights

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

var benchEvents = flag.Int("insights.events", 200_000, "events behind the facts of BenchmarkRecompute")

var benchStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// benchFacts generates the stored facts of n change events in March 2026
// for 200 reps (8 regions; half of them store staff in 40 stores): three
// quarters of the events are first submissions of visits, diagnoses,
// quotes and surgeries (one fact each), the rest campaign deliveries and
// feedback (two events per delivery fact). Real streams have several events
// per record, so this is the worst case of facts per event.
func benchFacts(n int) ([]*insightstore.Action, []*insightstore.Delivery) {
	rng := rand.New(rand.NewPCG(1, 2))
	scope := func(i int) Scope {
		s := Scope{RepID: fmt.Sprintf("u%03d", i), RegionID: fmt.Sprintf("g%d", i%8)}
		if i%2 == 0 {
			s.StoreID = fmt.Sprintf("s%02d", i%40)
		}
		return s
	}
	within := func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
	nDel := n / 8
	acts := make([]*insightstore.Action, 0, n-2*nDel)
	for i := range n - 2*nDel {
		s := scope(rng.IntN(200))
		submit := benchStart.Add(within(30 * 24 * time.Hour))
		a := &insightstore.Action{TenantID: "t", RecordID: fmt.Sprintf("r%07d", i),
			OwnerUserID: s.RepID, StoreID: s.StoreID, RegionID: s.RegionID,
			SubmittedMS: submit.UnixMilli(), ActionMS: submit.Add(-within(36 * time.Hour)).UnixMilli()}
		switch i % 4 {
		case 0:
			a.RecordType, a.Tags = visitType, []string{[]string{"first_contact", "technical_demo", "price_negotiation"}[i%3]}
		case 1:
			a.RecordType = diagnosisType
		case 2:
			a.RecordType, a.ActionMS, a.QualityKind, a.QualityCount = quoteType, 0, int(QualityQuote), 4+rng.IntN(6)
		case 3:
			a.RecordType, a.QualityKind, a.QualityCount = surgeryType, int(QualitySurgery), 2+rng.IntN(2)
		}
		acts = append(acts, a)
	}
	dels := make([]*insightstore.Delivery, 0, nDel)
	for i := range nDel {
		s := scope(i % 200)
		released := benchStart.Add(within(30 * 24 * time.Hour))
		d := &insightstore.Delivery{TenantID: "t", MaterialID: fmt.Sprintf("m%05d", i/200), RepUserID: s.RepID,
			StoreID: s.StoreID, RegionID: s.RegionID, ReleasedMS: released.UnixMilli(),
			DeliveredMS: released.Add(within(4 * time.Hour)).UnixMilli()}
		if rng.IntN(5) > 0 {
			d.FeedbackMS = d.DeliveredMS + within(36*time.Hour).Milliseconds()
		}
		dels = append(dels, d)
	}
	return acts, dels
}

// BenchmarkComputePhi1M is the pure core: the facts of 1M events in, the
// PHI of every rep, store and region for every day of the month out.
func BenchmarkComputePhi1M(b *testing.B) {
	const n = 1_000_000
	acts, dels := benchFacts(n)
	facts := factsFrom(acts, dels)
	cfg, asOf := DefaultConfig().Phi, benchStart.AddDate(0, 2, 0)
	runs := 0
	for b.Loop() {
		ComputePhi(facts, cfg, asOf)
		runs++
	}
	b.ReportMetric(float64(n*runs)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecompute is Recompute of a whole month from SQLite: loading
// the facts of -insights.events events (default 200k), computing and
// storing every PHI day. It reports events/s and the extrapolated seconds
// for 1M events.
func BenchmarkRecompute(b *testing.B) {
	n := *benchEvents
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	acts, dels := benchFacts(n)
	must(b, db.InsightsWrite(ctx, func(tx insightstore.Tx) error { return seedFacts(tx, acts, dels) }))
	c := &Consumer{DB: db, Now: func() time.Time { return benchStart.AddDate(0, 2, 0) }}
	runs := 0
	for b.Loop() {
		must(b, c.Recompute(ctx, "t", "2026-03-01", "2026-03-31"))
		runs++
	}
	perRun := b.Elapsed().Seconds() / float64(runs)
	b.ReportMetric(float64(n)/perRun, "events/s")
	b.ReportMetric(perRun*1e6/float64(n), "s/1M-events")
}

func seedFacts(tx insightstore.Tx, acts []*insightstore.Action, dels []*insightstore.Delivery) error {
	for _, a := range acts {
		if err := tx.PutAction(a); err != nil {
			return err
		}
	}
	for _, d := range dels {
		if _, err := tx.PutMaterialRelease("t", d.MaterialID, d.ReleasedMS); err != nil {
			return err
		}
		if err := tx.PutDelivery(d); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkHandle is one change event through Handle: a submitted visit,
// its facts, the PHI of the three scope days it moves, one transaction.
func BenchmarkHandle(b *testing.B) {
	e := newEnv(b)
	i := 0
	for b.Loop() {
		commit := benchStart.Add(time.Duration(i%(30*24)) * time.Hour)
		e.upsert(fmt.Sprintf("v%07d", i), e.visit("bob", "h1", commit.Add(-time.Hour), "technical_demo"), commit)
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleBatch is BenchmarkHandle's events applied 256 per
// transaction (HandleBatch, as the daemon's consumer does).
func BenchmarkHandleBatch(b *testing.B) {
	e := newEnv(b)
	const size = 256
	i := 0
	for b.Loop() {
		evs := make([]*fieldsyncv1.ChangeEvent, size)
		for j := range evs {
			commit := benchStart.Add(time.Duration(i%(30*24)) * time.Hour)
			evs[j] = e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, fmt.Sprintf("v%07d", i), e.visit("bob", "h1", commit.Add(-time.Hour), "technical_demo"), commit, commit)
			i++
		}
		must(b, e.c.HandleBatch(e.ctx, evs))
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
}
