package syncengine_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	denied = fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED
)

func TestARecipientMayAcknowledgeButNotDeleteAnAlert(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if err := w.raiseAlert(ctx, &fieldsyncv1.Alert{RecipientUserId: w.p["manager"].UserID, DedupKey: "a1", Title: "two conclusions"}); err != nil {
		t.Fatal(err)
	}
	id := records.AlertID(w.tenant, "a1")
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{AcknowledgedTime: timestamppb.Now()}, "acknowledged_time"))[0]; r.Outcome != applied {
		t.Fatalf("acknowledge: %v", r)
	}
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{Title: "nothing"}, "title"))[0]; r.Outcome != rejected {
		t.Fatalf("rewrite the title: %v", r)
	}
	if r := w.push("manager", w.del("manager", "fieldsync.v1.Alert", id))[0]; r.Outcome != rejected || r.RejectCode != denied {
		t.Fatalf("delete by the recipient: %v", r)
	}
	if r := w.push("admin", w.del("admin", "fieldsync.v1.Alert", id))[0]; r.Outcome != rejected || r.RejectCode != denied {
		t.Fatalf("delete by an admin's device: %v", r)
	}
	recs, _ := w.pullAll("manager", "")
	if recs[id] == nil || recs[id].Removed != 0 {
		t.Fatalf("the alert after the refused deletes: %v", recs[id])
	}
}

// A record the caller may not read is refused alike whatever its type: the
// answer names neither the type nor anything else about it.
func TestAHiddenRecordIsRefusedWithoutNamingItsType(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	diag, visit := newID(), newID()
	w.push("staff", w.mut("staff", diag, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}, "vehicle_model"))
	w.push("rep2", w.mut("rep2", visit, &fieldsyncv1.Visit{Notes: "mine"}, "notes"))
	other := w.push("rep", w.mut("rep", diag, &fieldsyncv1.Visit{Notes: "x"}, "notes"))[0]
	same := w.push("rep", w.mut("rep", visit, &fieldsyncv1.Visit{Notes: "x"}, "notes"))[0]
	for _, r := range []*fieldsyncv1.MutationResult{other, same} {
		if r.Outcome != rejected || strings.Contains(r.Reason, "Diagnosis") || strings.Contains(r.Reason, "type") {
			t.Errorf("result = %v", r)
		}
	}
	if strings.ReplaceAll(other.Reason, diag, "ID") != strings.ReplaceAll(same.Reason, visit, "ID") || other.RejectCode != same.RejectCode {
		t.Errorf("a hidden record of another type answers %q (%v), of the same type %q (%v)", other.Reason, other.RejectCode, same.Reason, same.RejectCode)
	}
}

