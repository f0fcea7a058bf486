package syncengine_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

// sample is one record of each type, its writer, and a last-writer-wins
// field a second, older write loses on (so the record has a conflict).
type sample struct {
	writer string
	value  proto.Message
	fields []string
	lose   proto.Message // the losing value of the last field
}

func samples(w *world) map[string]sample {
	return map[string]sample{
		"Visit":          {"rep", &fieldsyncv1.Visit{Notes: "won"}, []string{"notes"}, &fieldsyncv1.Visit{Notes: "lost"}},
		"SurgerySupport": {"rep", &fieldsyncv1.SurgerySupport{UsageFeedback: "won"}, []string{"usage_feedback"}, &fieldsyncv1.SurgerySupport{UsageFeedback: "lost"}},
		"Diagnosis":      {"staff", &fieldsyncv1.Diagnosis{VehicleModel: "won"}, []string{"vehicle_model"}, &fieldsyncv1.Diagnosis{VehicleModel: "lost"}},
		"Quote":          {"staff", &fieldsyncv1.Quote{Currency: "CNY"}, []string{"currency"}, &fieldsyncv1.Quote{Currency: "USD"}},
		"Commitment":     {"rep", &fieldsyncv1.Commitment{Description: "won"}, []string{"description"}, &fieldsyncv1.Commitment{Description: "lost"}},
		"Customer":       {"rep", &fieldsyncv1.Customer{Address: "won"}, []string{"address"}, &fieldsyncv1.Customer{Address: "lost"}},
		"Opportunity":    {"rep", &fieldsyncv1.Opportunity{Title: "won"}, []string{"title"}, &fieldsyncv1.Opportunity{Title: "lost"}},
		"StockLevel": {"admin", &fieldsyncv1.StockLevel{RegionId: w.region, TerminalId: "h1", ProductId: "p1", Currency: "CNY"},
			[]string{"region_id", "terminal_id", "product_id", "currency"}, &fieldsyncv1.StockLevel{Currency: "USD"}},
		"CampaignMaterial": {"marketing", &fieldsyncv1.CampaignMaterial{Title: "won"}, []string{"title"}, &fieldsyncv1.CampaignMaterial{Title: "lost"}},
		"CampaignFeedback": {"rep", &fieldsyncv1.CampaignFeedback{Feedback: "won"}, []string{"feedback"}, &fieldsyncv1.CampaignFeedback{Feedback: "lost"}},
		"SatisfactionRating": {"staff", &fieldsyncv1.SatisfactionRating{QuoteId: "q1", Score: 5, Comment: "won"},
			[]string{"quote_id", "score", "comment"}, &fieldsyncv1.SatisfactionRating{Comment: "lost"}},
		"DeviceOperationLog": {"rep", &fieldsyncv1.DeviceOperationLog{FormRecordType: "won"}, []string{"form_record_type"},
			&fieldsyncv1.DeviceOperationLog{FormRecordType: "lost"}},
		"Alert": {"rep", &fieldsyncv1.Alert{AcknowledgedTime: timestamppb.Now()}, []string{"acknowledged_time"},
			&fieldsyncv1.Alert{AcknowledgedTime: timestamppb.New(timestamppb.Now().AsTime().Add(-1))}},
	}
}

// seedSample writes a record of the sample and then an older losing write,
// so that the record has a conflict; it returns the record id.
func (w *world) seedSample(typ string, s sample) string {
	w.t.Helper()
	ctx := context.Background()
	id := newID()
	if typ == "Alert" {
		if err := w.raiseAlert(ctx, &fieldsyncv1.Alert{RecipientUserId: w.p[s.writer].UserID, DedupKey: id, Title: "t"}); err != nil {
			w.t.Fatal(err)
		}
		id = records.AlertID(w.tenant, id)
	}
	m := w.mut(s.writer, id, s.value, s.fields...)
	if r := w.push(s.writer, m)[0]; r.Outcome == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
		w.t.Fatalf("seed %s: %v", typ, r)
	}
	old := w.mut(s.writer, id, s.lose, s.fields[len(s.fields)-1])
	old.HLC = m.HLC - 1<<20
	if r := w.push(s.writer, old)[0]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_MERGED {
		w.t.Fatalf("losing write to %s: %v", typ, r)
	}
	return id
}

