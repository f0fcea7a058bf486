package syncengine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// newFixedWorld is a world whose engine clock and store clock stand
// still, so two worlds given the same pushes stamp the same HLCs.
func newFixedWorld(t testing.TB) *world {
	w := newWorld(t)
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	e, err := syncengine.New(syncengine.Config{Store: w.db, Clock: syncengine.NewClock(func() time.Time { return at }), HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	w.e = e
	w.setNow(func() time.Time { return at })
	return w
}

// normalizer replaces a world's random ids (tenant, region, store, users)
// with names, so two worlds' outputs compare as text.
func (w *world) normalizer() *strings.Replacer {
	pairs := []string{w.tenant, "TENANT", w.region, "REGION", w.shop, "SHOP"}
	for name, p := range w.p {
		pairs = append(pairs, p.UserID, "USER-"+name)
	}
	return strings.NewReplacer(pairs...)
}

// TestPreparedCreatesEqualTheGeneralPathProperty pushes the same batches of
// creates, edits, deletes, duplicates and refusals into two worlds, one
// preparing creates ahead of the transaction and one not, and requires the
// same results, stored records (values, versions, HLCs) and change events.
func TestPreparedCreatesEqualTheGeneralPathProperty(t *testing.T) {
	// Two worlds for every case (opening a store costs more than a case):
	// each case writes records of its own ids.
	on, off := newFixedWorld(t), newFixedWorld(t)
	off.e.SetPrepare(false)
	cases, seen := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		ids := make([]string, 4)
		for i := range ids {
			ids[i] = fmt.Sprintf("c%d-v%d", cases, i)
		}
		type draft struct {
			kind  int
			id    string
			notes string
			tags  []string
		}
		for range rapid.IntRange(1, 3).Draw(rt, "batches") {
			n := rapid.IntRange(1, 8).Draw(rt, "n")
			drafts := make([]draft, n)
			for i := range drafts {
				drafts[i] = draft{
					kind:  rapid.IntRange(0, 6).Draw(rt, "kind"),
					id:    rapid.SampledFrom(ids).Draw(rt, "id"),
					notes: rapid.SampledFrom([]string{"", "a", "b"}).Draw(rt, "notes"),
					tags:  rapid.SliceOfN(rapid.SampledFrom([]string{"technical_demo", "x", "y"}), 0, 3).Draw(rt, "tags"),
				}
			}
			var got [2]string
			for k, w := range []*world{on, off} {
				muts := make([]syncengine.Mutation, n)
				for i, d := range drafts {
					v := &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1", Notes: d.notes, ActionTags: d.tags}
					fields := []string{"kind", "customer_id", "notes", "action_tags"}
					switch d.kind {
					case 1: // edit of notes only (a create when the record is new)
						v = &fieldsyncv1.Visit{Notes: d.notes}
						fields = []string{"notes"}
					case 2: // invalid once submitted: no customer
						v.CustomerId, v.Status = "", fieldsyncv1.RecordStatus(2)
					case 3: // a server-only field
						v.HighValue = true
						fields = append(fields, "high_value")
						v.Status = 0
					case 4: // a field not in the mask
						fields = fields[1:]
					case 5: // placed elsewhere: another region
						v.RegionId = "elsewhere"
						fields = append(fields, "region_id")
					}
					muts[i] = w.mut("rep", d.id, v, fields...)
					if d.kind == 6 {
						muts[i] = w.del("rep", "fieldsync.v1.Visit", d.id)
						w.seq["rep"]-- // del counted its own seq; keep one per mutation
						muts[i].Seq = w.seq["rep"]
					}
				}
				res, err := w.e.Push(context.Background(), w.p["rep"], muts)
				if err != nil {
					rt.Fatalf("push: %v", err)
				}
				var b strings.Builder
				for _, r := range res.Results {
					b.WriteString(protojson.Format(r) + "\n")
				}
				got[k] = w.normalizer().Replace(b.String())
			}
			if got[0] != got[1] {
				rt.Fatalf("results differ:\nprepared:\n%s\ngeneral:\n%s", got[0], got[1])
			}
		}
		var rows, evs [2]string
		var total int
		for k, w := range []*world{on, off} {
			recs, _ := w.pullAll("rep", "")
			var b strings.Builder
			for _, id := range ids {
				if r, ok := recs[id]; ok {
					b.WriteString(protojson.Format(r) + "\n")
				}
			}
			// The stored rows themselves: merge state (field and element
			// versions, created, deleted), placement, versions.
			err := w.db.Update(context.Background(), func(tx syncengine.Tx) error {
				for _, id := range ids {
					r, err := tx.GetRecord(w.tenant, id)
					if err != nil || r == nil {
						continue
					}
					st := *r.State
					value := protojson.Format(st.Value)
					st.Value = nil
					r.State, r.Encoded = nil, nil
					fmt.Fprintf(&b, "%s %+v %+v\n", value, st, *r)
				}
				return nil
			})
			if err != nil {
				rt.Fatal(err)
			}
			rows[k] = w.normalizer().Replace(b.String())
			pending, err := w.db.PendingEvents(context.Background(), 100000)
			if err != nil {
				rt.Fatal(err)
			}
			total = len(pending)
			pending = pending[seen:]
			b.Reset()
			for _, ev := range pending {
				ce := &fieldsyncv1.ChangeEvent{}
				if err := proto.Unmarshal(ev.Data, ce); err != nil {
					rt.Fatal(err)
				}
				ce.EventId = ""
				b.WriteString(ev.Subject + " " + protojson.Format(ce) + "\n")
			}
			evs[k] = w.normalizer().Replace(b.String())
		}
		if rows[0] != rows[1] {
			rt.Fatalf("stored records differ:\nprepared:\n%s\ngeneral:\n%s", rows[0], rows[1])
		}
		if evs[0] != evs[1] {
			rt.Fatalf("events differ:\nprepared:\n%s\ngeneral:\n%s", evs[0], evs[1])
		}
		seen = total
	})
}
