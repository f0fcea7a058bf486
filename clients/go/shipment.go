package fieldsync

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	rectypes "github.com/fieldsync/fieldsync/records"
)

// Record type names of the sample-shipment helpers.
const (
	shipmentType       = "fieldsync.v1.SampleShipment"
	customerRecordType = "fieldsync.v1.Customer"
	surgerySupportType = "fieldsync.v1.SurgerySupport"
	stockLevelType     = "fieldsync.v1.StockLevel"
)

// DraftShipment writes a new draft SampleShipment for a customer (B3),
// pre-filled from the local store only, so it works offline: the
// recipient and address from the customer, one item per product the
// customer uses: the consumable models of this device's user's surgery
// supports there and the products of its stock levels (see
// records.ShipmentFromCustomer). The draft goes through Put (local view
// and outbox) and is returned with its new id.
//
// Errors: ErrNotOnDevice when the device does not hold the customer,
// ErrInvalidID, or a store error.
func (c *Client) DraftShipment(ctx context.Context, customerID string) (string, *fieldsyncv1.SampleShipment, error) {
	customer := &fieldsyncv1.Customer{}
	found, err := c.Get(ctx, customerRecordType, customerID, customer)
	if err != nil {
		return "", nil, fmt.Errorf("draft shipment: %w", err)
	}
	if !found {
		return "", nil, fmt.Errorf("draft shipment: customer %q: %w", customerID, ErrNotOnDevice)
	}
	used, err := c.usedProducts(ctx, customerID)
	if err != nil {
		return "", nil, fmt.Errorf("draft shipment: %w", err)
	}
	s := rectypes.ShipmentFromCustomer(customer, customerID, used)
	id := c.NewID()
	if err := c.Put(ctx, id, s); err != nil {
		return "", nil, fmt.Errorf("draft shipment: %w", err)
	}
	return id, s, nil
}

// usedProducts lists the products a customer uses, as the device knows
// them: the consumable models of the surgery supports at that hospital that
// this device's user wrote (or wrote here before the first sync named the
// user), then the products of the stock levels of that terminal, each in
// record-id order.
func (c *Client) usedProducts(ctx context.Context, customerID string) ([]string, error) {
	me, err := c.Identity(ctx)
	if err != nil {
		return nil, err
	}
	supports, err := c.List(ctx, surgerySupportType)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range supports {
		s := r.Value.(*fieldsyncv1.SurgerySupport)
		if s.GetHospitalId() == customerID && (s.GetOwnerUserId() == "" || s.GetOwnerUserId() == me.UserID) {
			out = append(out, s.GetConsumableModels()...)
		}
	}
	stock, err := c.List(ctx, stockLevelType)
	if err != nil {
		return nil, err
	}
	for _, r := range stock {
		if s := r.Value.(*fieldsyncv1.StockLevel); s.GetTerminalId() == customerID {
			out = append(out, s.GetProductId())
		}
	}
	return out, nil
}

// RequestShipment asks for a sample shipment: it writes state REQUESTED,
// status SUBMITTED (freezing the recipient and items) and the request
// time, locally and to the outbox. The server refuses a request without a
// recipient address or items, naming the field (see Rejections after
// Sync).
//
// Errors: ErrNotOnDevice when the device does not hold the shipment,
// ErrInvalidID, or a store error.
func (c *Client) RequestShipment(ctx context.Context, id string) error {
	found, err := c.Get(ctx, shipmentType, id, &fieldsyncv1.SampleShipment{})
	if err != nil {
		return fmt.Errorf("request shipment: %w", err)
	}
	if !found {
		return fmt.Errorf("request shipment %q: %w", id, ErrNotOnDevice)
	}
	s := &fieldsyncv1.SampleShipment{
		Status:        fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED,
		State:         fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED,
		RequestedTime: timestamppb.Now(),
	}
	return c.Put(ctx, id, s, "status", "state", "requested_time")
}
