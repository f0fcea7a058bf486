package insights

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// snapshot dumps every insights table, to compare states. It folds the
// staged progress rows first (SQLite migration 0022), so that
// insights_progress holds every progress row.
func (e *env) snapshot(t *testing.T) string {
	t.Helper()
	must(t, e.db.FoldInsightsProgress(e.ctx))
	var b strings.Builder
	for _, table := range []string{"insights_applied_events", "insights_actions", "insights_materials", "insights_deliveries",
		"insights_phi_days", "insights_customers", "insights_stock", "insights_photos", "insights_stalls", "insights_progress",
		"insights_effects", "insights_interventions", "access_grants", "audit_entries", "insights_findings"} {
		rows, err := e.db.Reader().Query(`SELECT * FROM ` + table + ` ORDER BY 1, 2, 3`)
		must(t, err)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		must(t, rows.Err())
		rows.Close()
	}
	return b.String()
}

// allRuleEvents is the golden month plus events that raise A1, A2, A5 and A6.
func allRuleEvents(e *env) []*fieldsyncv1.ChangeEvent {
	evs := goldenEvents(e)
	p := photo("shared")
	return append(evs,
		e.upsertAt("h1", &fieldsyncv1.Customer{AssignedRepId: e.id("bob"), RegionId: e.id("north")}, at(21, 8, 0), at(21, 8, 0)),
		e.upsertAt("st1", &fieldsyncv1.StockLevel{RegionId: e.id("north"), TerminalId: "h1", ProductId: "p", OnHand: 1, SafetyStock: 5}, at(21, 9, 0), at(21, 9, 0)),
		e.upsertAt("dX", e.diagnosis("alice", "c9", "A", p), at(21, 9, 0), at(21, 9, 0)),
		e.upsertAt("dY", e.diagnosis("alice", "c9", "B", p), at(21, 10, 0), at(21, 10, 0)))
}

func TestHandleTwiceChangesNothing(t *testing.T) {
	e := newEnv(t)
	evs := allRuleEvents(e)
	for _, ev := range evs {
		e.handle(ev)
	}
	e.sweep(at(27, 0, 0)) // A5 for V3 (02-20) is not due yet; nothing else either
	before, calls, alerts := e.snapshot(t), e.sink.calls, len(e.sink.alerts)
	if alerts < 4 || len(e.sink.flags) != 2 {
		t.Fatalf("fixture raised %d alerts and %d flags, want at least 4 and 2", alerts, len(e.sink.flags))
	}
	for round, c := range []*Consumer{e.c, e.consumer()} { // the same consumer, then a "restart"
		e.c = c
		for _, ev := range evs {
			e.handle(proto.Clone(ev).(*fieldsyncv1.ChangeEvent))
		}
		if after := e.snapshot(t); after != before {
			t.Fatalf("round %d: state changed:\n%s", round, diffLines(before, after))
		}
		if e.sink.calls != calls {
			t.Fatalf("round %d: %d more alert or flag calls", round, e.sink.calls-calls)
		}
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 10; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

// TestAFailedEffectWaitsWithoutHoldingUpTheOthers: a flag that fails for
// now neither fails Handle nor stops the effects queued after it; it is
// retried once its backoff passed.
func TestAFailedEffectWaitsWithoutHoldingUpTheOthers(t *testing.T) {
	e := newEnv(t)
	p := photo("p")
	e.upsert("d1", e.diagnosis("alice", "c1", "A", p), at(2, 8, 0))
	ev := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, "d2", e.diagnosis("alice", "c1", "B", p), at(2, 9, 0), at(2, 9, 0))
	// A6 queues flag d1, flag d2 and an alert, then A1 its alerts: the second call fails.
	e.c.Flags = failAfter{e.sink, 1}
	e.handle(ev)
	if len(e.sink.flags) != 1 {
		t.Errorf("flags %v, want one (the other failed)", e.sink.flagged())
	}
	if a1 := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES); len(a1) != 2 {
		t.Errorf("A1 alerts %v, want mgr1's and techN's although a flag before them failed", a1)
	}
	e.c.Flags = e.sink
	must(t, e.c.Flush(e.ctx))
	if len(e.sink.flags) != 1 {
		t.Errorf("flags %v: the failed one was retried before its backoff", e.sink.flagged())
	}
	e.now = e.now.Add(retryBackoff(0))
	must(t, e.c.Flush(e.ctx))
	if len(e.sink.flags) != 2 {
		t.Errorf("flags %v, want d1 and d2 after the backoff", e.sink.flagged())
	}
}

