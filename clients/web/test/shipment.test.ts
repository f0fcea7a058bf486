// The same cases as records/shipment_test.go: the device pre-fills as the Go rule does.
import { create } from "@bufbuild/protobuf";
import { ContactSchema, CustomerSchema, RecordStatus, ShipmentState } from "@fieldsync/client";
import { validate } from "@fieldsync/client/validate";
import { describe, expect, it } from "vitest";
import { MAX_SHIPMENT_ITEMS, shipmentFromCustomer } from "../src/shipment";

describe("shipmentFromCustomer (B3)", () => {
  const director = create(ContactSchema, { name: "Dr. Wang", title: "clinical director", phone: "+86 21 0001" });
  const supervisor = create(ContactSchema, { name: "Li Supervisor", phone: "+86 21 0002" });
  const many = Array.from({ length: MAX_SHIPMENT_ITEMS + 5 }, (_, i) => `M-${String(i).padStart(3, "0")}`);
  const cases = [
    { name: "hospital's first contact", customer: { address: "197 Ruijin Er Rd", contacts: [director] }, used: ["XK-200", "XK-300"], who: ["Dr. Wang", "+86 21 0001"], items: ["XK-200", "XK-300"] },
    { name: "site's supervisor wins over contacts", customer: { address: "Lot 7", contacts: [director], supervisorContact: supervisor }, used: [], who: ["Li Supervisor", "+86 21 0002"], items: [] },
    { name: "unnamed contacts are skipped", customer: { contacts: [create(ContactSchema, { phone: "1" }), director], supervisorContact: create(ContactSchema, { phone: "2" }) }, used: [], who: ["Dr. Wang", "+86 21 0001"], items: [] },
    { name: "no contact", customer: { address: "somewhere" }, used: ["A"], who: ["", ""], items: ["A"] },
    { name: "duplicates and empty ids dropped, order kept", customer: {}, used: ["B", "", "A", "B", "A"], who: ["", ""], items: ["B", "A"] },
    { name: "at most MAX_SHIPMENT_ITEMS", customer: {}, used: many, who: ["", ""], items: many.slice(0, MAX_SHIPMENT_ITEMS) },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const customer = create(CustomerSchema, c.customer);
      const got = shipmentFromCustomer(customer, "cust-1", c.used);
      expect(got).toMatchObject({
        status: RecordStatus.DRAFT, state: ShipmentState.DRAFT, customerId: "cust-1", recipientAddress: customer.address,
        recipientName: c.who[0], recipientPhone: c.who[1],
      });
      expect(got.items.map((i) => [i.productId, i.quantity])).toEqual(c.items.map((p) => [p, 1]));
      expect(validate(got)).toEqual([]); // a draft is valid as pre-filled
    });
  }
});
