// Package outboxtest is the conformance suite every outbox store passes
// (the pattern of syncengine/storetest): a backend's test calls Run with a
// constructor, and each part of the contract the relay and the daemon rely
// on runs as a parallel subtest on a fresh store. storage/sqlite and
// storage/postgres run it.
package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
)

// Store is an outbox as the daemon uses it: the relay's Outbox with its
// backlog, and the pruning of sent events.
type Store interface {
	events.Outbox
	events.BacklogReporter
	// PruneSentEvents deletes the events marked sent before olderThan and
	// returns how many; unsent events stay.
	PruneSentEvents(ctx context.Context, olderThan time.Time) (int64, error)
}

// Backend is a store under test with the way to write events: Write runs
// fn in one write transaction of the store, committed when fn returns nil
// (the sync engine's Update with Tx.AppendEvent).
type Backend struct {
	Store Store
	Write func(ctx context.Context, fn func(appendEvent func(events.OutboxEvent) error) error) error
}

// Run runs the suite. newBackend returns an empty store for one subtest.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"PendingEventsAreTheUnsentInCommitOrder", testPendingOrder},
		{"MarkSentRemovesEventsFromPendingOnce", testMarkSent},
		{"BacklogCountsUnsentAndDatesTheOldest", testBacklog},
		{"PruneDeletesOnlyOldSentEvents", testPrune},
		{"RolledBackEventsNeverAppear", testRollback},
		{"ResendMakesTheLostTailOfAStreamPendingAgain", testResend},
		{"BadEventsAreRefused", testRefused},
		{"EachEventKeepsItsFirstMark", testFirstMark},
		{"ResendCutsARunOfMarks", testResendCutsRun},
		{"PruneLeavesResentEventsAndForgetsPrunedOnes", testPruneAfterResend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBackend(t))
		})
	}
}

// event returns a change event named n.
func event(n string) events.OutboxEvent {
	return events.OutboxEvent{ID: "ev-" + n, Subject: events.ChangeSubject("tenant", "fieldsync.v1.Visit"), Data: []byte("data " + n)}
}

// write appends the events in one transaction and fails the test on an error.
func write(t *testing.T, b Backend, evs ...events.OutboxEvent) {
	t.Helper()
	err := b.Write(t.Context(), func(appendEvent func(events.OutboxEvent) error) error {
		for _, ev := range evs {
			if err := appendEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write events: %v", err)
	}
}

// pending returns the ids of up to limit pending events, checking that
// their seqs increase.
func pending(t *testing.T, s Store, limit int) ([]string, []uint64) {
	t.Helper()
	evs, err := s.PendingEvents(t.Context(), limit)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	var ids []string
	var seqs []uint64
	for i, ev := range evs {
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Errorf("seq %d after %d: pending events out of order", ev.Seq, evs[i-1].Seq)
		}
		ids, seqs = append(ids, ev.ID), append(seqs, ev.Seq)
	}
	return ids, seqs
}

func testPendingOrder(t *testing.T, b Backend) {
	before := time.Now().Add(-time.Second)
	write(t, b, event("1"), event("2"), event("3"))
	write(t, b, event("4"), event("5"))
	evs, err := b.Store.PendingEvents(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, ev := range evs {
		ids = append(ids, ev.ID)
		want := event(fmt.Sprint(i + 1))
		if ev.Subject != want.Subject || string(ev.Data) != string(want.Data) {
			t.Errorf("event %s: subject %q data %q, want %q %q", ev.ID, ev.Subject, ev.Data, want.Subject, want.Data)
		}
		if ev.CreatedAt.Before(before) || ev.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("event %s: CreatedAt %v is not the commit time", ev.ID, ev.CreatedAt)
		}
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Errorf("event %s: seq %d after %d", ev.ID, ev.Seq, evs[i-1].Seq)
		}
	}
	if want := []string{"ev-1", "ev-2", "ev-3", "ev-4", "ev-5"}; !slices.Equal(ids, want) {
		t.Errorf("pending %v, want %v", ids, want)
	}
	if ids, _ := pending(t, b.Store, 2); !slices.Equal(ids, []string{"ev-1", "ev-2"}) {
		t.Errorf("pending with limit 2: %v", ids)
	}
	if _, err := b.Store.PendingEvents(t.Context(), 0); err == nil {
		t.Error("PendingEvents with limit 0: no error")
	}
}

