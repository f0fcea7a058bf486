package demo

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// RecordWriter writes records as the server (the sync engine implements it).
type RecordWriter interface {
	ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error)
}

// demoRecord is one record the demo starts with; ids are fixed, so a
// seeding cut short and run again writes the same records.
type demoRecord struct {
	id    string
	value proto.Message
}

// MetaStore keeps small markers (storage/sqlite implements it).
type MetaStore interface {
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// metaRecordsSeeded holds the tenant whose demo records were written.
const metaRecordsSeeded = "demo_records_seeded"

// SeedRecords writes the demo's customers (hospitals for the reps, a site,
// store customers), a stock level and a piece of campaign material, once
// per demo tenant: later starts leave the records, and any edits devices
// made to them, alone.
func SeedRecords(ctx context.Context, m MetaStore, w RecordWriter, c *Credentials) error {
	done, err := m.Meta(ctx, metaRecordsSeeded)
	if err != nil || done == c.TenantID {
		return err
	}
	if err := writeRecords(ctx, w, c); err != nil {
		return err
	}
	return m.SetMeta(ctx, metaRecordsSeeded, c.TenantID)
}

// writeRecords writes every demo record as the server.
func writeRecords(ctx context.Context, w RecordWriter, c *Credentials) error {
	rep1, _ := c.User("rep")
	rep2 := rep1
	for _, u := range c.Users {
		if u.Role == "rep" && u.UserID != rep1.UserID {
			rep2 = u
		}
	}
	marketing, _ := c.User("marketing")
	for _, r := range demoRecords(c, rep1.UserID, rep2.UserID, marketing.UserID) {
		rt, _ := syncengine.DefaultRegistry().Lookup(string(r.value.ProtoReflect().Descriptor().FullName()))
		if _, err := w.ServerWrite(ctx, c.TenantID, string(rt.Name), r.id, r.value, setFields(r.value)); err != nil {
			return err
		}
	}
	return nil
}

// setFields lists the fields a value sets.
func setFields(m proto.Message) []string {
	var out []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		out = append(out, string(fd.Name()))
		return true
	})
	return out
}

func demoRecords(c *Credentials, rep1, rep2, marketing string) []demoRecord {
	hospital := fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL
	return []demoRecord{
		{"demo-ruijin", &fieldsyncv1.Customer{Name: "Ruijin Hospital", Kind: hospital, AssignedRepId: rep1, RegionId: c.RegionID,
			Address: "197 Ruijin Er Rd, Shanghai", Contacts: []*fieldsyncv1.Contact{{Name: "Dr. Zhou", Title: "Clinical director, orthopaedics"}}}},
		{"demo-huashan", &fieldsyncv1.Customer{Name: "Huashan Hospital", Kind: hospital, AssignedRepId: rep1, RegionId: c.RegionID,
			Contacts: []*fieldsyncv1.Contact{{Name: "Dr. Qian", Title: "Head of procurement"}}}},
		{"demo-zhongshan", &fieldsyncv1.Customer{Name: "Zhongshan Hospital", Kind: hospital, AssignedRepId: rep2, RegionId: c.RegionID}},
		{"demo-site-pudong", &fieldsyncv1.Customer{Name: "Pudong Riverside Tower (site)", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_SITE,
			AssignedRepId: rep2, RegionId: c.RegionID, SupervisorContact: &fieldsyncv1.Contact{Name: "Mr. Wu", Title: "Supervising engineer", Phone: "+86 21 5555 0100"},
			LatestMilestone: "Waterproofing layer accepted"}},
		{"demo-huang", &fieldsyncv1.Customer{Name: "Mr. Huang", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_STORE_CUSTOMER,
			StoreId: c.StoreID, RegionId: c.RegionID, VehicleModel: "Audi A4L 2019"}},
		{"demo-lin", &fieldsyncv1.Customer{Name: "Ms. Lin", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_STORE_CUSTOMER,
			StoreId: c.StoreID, RegionId: c.RegionID, VehicleModel: "BYD Han EV"}},
		{"demo-stock-ruijin-xk200", &fieldsyncv1.StockLevel{RegionId: c.RegionID, TerminalId: "demo-ruijin", ProductId: "XK-200 bone screw",
			OnHand: 12, SafetyStock: 20, HistoricalPurchasePriceCents: 128000, AgreementPriceCents: 119000, Currency: "CNY"}},
		{"demo-campaign-spring", &fieldsyncv1.CampaignMaterial{OwnerUserId: marketing, RegionId: c.RegionID,
			Title: "Spring tiered rebate", Body: "Orders above 50 units this quarter earn the new tiered rebate.",
			ReleasedTime: timestamppb.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))}},
	}
}