// TestAnEffectTheEngineRefusesIsDropped: an alert whose id a record of
// another type holds (NotFound from the engine) is dropped, not retried,
// and the effects after it are performed.
func TestAnEffectTheEngineRefusesIsDropped(t *testing.T) {
	e := newEnv(t)
	refuse := &refuseKey{fakeSink: e.sink, key: "A1:c1:d2:" + e.id("mgr1")}
	e.c.Alerts = refuse
	e.upsert("d1", e.diagnosis("alice", "c1", "A"), at(2, 8, 0))
	e.upsert("d2", e.diagnosis("alice", "c1", "B"), at(2, 9, 0))
	if got := e.recipients(e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)); !slices.Equal(got, []string{"techN"}) {
		t.Errorf("A1 alerts for %v, want techN's (mgr1's is refused)", got)
	}
	tries := refuse.tries
	e.now = e.now.Add(24 * time.Hour)
	must(t, e.c.Flush(e.ctx))
	if refuse.tries != tries {
		t.Errorf("the refused alert was tried again")
	}
	pending, err := e.db.PendingInsightEffects(e.ctx, afterEveryRetry, 10)
	must(t, err)
	if len(pending) != 0 {
		t.Errorf("%d effects still pending", len(pending))
	}
}

// refuseKey refuses the alert of one dedup key as the engine refuses a
// write onto a record of another type.
type refuseKey struct {
	*fakeSink
	key   string
	tries int
}

func (r *refuseKey) ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error) {
	if value.(*fieldsyncv1.Alert).DedupKey == r.key {
		r.tries++
		return false, fmt.Errorf("server write: %w", syncengine.Errorf(syncengine.CodeNotFound, "record %q exists with another type", id))
	}
	return r.fakeSink.ServerWrite(ctx, tenantID, recordType, id, value, fields)
}

// failAfter lets n flag calls through, then fails.
type failAfter struct {
	*fakeSink
	n int
}

func (f failAfter) FlagRecord(ctx context.Context, tenantID, recordType, recordID, field string) error {
	if len(f.flags) >= f.n {
		return fmt.Errorf("fake: down")
	}
	return f.fakeSink.FlagRecord(ctx, tenantID, recordType, recordID, field)
}

func TestHandleMessageRejectsInvalidInput(t *testing.T) {
	e := newEnv(t)
	good := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, "v1", e.visit("bob", "h1", at(2, 8, 0)), at(2, 9, 0), at(2, 9, 0))
	wrongType := proto.Clone(good).(*fieldsyncv1.ChangeEvent)
	wrongType.Value, _ = anypb.New(&fieldsyncv1.Quote{})
	noTenant := proto.Clone(good).(*fieldsyncv1.ChangeEvent)
	noTenant.TenantId = ""
	noTime := proto.Clone(good).(*fieldsyncv1.ChangeEvent)
	noTime.CommitTime = nil
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not protobuf", []byte{0xff, 0xff, 0xff}},
		{"empty", nil},
		{"value of another type", marshal(t, wrongType)},
		{"no tenant", marshal(t, noTenant)},
		{"no commit time", marshal(t, noTime)},
	} {
		if err := e.c.HandleMessage(e.ctx, tc.data); !syncengine.IsCode(err, syncengine.CodeInvalid) {
			t.Errorf("%s: %v, want CodeInvalid", tc.name, err)
		}
	}
	must(t, e.c.HandleMessage(e.ctx, marshal(t, good)))
	unknown := proto.Clone(good).(*fieldsyncv1.ChangeEvent)
	unknown.EventId, unknown.RecordType, unknown.Value = "ev-x", "fieldsync.v1.Future", nil
	must(t, e.c.HandleMessage(e.ctx, marshal(t, unknown)))
}

func marshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzHandleMessage(f *testing.F) {
	e := newEnv(f)
	for _, ev := range allRuleEvents(e) {
		f.Add(marshal(f, ev))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := e.c.HandleMessage(e.ctx, data)
		if err != nil && !syncengine.IsCode(err, syncengine.CodeInvalid) {
			t.Fatalf("HandleMessage: %v (want nil or CodeInvalid)", err)
		}
	})
}