func testMarkSent(t *testing.T, b Backend) {
	write(t, b, event("1"), event("2"), event("3"))
	_, seqs := pending(t, b.Store, 2)
	for range 2 { // marking twice is no error
		if err := b.Store.MarkSent(t.Context(), sentAt(events.ChangesStream, 1, seqs...)); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
	}
	if err := b.Store.MarkSent(t.Context(), sentAt(events.ChangesStream, 1000, seqs[1]+1000)); err != nil {
		t.Errorf("MarkSent of an unknown seq: %v", err)
	}
	if err := b.Store.MarkSent(t.Context(), nil); err != nil {
		t.Errorf("MarkSent of nothing: %v", err)
	}
	if ids, _ := pending(t, b.Store, 10); !slices.Equal(ids, []string{"ev-3"}) {
		t.Errorf("pending after marking two: %v, want [ev-3]", ids)
	}
}

func testBacklog(t *testing.T, b Backend) {
	ctx := t.Context()
	n, oldest, err := b.Store.OutboxBacklog(ctx)
	if err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty backlog: %d %v %v", n, oldest, err)
	}
	write(t, b, event("1"))
	write(t, b, event("2"))
	evs, _ := b.Store.PendingEvents(ctx, 10)
	if n, oldest, err = b.Store.OutboxBacklog(ctx); err != nil || n != 2 || !oldest.Equal(evs[0].CreatedAt) {
		t.Errorf("backlog %d oldest %v (%v), want 2 and %v", n, oldest, err, evs[0].CreatedAt)
	}
	if err := b.Store.MarkSent(ctx, sentAt(events.ChangesStream, 1, evs[0].Seq, evs[1].Seq)); err != nil {
		t.Fatal(err)
	}
	if n, oldest, err = b.Store.OutboxBacklog(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Errorf("backlog after sending all: %d %v %v", n, oldest, err)
	}
}