// TestEveryReadPathFollowsTheVisibilityPolicy checks, for every record type
// × caller × read path, that the caller reads the record exactly when the
// policy (syncengine.CanRead) says so.
func TestEveryReadPathFollowsTheVisibilityPolicy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.p["key"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1", Permissions: []string{syncengine.PermRecordsRead}}
	w.p["weakkey"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k2", Permissions: []string{"stock:write"}}
	type seeded struct {
		rt *syncengine.RecordType
		id string
	}
	recs := map[string]seeded{}
	for typ, s := range samples(w) {
		rt, _ := w.e.Registry().Lookup("fieldsync.v1." + typ)
		recs[typ] = seeded{rt, w.seedSample(typ, s)}
	}
	stored, err := w.db.GetRecords(ctx, w.tenant, recordIDs(recs, func(s seeded) string { return s.id }))
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]func(who, id string) bool{
		"Pull": func(who, id string) bool {
			res, err := w.e.Pull(ctx, w.p[who], "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				if r.Id == id {
					return true
				}
			}
			return false
		},
		"ListConflicts": func(who, id string) bool {
			cs, _ := w.e.ListConflicts(ctx, w.p[who], id, 0, 100)
			return len(cs) > 0
		},
		"ListConflicts (all)": func(who, id string) bool {
			cs, _ := w.e.ListConflicts(ctx, w.p[who], "", 0, 1000)
			for _, c := range cs {
				if c.RecordId == id {
					return true
				}
			}
			return false
		},
		"GetDeliveries": func(who, id string) bool {
			_, err := w.e.Deliveries(ctx, w.p[who], id)
			return err == nil
		},
	}
	for typ, r := range recs {
		sc := stored[r.id].Scope
		for who, p := range w.p {
			want := syncengine.CanRead(p, r.rt, sc)
			for path, reads := range paths {
				if got := reads(who, r.id); got != want {
					t.Errorf("%s: %s reads %s %+v: %v, policy says %v", path, who, typ, sc, got, want)
				}
			}
		}
	}
	// The policy itself: nobody but the rep reads the rep's operation log.
	for who, p := range w.p {
		if got := syncengine.CanRead(p, recs["DeviceOperationLog"].rt, stored[recs["DeviceOperationLog"].id].Scope); got != (who == "rep") {
			t.Errorf("CanRead(%s, operation log) = %v", who, got)
		}
	}
}

func recordIDs[T any](m map[string]T, id func(T) string) []string {
	var out []string
	for _, v := range m {
		out = append(out, id(v))
	}
	return out
}

// TestDeliveriesListOnlyDevicesTheCallerMayKnowOf: a rep sees deliveries to
// its own devices only; a director those of the region's people; marketing
// every delivery of the material it publishes.
func TestDeliveriesListOnlyDevicesTheCallerMayKnowOf(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id := newID()
	w.push("marketing", w.mut("marketing", id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	for _, who := range []string{"rep", "rep2", "staff"} {
		_, cursor := w.pullAll(who, "")
		w.pullAll(who, cursor) // acknowledges the first page
	}
	tests := map[string][]string{
		"rep":       {"rep"},
		"rep2":      {"rep2"},
		"staff":     {"staff"},
		"manager":   {"staff"},
		"director":  {"rep", "rep2", "staff"},
		"marketing": {"rep", "rep2", "staff"},
		"admin":     {"rep", "rep2", "staff"},
	}
	for who, want := range tests {
		ds, err := w.e.Deliveries(ctx, w.p[who], id)
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		got := map[string]bool{}
		for _, d := range ds {
			got[d.DeviceID] = true
		}
		if len(got) != len(want) {
			t.Errorf("%s sees deliveries to %v, want %v", who, got, want)
		}
		for _, name := range want {
			if !got[w.p[name].DeviceID] {
				t.Errorf("%s does not see the delivery to %s's device (got %v)", who, name, got)
			}
		}
	}
}
