package insights

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// outcome describes what the consumer produced, by names, so that two envs
// compare: every stored PHI day and every alert and flag.
func (e *env) outcome(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, kind := range []fieldsyncv1.ScopeKind{rep, store, region} {
		must(t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
			days, err := tx.PhiDays(e.tenant, kind, "", "2026-01-01", "2026-03-31")
			for _, d := range days {
				out = append(out, fmt.Sprintf("phi %s %s %s %.6f %d", kind, e.names[d.ScopeId], d.Date, d.Index, d.EventCount))
			}
			return err
		}))
	}
	for _, a := range e.sink.alerts {
		out = append(out, fmt.Sprintf("alert %s %s %q %q %v", a.Kind, e.names[a.RecipientUserId], a.Title, a.Body, a.RelatedRecordIds))
	}
	for f := range e.sink.flags {
		out = append(out, "flag "+f)
	}
	slices.Sort(out)
	return out
}

// failPhiWrites makes every transaction that writes PHI fail at its end
// (the batch's last step) until the returned func is called.
func failPhiWrites(t *testing.T, e *env) (stop func()) {
	t.Helper()
	exec := func(q string) {
		must(t, e.db.WriteTx(e.ctx, func(tx *sql.Tx, _ time.Time) error { _, err := tx.ExecContext(e.ctx, q); return err }))
	}
	exec(`CREATE TRIGGER fail_phi BEFORE INSERT ON insights_phi_days BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	return func() { exec(`DROP TRIGGER fail_phi`) }
}

// TestBatchFailureAndLostAckApplyOnce applies the events of every rule in
// batches. One batch fails at the end of its transaction and is
// redelivered; then every batch is redelivered again, as after lost acks.
// The outcome equals applying each event once, alone.
func TestBatchFailureAndLostAckApplyOnce(t *testing.T) {
	alone := newEnv(t)
	for _, ev := range allRuleEvents(alone) {
		alone.handle(ev)
	}
	want := alone.outcome(t)

	e := newEnv(t)
	evs := allRuleEvents(e)
	var batches [][]*fieldsyncv1.ChangeEvent
	for i := 0; i < len(evs); i += 7 {
		batches = append(batches, evs[i:min(i+7, len(evs))])
	}
	for i, b := range batches {
		if i == 2 {
			stop := failPhiWrites(t, e)
			before := e.snapshot(t)
			if err := e.c.HandleBatch(e.ctx, b); err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("batch %d: %v, want the injected failure", i, err)
			}
			if after := e.snapshot(t); after != before {
				t.Fatalf("a failed batch changed state:\n%s", diffLines(before, after))
			}
			stop()
		}
		must(t, e.c.HandleBatch(e.ctx, b))
	}
	if got := e.outcome(t); !slices.Equal(got, want) {
		t.Fatalf("batched outcome differs from one event at a time:\n%s", diffLines(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
	before, calls := e.snapshot(t), e.sink.calls
	for _, b := range batches { // every ack lost: the whole stream again, in batches of another size
		must(t, e.c.HandleBatch(e.ctx, cloneEvents(b)))
	}
	must(t, e.c.HandleBatch(e.ctx, cloneEvents(evs)))
	if after := e.snapshot(t); after != before || e.sink.calls != calls {
		t.Fatalf("redelivered batches changed state (%d more calls):\n%s", e.sink.calls-calls, diffLines(before, after))
	}
}

// TestOverlappingBatchesWithRepeatsApplyEachEventOnce: batches marked
// applied in one statement each (MarkEventsApplied) still apply each event
// once when a batch mixes events applied by an earlier batch with new ones
// (a redelivery overlapping new messages) and holds an event twice (a
// republish after JetStream's duplicate window): the outcome equals
// applying each event once, alone, and the whole stream again changes
// nothing.
func TestOverlappingBatchesWithRepeatsApplyEachEventOnce(t *testing.T) {
	alone := newEnv(t)
	aloneWrites := countProgressWrites(t, alone)
	for _, ev := range allRuleEvents(alone) {
		alone.handle(ev)
	}
	want := alone.outcome(t)

	e := newEnv(t)
	writes := countProgressWrites(t, e)
	evs := allRuleEvents(e)
	for start := 0; start < len(evs); start += 5 {
		// Events start-3 .. start+7: three applied by the batch before,
		// five new ones, three of the next batch's; and its first new
		// event once more at the end.
		b := cloneEvents(evs[max(0, start-3):min(start+8, len(evs))])
		b = append(b, cloneEvents(evs[start:start+1])...)
		must(t, e.c.HandleBatch(e.ctx, b))
	}
	if got := e.outcome(t); !slices.Equal(got, want) {
		t.Fatalf("overlapping batches differ from one event at a time:\n%s", diffLines(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
	before, calls := e.snapshot(t), e.sink.calls
	must(t, e.c.HandleBatch(e.ctx, cloneEvents(evs)))
	if after := e.snapshot(t); after != before || e.sink.calls != calls {
		t.Fatalf("the stream again changed state (%d more calls):\n%s", e.sink.calls-calls, diffLines(before, after))
	}
	// The handlers are idempotent, so the outcome alone cannot tell an
	// event applied twice: count the progress rows written (one per
	// applied visit, commitment or opportunity of a customer).
	if got, want := writes(), aloneWrites(); got != want || want == 0 {
		t.Errorf("progress rows written: %d in overlapping batches, %d applying each event once", got, want)
	}
}

// countProgressWrites counts the progress rows e's consumer writes from
// now on (a trigger), which the returned func reads. The consumer's
// transaction stages them (SQLite migration 0022); a fold moves them to
// insights_progress later, so the stage's inserts are the rows written.
func countProgressWrites(t *testing.T, e *env) func() int {
	t.Helper()
	must(t, e.db.WriteTx(e.ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(e.ctx, `CREATE TABLE progress_writes (n INTEGER NOT NULL);
			INSERT INTO progress_writes VALUES (0);
			CREATE TRIGGER progress_staged AFTER INSERT ON insights_progress_staged BEGIN UPDATE progress_writes SET n = n + 1; END;`)
		return err
	}))
	return func() int {
		var n int
		must(t, e.db.WriteTx(e.ctx, func(tx *sql.Tx, _ time.Time) error {
			return tx.QueryRowContext(e.ctx, `SELECT n FROM progress_writes`).Scan(&n)
		}))
		return n
	}
}

func cloneEvents(evs []*fieldsyncv1.ChangeEvent) []*fieldsyncv1.ChangeEvent {
	out := make([]*fieldsyncv1.ChangeEvent, len(evs))
	for i, ev := range evs {
		out[i] = proto.Clone(ev).(*fieldsyncv1.ChangeEvent)
	}
	return out
}

// TestSetInsightsConfigTakesEffectForTheNextEvent: the consumer caches the
// parsed configuration, yet a change applies to the very next event.
func TestSetInsightsConfigTakesEffectForTheNextEvent(t *testing.T) {
	e := newEnv(t)
	store := ConfigStore{DB: e.db}
	made := at(2, 8, 0)
	diagnose := func(id, customer, conclusion string, gap time.Duration) {
		e.handle(e.upsertAt(id, e.diagnosis("alice", customer, conclusion), made.Add(gap), made.Add(gap)))
	}
	a1 := func() int { return len(e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)) }
	diagnose("d1", "c1", "worn", 0) // the default configuration is cached now
	_, err := store.SetInsightsConfigJSON(e.ctx, e.tenant, []byte(`{"rules": {"conflict_window": "1h"}}`))
	must(t, err)
	diagnose("d2", "c1", "warped", 2*time.Hour)
	if n := a1(); n != 0 {
		t.Fatalf("%d A1 alerts 2h apart under a 1h window, want none: the old configuration was used", n)
	}
	_, err = store.SetInsightsConfigJSON(e.ctx, e.tenant, []byte(`{"rules": {"conflict_window": "24h"}}`))
	must(t, err)
	diagnose("d3", "c2", "worn", 0)
	diagnose("d4", "c2", "warped", 2*time.Hour)
	if n := a1(); n != 2 {
		t.Fatalf("%d A1 alerts 2h apart under a 24h window, want mgr1's and techN's", n)
	}
}
