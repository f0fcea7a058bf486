package records_test

import (
	"fmt"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
)

func items(products ...string) []*fieldsyncv1.ShipmentItem {
	var out []*fieldsyncv1.ShipmentItem
	for _, p := range products {
		out = append(out, &fieldsyncv1.ShipmentItem{ProductId: p, Quantity: 1})
	}
	return out
}

func TestShipmentFromCustomerPrefillsRecipientAndItems(t *testing.T) {
	t.Parallel()
	director := &fieldsyncv1.Contact{Name: "Dr. Wang", Title: "clinical director", Phone: "+86 21 0001"}
	supervisor := &fieldsyncv1.Contact{Name: "Li Supervisor", Phone: "+86 21 0002"}
	many := make([]string, records.MaxShipmentItems+5)
	for i := range many {
		many[i] = fmt.Sprintf("M-%03d", i)
	}
	cases := []struct {
		name                string
		customer            *fieldsyncv1.Customer
		used                []string
		wantName, wantPhone string
		wantItems           []*fieldsyncv1.ShipmentItem
	}{
		{"hospital's first contact", &fieldsyncv1.Customer{Address: "197 Ruijin Er Rd", Contacts: []*fieldsyncv1.Contact{director}},
			[]string{"XK-200", "XK-300"}, "Dr. Wang", "+86 21 0001", items("XK-200", "XK-300")},
		{"site's supervisor wins over contacts", &fieldsyncv1.Customer{Address: "Lot 7", Contacts: []*fieldsyncv1.Contact{director}, SupervisorContact: supervisor},
			nil, "Li Supervisor", "+86 21 0002", nil},
		{"unnamed contacts are skipped", &fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{{Phone: "1"}, director}, SupervisorContact: &fieldsyncv1.Contact{Phone: "2"}},
			nil, "Dr. Wang", "+86 21 0001", nil},
		{"no contact", &fieldsyncv1.Customer{Address: "somewhere"}, []string{"A"}, "", "", items("A")},
		{"duplicates and empty ids dropped, order kept", &fieldsyncv1.Customer{}, []string{"B", "", "A", "B", "A"}, "", "", items("B", "A")},
		{"at most MaxShipmentItems", &fieldsyncv1.Customer{}, many, "", "", items(many[:records.MaxShipmentItems]...)},
		{"nil customer", nil, []string{"A"}, "", "", items("A")},
	}
	for _, c := range cases {
		got := records.ShipmentFromCustomer(c.customer, "cust-1", c.used)
		want := &fieldsyncv1.SampleShipment{
			Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT,
			CustomerId: "cust-1", RecipientName: c.wantName, RecipientPhone: c.wantPhone,
			RecipientAddress: c.customer.GetAddress(), Items: c.wantItems,
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
	}
}

// A draft pre-filled from any valid customer is itself valid, and becomes
// a valid request once it has an address and an item.
func TestShipmentFromCustomerIsValid(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	customer := &fieldsyncv1.Customer{Address: long(500), SupervisorContact: &fieldsyncv1.Contact{Name: "x" + long(199), Phone: long(50)}}
	s := records.ShipmentFromCustomer(customer, "c1", []string{"XK-200"})
	if err := v.Validate(s); err != nil {
		t.Fatalf("draft: %v", err)
	}
	s.Status, s.State = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED
	if err := v.Validate(s); err != nil {
		t.Fatalf("requested: %v", err)
	}
}
