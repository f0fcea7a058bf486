package fieldsync

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestPutShowsLocalEditAtOnceAndQueuesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"))
	id := c.NewID()
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "first", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: []string{"first_contact"}})
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "second", ActionTags: []string{"technical_demo"}}, "notes", "action_tags")
	v, found := visit(t, c, id)
	if !found || v.Notes != "second" || v.Kind != fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE {
		t.Fatalf("view %v (found %v)", v, found)
	}
	if want := []string{"first_contact", "technical_demo"}; !slices.Equal(v.ActionTags, want) {
		t.Fatalf("action_tags %v, want the union %v", v.ActionTags, want)
	}
	recs, err := c.List(ctx, visitType)
	if err != nil || len(recs) != 1 || !recs[0].Pending || recs[0].Version != 0 {
		t.Fatalf("list: %v %v", recs, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.OutboxDepth != 2 || st.OldestPending.IsZero() || !st.LastSync.IsZero() {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestSeqsCountUpAndSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d.db")
	c := openDevice(t, path)
	for range 3 {
		mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "x"})
	}
	hlc := c.clock.Last()
	c.Close()
	// The wall clock went back an hour: HLCs must still count up.
	c = openDevice(t, path, WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	if err := c.Delete(ctx, visitType, c.NewID()); err != nil {
		t.Fatal(err)
	}
	entries, err := pendingHead(ctx, c.db.read, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range entries {
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4}) {
		t.Fatalf("seqs %v", seqs)
	}
	if entries[3].HLC <= hlc {
		t.Fatalf("hlc after reopen %d, not above %d", entries[3].HLC, hlc)
	}
}

func TestDeleteHidesRecordLocally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"))
	id := c.NewID()
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "x"})
	if err := c.Delete(ctx, visitType, id); err != nil {
		t.Fatal(err)
	}
	if _, found := visit(t, c, id); found {
		t.Fatal("deleted visit still found")
	}
	if recs, _ := c.List(ctx, visitType); len(recs) != 0 {
		t.Fatalf("list after delete: %v", recs)
	}
	mustPut(t, c, id, &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT})
	if v, found := visit(t, c, id); !found || v.Notes != "" || v.Kind != fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT {
		t.Fatalf("an edit after a delete brings back only its fields: %v %v", v, found)
	}
}

func TestLocalWriteErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"))
	id := c.NewID()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"unknown field", c.Put(ctx, id, &fieldsyncv1.Visit{Notes: "x"}, "nope"), ErrUnknownField},
		{"nested path", c.Put(ctx, id, &fieldsyncv1.Visit{Notes: "x"}, "visit_time.seconds"), ErrUnknownField},
		{"nothing set", c.Put(ctx, id, &fieldsyncv1.Visit{}), ErrNoFields},
		{"not a record", c.Put(ctx, id, &fieldsyncv1.Contact{Name: "x"}), ErrNotRecordType},
		{"bad id", c.Put(ctx, "a b", &fieldsyncv1.Visit{Notes: "x"}), ErrInvalidID},
		{"delete unknown type", c.Delete(ctx, "fieldsync.v1.Nope", id), ErrNotRecordType},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "x"})
	if err := c.Put(ctx, id, &fieldsyncv1.Customer{Name: "x"}); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("put of another type under the same id: %v", err)
	}
	if _, err := c.Get(ctx, visitType, id, &fieldsyncv1.Customer{}); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("get into another type: %v", err)
	}
	if err := c.Sync(ctx); !errors.Is(err, ErrNoServer) {
		t.Errorf("sync without server: %v", err)
	}
}

func TestPutSendsOnlyMaskedFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"))
	id := c.NewID()
	full := &fieldsyncv1.Visit{Notes: "n", CustomerId: "c1"}
	mustPut(t, c, id, full)
	full.Notes = ""
	mustPut(t, c, id, full, "notes") // clears notes, leaves customer_id alone
	v, _ := visit(t, c, id)
	if v.Notes != "" || v.CustomerId != "c1" {
		t.Fatalf("view %v", v)
	}
	entries, _ := pendingHead(ctx, c.db.read, 10)
	m := entries[1].toWire()
	if got := m.GetFieldMask().GetPaths(); !slices.Equal(got, []string{"notes"}) {
		t.Fatalf("mask %v", got)
	}
	var sent fieldsyncv1.Visit
	if err := m.GetValue().UnmarshalTo(&sent); err != nil || sent.CustomerId != "" {
		t.Fatalf("the value carries unmasked fields: %v %v", &sent, err)
	}
}
