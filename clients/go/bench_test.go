package fieldsync

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

var benchRecords = flag.Int("fieldsync.bench-records", 100_000, "records the initial-sync benchmark seeds")

// seedVisits pushes n visits as the rep, 500 mutations per push.
func seedVisits(tb testing.TB, e *env, n int) {
	tb.Helper()
	sc := e.syncClient(e.token("rep"))
	at := uint64(time.Now().UnixMilli()) << hlcLogicalBits
	for seq := 1; seq <= n; {
		req := &fieldsyncv1.PushRequest{}
		for ; seq <= n && len(req.Mutations) < maxBatchSize; seq++ {
			req.Mutations = append(req.Mutations, seedMutation(tb, uint64(seq), at+uint64(seq)))
		}
		if _, err := sc.Push(context.Background(), connect.NewRequest(req)); err != nil {
			tb.Fatalf("seed push: %v", err)
		}
	}
}

func seedMutation(tb testing.TB, seq, hlc uint64) *fieldsyncv1.Mutation {
	v := &fieldsyncv1.Visit{
		CustomerId: fmt.Sprintf("hospital-%d", seq%500), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE,
		Notes:     fmt.Sprintf("visit %d: demo of the new stent, follow up on pricing next week", seq),
		VisitTime: timestamppb.Now(), ActionTags: []string{"technical_demo"},
	}
	b, err := proto.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return &fieldsyncv1.Mutation{
		Seq: seq, RecordType: visitType, RecordId: ids.New(), Hlc: hlc,
		Value:     &anypb.Any{TypeUrl: "type.googleapis.com/" + visitType, Value: b},
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"customer_id", "kind", "notes", "visit_time", "action_tags"}},
	}
}

// waitIdle waits until the server's relay has published every change event
// and its consumers (PHI, alerts) have handled them, so neither competes
// with the timed sync.
func waitIdle(b *testing.B, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := e.d.WaitIdle(ctx); err != nil {
		b.Fatalf("wait for the relay and consumers: %v", err)
	}
}

// BenchmarkInitialSync measures a fresh device store's first Sync of a
// scope holding -fieldsync.bench-records visits (default 100 000). Seeding
// is not timed. "new-device" enrolls a device per run, as a new phone would
// be; "known-device" syncs a fresh store with a token whose delivery receipts
// already cover every record, which skips the server's per-page receipt scan
// (see the report: the server's cost, not the SDK's, dominates).
func BenchmarkInitialSync(b *testing.B) {
	e := start(b)
	n := *benchRecords
	t0 := time.Now()
	seedVisits(b, e, n)
	b.Logf("seeded %d visits in %v", n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	waitIdle(b, e)
	b.Logf("relay and consumers caught up in %v", time.Since(t0).Round(time.Millisecond))
	known, _ := e.enroll(e.user("rep", 0).UserID, "known device")
	warm := e.device(known, WithPullLimit(maxPullLimit))
	if err := warm.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		limit int
		token func() string
	}{
		{"new-device/default", 0, func() string { t, _ := e.enroll(e.user("rep", 0).UserID, "bench"); return t }},
		{"new-device/pull-limit=1000", DefaultPullLimit, func() string { t, _ := e.enroll(e.user("rep", 0).UserID, "bench"); return t }},
		{"new-device/pull-limit=5000", maxPullLimit, func() string { t, _ := e.enroll(e.user("rep", 0).UserID, "bench"); return t }},
		{"known-device/default", 0, func() string { return known }},
		{"known-device/pull-limit=1000", DefaultPullLimit, func() string { return known }},
		{"known-device/pull-limit=5000", maxPullLimit, func() string { return known }},
	} {
		b.Run(tc.name, func(b *testing.B) { benchFirstSync(b, e, n, tc.limit, tc.token) })
	}
}

// benchFirstSync times first syncs of n records with pages of limit (0:
// the default, pages growing from DefaultPullLimit).
func benchFirstSync(b *testing.B, e *env, n, limit int, token func() string) {
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		c := e.device(token(), WithPullLimit(limit))
		waitIdle(b, e)
		b.StartTimer()
		cpu0 := benchenv.CPUTime()
		if err := c.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		cpu += benchenv.CPUTime() - cpu0
		b.StopTimer()
		if recs, err := c.List(context.Background(), visitType); err != nil || len(recs) != n {
			b.Fatalf("synced %d records (%v), want %d", len(recs), err, n)
		}
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// CPU time of the process (server and SDK) per record: what the
	// machine's load inflates least.
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(n*b.N), "cpu_us/record")
	benchenv.ReportLoad(b)
}

// BenchmarkStorePulledPages measures the SDK's side of an initial sync
// alone: storing pulled pages of 1000 visits into the local store, without
// network or server.
func BenchmarkStorePulledPages(b *testing.B) {
	const pageSize, pages = 1000, 20
	var all []*fieldsyncv1.PullResponse
	for p := range pages {
		page := &fieldsyncv1.PullResponse{HasMore: p < pages-1, NextCursor: fmt.Sprint("c", p)}
		for i := range pageSize {
			m := seedMutation(b, uint64(p*pageSize+i+1), 1)
			page.Records = append(page.Records, &fieldsyncv1.Record{RecordType: visitType, Id: m.RecordId, Value: m.Value, Version: m.Seq, Hlc: m.Hlc})
		}
		all = append(all, page)
	}
	dir := b.TempDir()
	n := 0
	for b.Loop() {
		n++
		c := openDevice(b, fmt.Sprintf("%s/store-%d.db", dir, n))
		for _, page := range all {
			if err := c.storePage(context.Background(), page); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
	}
	b.ReportMetric(float64(pageSize*pages*b.N)/b.Elapsed().Seconds(), "records/s")
	benchenv.ReportLoad(b)
}
