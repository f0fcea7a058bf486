/**
 * Sample shipment pre-fill (B3): the same rule as records.ShipmentFromCustomer
 * in Go — the recipient is the customer's supervisor contact, else its first
 * contact with a name, at the customer's address; the items are the products
 * the customer uses, once each, in order, quantity 1, at most 100.
 */
import { create } from "@bufbuild/protobuf";
import {
  RecordStatus, SampleShipmentSchema, ShipmentItemSchema, ShipmentState, type Contact, type Customer, type SampleShipment,
} from "@fieldsync/client";

/** How many items a SampleShipment holds (records.proto max_items). */
export const MAX_SHIPMENT_ITEMS = 100;

/** A draft SampleShipment for customer; the caller sets the id and writes it (the server fills owner, region and store). */
export function shipmentFromCustomer(customer: Customer, customerId: string, usedProducts: readonly string[]): SampleShipment {
  const c = recipient(customer);
  const seen = new Set<string>();
  const items = [];
  for (const p of usedProducts) {
    if (p === "" || seen.has(p) || items.length === MAX_SHIPMENT_ITEMS) continue;
    seen.add(p);
    items.push(create(ShipmentItemSchema, { productId: p, quantity: 1 }));
  }
  return create(SampleShipmentSchema, {
    status: RecordStatus.DRAFT, state: ShipmentState.DRAFT, customerId, recipientAddress: customer.address, items,
    recipientName: c?.name ?? "", recipientPhone: c?.phone ?? "",
  });
}

function recipient(customer: Customer): Contact | undefined {
  if (customer.supervisorContact?.name) return customer.supervisorContact;
  return customer.contacts.find((c) => c.name !== "");
}
