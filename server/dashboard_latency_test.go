package server_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

var dashLatency = flag.Bool("dashboard.latency", false, "run TestDashboardCallLatency (seeds 10,000 records; reports p50/p99)")

// TestDashboardCallLatency reports the p50 and p99 of the calls the
// managers' dashboard makes, over Connect on a local port, in a tenant
// where the rep owns 10,000 visits and every place has a year of PHI: the
// drill-downs of the region and the store, one rep's PHI, and the detail
// of an A1 and an A2 alert. It asserts no time (the budget is 20 ms p99;
// BENCHMARKS.md keeps the figures). Run it with
//
//	go test ./server/ -run TestDashboardCallLatency -dashboard.latency -v
func TestDashboardCallLatency(t *testing.T) {
	if !*dashLatency {
		t.Skip("run with -dashboard.latency")
	}
	w := newDashWorld(t, withLimits(server.Limits{})) // no rate limit: the calls come back to back
	ctx := context.Background()
	w.seedRepVisits(t, 10_000)
	w.seedYearOfPhi(t)
	director, manager, rep := w.token("regional_director"), w.token("store_manager"), w.token("rep")
	region, store := fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, fieldsyncv1.ScopeKind_SCOPE_KIND_STORE
	insights := fieldsyncv1connect.NewInsightsServiceClient(w.srv.Client(), w.srv.URL, connect.WithInterceptors(bearer(director)))
	from, to := w.today.AddDate(0, 0, -29).Format("2006-01-02"), w.today.Format("2006-01-02")
	calls := []struct {
		name string
		call func() error
	}{
		{"GetPhiDrilldown(region)", func() error { _, err := w.drill(director, region, w.region); return err }},
		{"GetPhiDrilldown(store)", func() error { _, err := w.drill(manager, store, w.store); return err }},
		{"GetPhi(rep, 30 days)", func() error {
			_, err := insights.GetPhi(ctx, connect.NewRequest(&fieldsyncv1.GetPhiRequest{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP,
				ScopeId: w.userID("rep"), FromDate: from, ToDate: to}))
			return err
		}},
		{"GetAlertDetail(A1)", func() error { _, err := w.detail(manager, w.a1); return err }},
		{"GetAlertDetail(A2)", func() error { _, err := w.detail(rep, w.a2); return err }},
	}
	const rounds = 500
	for _, c := range calls {
		for range 20 { // warm the connection and the statement caches
			if err := c.call(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		times := make([]time.Duration, rounds)
		for i := range times {
			start := time.Now()
			if err := c.call(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			times[i] = time.Since(start)
		}
		slices.Sort(times)
		t.Logf("%-26s p50 %6s  p99 %6s  max %6s (%d calls)", c.name, ms(times[rounds/2]), ms(times[rounds*99/100]), ms(times[rounds-1]), rounds)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// seedRepVisits pushes n visits as the demo rep, in batches of 500.
func (w *dashWorld) seedRepVisits(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	p, err := w.db.Authenticate(ctx, w.token("rep"))
	must(t, err)
	clock := syncengine.NewClock(nil)
	for done, seq := 0, uint64(0); done < n; done += 500 {
		muts := make([]syncengine.Mutation, min(500, n-done))
		for j := range muts {
			seq++
			muts[j] = syncengine.Mutation{Seq: seq, Type: "fieldsync.v1.Visit", RecordID: ids.New(), HLC: clock.Now(),
				Value: &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "ruijin",
					Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}},
				Fields: []string{"kind", "customer_id", "notes", "action_tags"}}
		}
		res, err := w.engine.Push(ctx, p, muts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Results {
			if r.GetOutcome() != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
				t.Fatalf("visit not applied: %v", r)
			}
		}
	}
}

// seedYearOfPhi adds a year of PHI days before the last 30 for every
// place, so the date range, not the table, bounds each read.
func (w *dashWorld) seedYearOfPhi(t *testing.T) {
	t.Helper()
	must(t, w.db.InsightsWrite(context.Background(), func(tx insightstore.Tx) error {
		var days []*fieldsyncv1.PhiDay
		for _, kind := range []fieldsyncv1.ScopeKind{fieldsyncv1.ScopeKind_SCOPE_KIND_REP, fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, fieldsyncv1.ScopeKind_SCOPE_KIND_REGION} {
			some, err := tx.PhiDays(w.tenant, kind, "", w.today.Format("2006-01-02"), w.today.Format("2006-01-02"))
			if err != nil {
				return err
			}
			days = append(days, some...)
		}
		for _, d := range days {
			for back := 30; back < 365; back++ {
				if err := tx.PutPhiDay(w.tenant, phiDay(d.GetScopeKind(), d.GetScopeId(), w.today.AddDate(0, 0, -back), 60)); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}
