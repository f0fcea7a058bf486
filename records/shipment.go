package records

import (
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// MaxShipmentItems is how many items a SampleShipment holds (the items
// field's max_items in records.proto).
const MaxShipmentItems = 100

// ShipmentFromCustomer pre-fills a draft SampleShipment for customer (B3):
// the recipient is the customer's supervisor contact, or else its first
// contact with a name, at the customer's address; the items are
// usedProducts (the products the customer uses, e.g. the consumable models
// of the rep's surgery supports there) once each, in order, without empty
// ids, quantity 1, at most MaxShipmentItems. The caller sets the id and
// writes it; the server fills owner, region and store.
func ShipmentFromCustomer(customer *fieldsyncv1.Customer, customerID string, usedProducts []string) *fieldsyncv1.SampleShipment {
	s := &fieldsyncv1.SampleShipment{
		Status:           fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT,
		State:            fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT,
		CustomerId:       customerID,
		RecipientAddress: customer.GetAddress(),
		Items:            shipmentItems(usedProducts),
	}
	if c := recipient(customer); c != nil {
		s.RecipientName, s.RecipientPhone = c.GetName(), c.GetPhone()
	}
	return s
}

// recipient is who receives a customer's samples: the supervisor contact,
// else the first contact with a name; nil when there is none.
func recipient(customer *fieldsyncv1.Customer) *fieldsyncv1.Contact {
	if c := customer.GetSupervisorContact(); c.GetName() != "" {
		return c
	}
	for _, c := range customer.GetContacts() {
		if c.GetName() != "" {
			return c
		}
	}
	return nil
}

func shipmentItems(products []string) []*fieldsyncv1.ShipmentItem {
	seen := make(map[string]bool, len(products))
	var items []*fieldsyncv1.ShipmentItem
	for _, p := range products {
		if p == "" || seen[p] || len(items) == MaxShipmentItems {
			continue
		}
		seen[p] = true
		items = append(items, &fieldsyncv1.ShipmentItem{ProductId: p, Quantity: 1})
	}
	return items
}