func testPrune(t *testing.T, b Backend) {
	ctx := t.Context()
	write(t, b, event("1"), event("2"), event("3"))
	_, seqs := pending(t, b.Store, 2)
	if err := b.Store.MarkSent(ctx, sentAt(events.ChangesStream, 1, seqs...)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Store.PruneSentEvents(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("pruning events sent before an hour ago: %d (%v), want 0", n, err)
	}
	if n, err := b.Store.PruneSentEvents(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("pruning every sent event: %d (%v), want 2", n, err)
	}
	if ids, _ := pending(t, b.Store, 10); !slices.Equal(ids, []string{"ev-3"}) {
		t.Errorf("pending after pruning: %v, want the unsent [ev-3]", ids)
	}
}

// sentAt says seqs were stored in stream at consecutive stream sequences
// from first.
func sentAt(stream string, first uint64, seqs ...uint64) []events.Sent {
	sent := make([]events.Sent, len(seqs))
	for i, seq := range seqs {
		sent[i] = events.Sent{Seq: seq, Stream: stream, StreamSeq: first + uint64(i)}
	}
	return sent
}

func lastSent(t *testing.T, s Store, stream string) uint64 {
	t.Helper()
	last, err := s.LastSent(t.Context(), stream)
	if err != nil {
		t.Fatalf("LastSent(%s): %v", stream, err)
	}
	return last
}

// testResend sends six events, four to the changes stream (stream
// sequences 11-14) and two alerts (1-2), then says the changes stream
// ends at 12: the two changes recorded above it are pending again, in
// their order, alerts untouched; once sent again they are recorded anew.
func testResend(t *testing.T, b Backend) {
	ctx := t.Context()
	if got := lastSent(t, b.Store, events.ChangesStream); got != 0 {
		t.Fatalf("LastSent of an empty outbox: %d, want 0", got)
	}
	alert := events.OutboxEvent{ID: "ev-alert", Subject: events.AlertSubject("tenant", "STOCKOUT"), Data: []byte("alert")}
	alert2 := alert
	alert2.ID = "ev-alert2"
	write(t, b, event("1"), alert, event("2"), event("3"), alert2, event("4"))
	_, seqs := pending(t, b.Store, 10)
	changes := []uint64{seqs[0], seqs[2], seqs[3], seqs[5]}
	sent := append(sentAt(events.ChangesStream, 11, changes...), sentAt(events.AlertsStream, 1, seqs[1], seqs[4])...)
	if err := b.Store.MarkSent(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if got := lastSent(t, b.Store, events.ChangesStream); got != 14 {
		t.Errorf("LastSent(changes) = %d, want 14", got)
	}
	if got := lastSent(t, b.Store, events.AlertsStream); got != 2 {
		t.Errorf("LastSent(alerts) = %d, want 2", got)
	}
	n, err := b.Store.Resend(ctx, events.ChangesStream, 12)
	if err != nil || n != 2 {
		t.Fatalf("Resend(changes, 12) = %d, %v; want 2", n, err)
	}
	if ids, _ := pending(t, b.Store, 10); !slices.Equal(ids, []string{"ev-3", "ev-4"}) {
		t.Errorf("pending after Resend: %v, want [ev-3 ev-4]", ids)
	}
	if got := lastSent(t, b.Store, events.ChangesStream); got != 12 {
		t.Errorf("LastSent(changes) after Resend = %d, want 12", got)
	}
	if got := lastSent(t, b.Store, events.AlertsStream); got != 2 {
		t.Errorf("LastSent(alerts) after Resend = %d, want 2 (untouched)", got)
	}
	if n, err := b.Store.Resend(ctx, events.ChangesStream, 12); err != nil || n != 0 {
		t.Errorf("Resend again: %d, %v; want nothing more", n, err)
	}
	if n, _, err := b.Store.OutboxBacklog(ctx); err != nil || n != 2 {
		t.Errorf("backlog after Resend: %d, %v; want 2", n, err)
	}
	if err := b.Store.MarkSent(ctx, sentAt(events.ChangesStream, 13, seqs[3], seqs[5])); err != nil {
		t.Fatal(err)
	}
	if ids, _ := pending(t, b.Store, 10); len(ids) != 0 {
		t.Errorf("pending after sending again: %v", ids)
	}
	if got := lastSent(t, b.Store, events.ChangesStream); got != 14 {
		t.Errorf("LastSent(changes) after sending again = %d, want 14", got)
	}
	// A pruned event is no longer the outbox's to resend.
	if _, err := b.Store.PruneSentEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := lastSent(t, b.Store, events.ChangesStream); got != 0 {
		t.Errorf("LastSent(changes) after pruning everything = %d, want 0", got)
	}
}

func testRollback(t *testing.T, b Backend) {
	boom := errors.New("boom")
	err := b.Write(t.Context(), func(appendEvent func(events.OutboxEvent) error) error {
		if err := appendEvent(event("1")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write: %v, want the function's error", err)
	}
	if ids, _ := pending(t, b.Store, 10); len(ids) != 0 {
		t.Errorf("a rolled back transaction left events %v", ids)
	}
}

func testRefused(t *testing.T, b Backend) {
	write(t, b, event("1"))
	bad := map[string]events.OutboxEvent{
		"no id":           {Subject: event("x").Subject},
		"foreign subject": {ID: "ev-x", Subject: "other.subject"},
		"too large":       {ID: "ev-y", Subject: event("y").Subject, Data: make([]byte, events.MaxEventSize+1)},
		"duplicate id":    event("1"),
	}
	for name, ev := range bad {
		err := b.Write(t.Context(), func(appendEvent func(events.OutboxEvent) error) error { return appendEvent(ev) })
		if err == nil {
			t.Errorf("%s: the event was accepted", name)
		}
	}
	if ids, _ := pending(t, b.Store, 10); !slices.Equal(ids, []string{"ev-1"}) {
		t.Errorf("pending after refusals: %v, want [ev-1]", ids)
	}
}

// resend calls Resend and checks how many events it made unsent.
func resend(t *testing.T, s Store, stream string, after uint64, want int64) {
	t.Helper()
	if n, err := s.Resend(t.Context(), stream, after); err != nil || n != want {
		t.Fatalf("Resend(%s, %d) = %d, %v; want %d", stream, after, n, err, want)
	}
}

func markSent(t *testing.T, s Store, sent []events.Sent) {
	t.Helper()
	if err := s.MarkSent(t.Context(), sent); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
}

func wantPending(t *testing.T, s Store, want ...uint64) {
	t.Helper()
	if _, seqs := pending(t, s, 100); !slices.Equal(seqs, want) {
		t.Fatalf("pending %v, want %v", seqs, want)
	}
}

// testFirstMark marks events with gaps, events marked twice (in one call
// and across calls, the second time at another stream sequence) and
// sequences out of order: each event keeps its first mark, which LastSent
// and Resend reveal.
func testFirstMark(t *testing.T, b Backend) {
	write(t, b, event("1"), event("2"), event("3"), event("4"), event("5"), event("6"))
	_, s := pending(t, b.Store, 10)
	const changes = events.ChangesStream
	markSent(t, b.Store, sentAt(changes, 10, s[0], s[1]))
	markSent(t, b.Store, []events.Sent{
		{Seq: s[1], Stream: changes, StreamSeq: 50}, // marked before at 11
		{Seq: s[2], Stream: changes, StreamSeq: 12},
		{Seq: s[4], Stream: changes, StreamSeq: 13}, // s[3] left out
		{Seq: s[4], Stream: changes, StreamSeq: 60}, // twice in one call
		{Seq: s[0], Stream: changes, StreamSeq: 61},
	})
	wantPending(t, b.Store, s[3], s[5])
	if got := lastSent(t, b.Store, changes); got != 13 {
		t.Fatalf("LastSent = %d, want 13 (later marks of marked events ignored)", got)
	}
	resend(t, b.Store, changes, 11, 2)
	wantPending(t, b.Store, s[2], s[3], s[4], s[5])
	// Out of order, with a duplicate's acknowledgement pointing back.
	markSent(t, b.Store, []events.Sent{
		{Seq: s[5], Stream: changes, StreamSeq: 14},
		{Seq: s[2], Stream: changes, StreamSeq: 12},
		{Seq: s[3], Stream: changes, StreamSeq: 13},
		{Seq: s[4], Stream: changes, StreamSeq: 12},
	})
	wantPending(t, b.Store)
	if got := lastSent(t, b.Store, changes); got != 14 {
		t.Fatalf("LastSent = %d, want 14", got)
	}
	resend(t, b.Store, changes, 12, 2) // s[3] at 13 and s[5] at 14
	wantPending(t, b.Store, s[3], s[5])
}

// testResendCutsRun marks events in one call, at consecutive stream
// sequences, then resends from the middle of them, more than once.
func testResendCutsRun(t *testing.T, b Backend) {
	write(t, b, event("1"), event("2"), event("3"), event("4"), event("5"))
	_, s := pending(t, b.Store, 10)
	const changes = events.ChangesStream
	markSent(t, b.Store, sentAt(changes, 21, s...))
	resend(t, b.Store, changes, 23, 2)
	wantPending(t, b.Store, s[3], s[4])
	if got := lastSent(t, b.Store, changes); got != 23 {
		t.Fatalf("LastSent after Resend = %d, want 23", got)
	}
	markSent(t, b.Store, sentAt(changes, 24, s[3], s[4]))
	if got := lastSent(t, b.Store, changes); got != 25 {
		t.Fatalf("LastSent after sending again = %d, want 25", got)
	}
	resend(t, b.Store, changes, 21, 4)
	wantPending(t, b.Store, s[1], s[2], s[3], s[4])
	resend(t, b.Store, changes, 21, 0)
	resend(t, b.Store, events.AlertsStream, 0, 0)
	resend(t, b.Store, changes, 0, 1)
	wantPending(t, b.Store, s...)
	if got := lastSent(t, b.Store, changes); got != 0 {
		t.Fatalf("LastSent after resending everything = %d, want 0", got)
	}
}

// testPruneAfterResend: pruning deletes sent events only, not those a
// Resend made unsent again, and a pruned event marked again leaves no
// mark.
func testPruneAfterResend(t *testing.T, b Backend) {
	ctx := t.Context()
	write(t, b, event("1"), event("2"), event("3"))
	_, s := pending(t, b.Store, 10)
	const changes = events.ChangesStream
	markSent(t, b.Store, sentAt(changes, 1, s...))
	resend(t, b.Store, changes, 1, 2)
	if n, err := b.Store.PruneSentEvents(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the one event still sent", n, err)
	}
	wantPending(t, b.Store, s[1], s[2])
	markSent(t, b.Store, []events.Sent{{Seq: s[0], Stream: changes, StreamSeq: 99}})
	if got := lastSent(t, b.Store, changes); got != 0 {
		t.Fatalf("LastSent after marking a pruned event = %d, want 0", got)
	}
	markSent(t, b.Store, sentAt(changes, 2, s[1], s[2]))
	if n, err := b.Store.PruneSentEvents(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2", n, err)
	}
	wantPending(t, b.Store)
	if n, _, err := b.Store.OutboxBacklog(ctx); err != nil || n != 0 {
		t.Fatalf("backlog %d (%v), want 0", n, err)
	}
}