// TestTheServerPlacesEveryRecord: scope fields come from the caller and
// the record referred to (a visit's customer), never from the client's
// word. Each case is pushed in a fresh world; want is the stored place, or
// the reject code and the field the refusal names.
func TestTheServerPlacesEveryRecord(t *testing.T) {
	t.Parallel()
	type world2 struct {
		*world
		region2, shop2, shop1b, rep3, customer, storeCustomer, foreignCustomer string
	}
	setup := func(t *testing.T) *world2 {
		w := &world2{world: newWorld(t)}
		ctx := context.Background()
		r2, err := w.db.CreateRegion(ctx, w.tenant, "R2")
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := w.db.CreateStore(ctx, w.tenant, r2.ID, "S2")
		s1b, _ := w.db.CreateStore(ctx, w.tenant, w.region, "S1b")
		u := &syncengine.User{TenantID: w.tenant, DisplayName: "rep3", Role: fieldsyncv1.Role_ROLE_REP, RegionID: r2.ID}
		if err := w.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.region2, w.shop2, w.shop1b, w.rep3 = r2.ID, s2.ID, s1b.ID, u.ID
		w.customer, w.storeCustomer, w.foreignCustomer = newID(), newID(), newID()
		mustApply(t, w.push("rep", w.mut("rep", w.customer, &fieldsyncv1.Customer{Name: "Ruijin"}, "name"))[0])
		mustApply(t, w.push("director", w.mut("director", w.storeCustomer,
			&fieldsyncv1.Customer{Name: "car owner", StoreId: w.shop, AssignedRepId: w.p["rep"].UserID}, "name", "store_id", "assigned_rep_id"))[0])
		mustApply(t, w.push("admin", w.mut("admin", w.foreignCustomer,
			&fieldsyncv1.Customer{Name: "far away", StoreId: w.shop2, RegionId: w.region2}, "name", "store_id", "region_id"))[0])
		return w
	}
	key := func(w *world2, perm string) {
		w.p["key"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1", Permissions: []string{perm}}
	}
	type want struct {
		code                 fieldsyncv1.RejectCode
		field                string
		store, region, owner string // "rep", "region2", … name world fields; "" = empty
	}
	tests := []struct {
		name string
		do   func(w *world2) *fieldsyncv1.MutationResult
		want want
	}{
		{"a rep's visit lies in the rep's region", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "n"}, "notes"))[0]
		}, want{region: "region", owner: "rep"}},
		{"a rep cannot file a visit under a store", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{StoreId: w.shop}, "store_id"))[0]
		}, want{code: denied, field: "store_id"}},
		{"a rep cannot file a visit in another region", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{RegionId: w.region2}, "region_id"))[0]
		}, want{code: denied, field: "region_id"}},
		{"a rep cannot move its visit to a region that does not exist", func(w *world2) *fieldsyncv1.MutationResult {
			id := newID()
			mustApply(t, w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "n"}, "notes"))[0])
			return w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{RegionId: "nowhere"}, "region_id"))[0]
		}, want{code: denied, field: "region_id"}},
		{"a rep cannot take its visit out of every region", func(w *world2) *fieldsyncv1.MutationResult {
			id := newID()
			mustApply(t, w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "n"}, "notes"))[0])
			return w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{}, "region_id"))[0]
		}, want{code: denied, field: "region_id"}},
		{"a visit takes its customer's store and region", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{CustomerId: w.storeCustomer}, "customer_id"))[0]
		}, want{store: "shop", region: "region", owner: "rep"}},
		{"a visit naming another store than its customer's is refused", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{CustomerId: w.storeCustomer, StoreId: w.shop1b}, "customer_id", "store_id"))[0]
		}, want{code: denied, field: "store_id"}},
		{"a visit naming another region than its customer's is refused", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("director", w.mut("director", newID(), &fieldsyncv1.Visit{CustomerId: w.customer, RegionId: w.region2}, "customer_id", "region_id"))[0]
		}, want{code: denied, field: "region_id"}},
		{"store staff cannot file a diagnosis under another store", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("staff", w.mut("staff", newID(), &fieldsyncv1.Diagnosis{StoreId: w.shop1b}, "store_id"))[0]
		}, want{code: denied, field: "store_id"}},
		{"a diagnosis of a customer the staff cannot read stays in the staff's store", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("staff", w.mut("staff", newID(), &fieldsyncv1.Diagnosis{CustomerId: w.foreignCustomer}, "customer_id"))[0]
		}, want{store: "shop", region: "region", owner: "staff"}},
		{"store staff cannot move a diagnosis out of the store", func(w *world2) *fieldsyncv1.MutationResult {
			id := newID()
			mustApply(t, w.push("staff", w.mut("staff", id, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}, "vehicle_model"))[0])
			return w.push("staff", w.mut("staff", id, &fieldsyncv1.Diagnosis{}, "store_id"))[0]
		}, want{code: denied, field: "store_id"}},
		{"a director places a customer in a store of the region", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("director", w.mut("director", newID(), &fieldsyncv1.Customer{StoreId: w.shop1b}, "store_id"))[0]
		}, want{store: "shop1b", region: "region", owner: "director"}},
		{"a director cannot place a customer in another region's store", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("director", w.mut("director", newID(), &fieldsyncv1.Customer{StoreId: w.shop2}, "store_id"))[0]
		}, want{code: denied, field: "store_id"}},
		{"a director cannot assign a customer to another region's rep", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("director", w.mut("director", newID(), &fieldsyncv1.Customer{AssignedRepId: w.rep3}, "assigned_rep_id"))[0]
		}, want{code: denied, field: "assigned_rep_id"}},
		{"marketing cannot address material to a region that does not exist", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("marketing", w.mut("marketing", newID(), &fieldsyncv1.CampaignMaterial{RegionId: "nowhere"}, "region_id"))[0]
		}, want{code: denied, field: "region_id"}},
		{"an admin's store must exist", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("admin", w.mut("admin", newID(), &fieldsyncv1.Customer{StoreId: "nope"}, "store_id"))[0]
		}, want{code: fieldsyncv1.RejectCode_REJECT_CODE_INVALID, field: "store_id"}},
		{"an admin's store must lie in the record's region", func(w *world2) *fieldsyncv1.MutationResult {
			return w.push("admin", w.mut("admin", newID(), &fieldsyncv1.Customer{StoreId: w.shop2, RegionId: w.region}, "store_id", "region_id"))[0]
		}, want{code: fieldsyncv1.RejectCode_REJECT_CODE_INVALID, field: "region_id"}},
		{"a key's region must exist", func(w *world2) *fieldsyncv1.MutationResult {
			key(w, "stock:write")
			return w.push("key", w.mut("key", newID(), &fieldsyncv1.StockLevel{RegionId: "nope", TerminalId: "t", ProductId: "p"}, "region_id", "terminal_id", "product_id"))[0]
		}, want{code: fieldsyncv1.RejectCode_REJECT_CODE_INVALID, field: "region_id"}},
		{"a key's assigned rep must exist", func(w *world2) *fieldsyncv1.MutationResult {
			key(w, "customers:write")
			return w.push("key", w.mut("key", newID(), &fieldsyncv1.Customer{AssignedRepId: "ghost"}, "assigned_rep_id"))[0]
		}, want{code: fieldsyncv1.RejectCode_REJECT_CODE_INVALID, field: "assigned_rep_id"}},
		{"a key's rating takes its quote's store", func(w *world2) *fieldsyncv1.MutationResult {
			q := newID()
			mustApply(t, w.push("staff", w.mut("staff", q, &fieldsyncv1.Quote{Currency: "CNY"}, "currency"))[0])
			key(w, "ratings:write")
			return w.push("key", w.mut("key", newID(), &fieldsyncv1.SatisfactionRating{QuoteId: q, Score: 5}, "quote_id", "score"))[0]
		}, want{store: "shop", region: "region"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := setup(t)
			r := tt.do(w)
			if tt.want.code != 0 {
				if r.Outcome != rejected || r.RejectCode != tt.want.code || !strings.HasPrefix(r.Reason, tt.want.field+":") {
					t.Fatalf("result = %v, want %v naming %s", r, tt.want.code, tt.want.field)
				}
				return
			}
			mustApply(t, r)
			recs, err := w.db.GetRecords(context.Background(), w.tenant, []string{r.RecordId})
			if err != nil {
				t.Fatal(err)
			}
			name := map[string]string{"": "", "shop": w.shop, "shop1b": w.shop1b, "region": w.region, "region2": w.region2}
			for who, p := range w.p {
				name[who] = p.UserID
			}
			wantSc := syncengine.Scope{Owner: name[tt.want.owner], Store: name[tt.want.store], Region: name[tt.want.region]}
			if got := recs[r.RecordId].Scope; got != wantSc {
				t.Fatalf("stored at %+v, want %+v", got, wantSc)
			}
		})
	}
}

func mustApply(t *testing.T, r *fieldsyncv1.MutationResult) {
	t.Helper()
	if r.Outcome == rejected {
		t.Fatalf("rejected: %v", r)
	}
}
