// The printable-text rules of text.proto (printable_name, printable_text),
// checked by the SDK's local validation as the server checks them
// (e2e/record_text_test.go pushes the same inputs): refused with the same
// rule and the server's words, offline, and a record the server stored
// before the rules can still be edited in its other fields.
import { create, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CreateRegionRequestSchema, CreateStoreRequestSchema, CreateUserRequestSchema } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Role } from "../src/gen/fieldsync/v1/options_pb.js";
import { EnrollRequestSchema } from "../src/gen/fieldsync/v1/identity_pb.js";
import {
  CampaignMaterialSchema,
  Client,
  CustomerSchema,
  DiagnosisSchema,
  FieldsyncError,
  IdentityService,
  MutationOutcome,
  OpportunitySchema,
  QuoteSchema,
  RecordSchema,
  SampleShipmentSchema,
  SurgerySupportSchema,
  SyncService,
  VisitSchema,
} from "../src/index.js";
import { validate, validateChange } from "../src/validate.js";
import { fakeClient, memoryStorage } from "./helpers.js";

const NAME = "must contain a non-space character and no control characters";
const TEXT = "must contain no control characters other than tabs and line breaks";

const bad = {
  printable_name: ["North\x1b[2J", "Acme\nlevel=ERROR", "A\tB", "\x7f", "Acme\u0085", "   ", "Acme\r", "invoice\u202Efdp.exe", "a\u2066b\u2069", "one\u2028two",
    // blank: White_Space and invisible format characters only
    "\u3000", "\u3000\u3000", "\u00a0", " \u2009\u200a", "\u202f\u205f", "\u1680", "\u200b\u200c\u200d", "\u2060\ufeff", "\u00ad", "\u180e", "\u200e\u200f", "\u3164\u3164", "\u115f\u1160\uffa0", "\u2800", "\ufe0f\u{e0041}",
    // the rest of Default_Ignorable_Code_Point: U+FFF0–FFF8, U+E0080–E0FFF
    "\ufff0\ufff8", "\u{e0080}\u{e0fff}"],
  printable_text: ["first\x1b[31m", "a\x00b", "bell\x07", "\x7f", "next line\u0085", "form\x0cfeed", "v\x0btab", "total \u202E0001", "x\u2067y"],
};
const good = {
  printable_name: ["华东区 第二店", "Zhang Wei", "Ñandú – Süd", "", "שלום\u200F Acme", "张\u3000伟", "\u3000华东区\u3000", "Acme\u00a0GmbH", "\u200bx\ufeff", "\u3164老\u3164"],
  printable_text: ["line one\nline two\r\n\tindented", "   ", "华东区\n第二店", "", "one\u2028two"],
};

const many = Array.from({ length: 101 }, (_, i) => "m" + String.fromCharCode(97 + (i % 26)) + String.fromCharCode(97 + Math.floor(i / 26)));

type Case = [schema: DescMessage, path: string, rule: keyof typeof bad, list: boolean, value: (s: string) => Message];
const cases: Case[] = [
  [CustomerSchema, "name", "printable_name", false, (s) => create(CustomerSchema, { name: s })],
  [CustomerSchema, "address", "printable_text", false, (s) => create(CustomerSchema, { address: s })],
  [CustomerSchema, "contacts[0].phone", "printable_name", false, (s) => create(CustomerSchema, { contacts: [{ name: "Li Wei", phone: s }] })],
  [VisitSchema, "notes", "printable_text", false, (s) => create(VisitSchema, { notes: s })],
  [OpportunitySchema, "title", "printable_name", false, (s) => create(OpportunitySchema, { title: s })],
  [SampleShipmentSchema, "recipient_name", "printable_name", false, (s) => create(SampleShipmentSchema, { recipientName: s })],
  [SurgerySupportSchema, "consumable_models[1]", "printable_name", true, (s) => create(SurgerySupportSchema, { consumableModels: ["XK-200", s] })],
  [DiagnosisSchema, "vehicle_model", "printable_name", false, (s) => create(DiagnosisSchema, { vehicleModel: s })],
  [DiagnosisSchema, "fault_symptoms", "printable_text", false, (s) => create(DiagnosisSchema, { faultSymptoms: s })],
  [QuoteSchema, "work_items[0]", "printable_name", true, (s) => create(QuoteSchema, { workItems: [s] })],
  [CampaignMaterialSchema, "body", "printable_text", false, (s) => create(CampaignMaterialSchema, { body: s })],
];

describe("printable text", () => {
  it.each(cases)("%s %s: %s", (schema, path, rule, list, value) => {
    for (const s of bad[rule]) {
      const vs = validate(value(s), schema);
      expect(vs.map((v) => [v.field, v.ruleId, v.text]), JSON.stringify(s)).toEqual([[path, rule, `${path}: ${rule === "printable_name" ? NAME : TEXT}`]]);
    }
    for (const s of good[rule]) {
      if (list && s === "") continue; // an item is never empty (min_len)
      expect(validate(value(s), schema), JSON.stringify(s)).toEqual([]);
    }
  });

  it("holds the names an admin or a device gives to the same rule", () => {
    const named: [DescMessage, string, (s: string) => Message][] = [
      [CreateRegionRequestSchema, "name", (s) => create(CreateRegionRequestSchema, { name: s })],
      [CreateStoreRequestSchema, "name", (s) => create(CreateStoreRequestSchema, { name: s, regionId: "r1" })],
      [CreateUserRequestSchema, "display_name", (s) => create(CreateUserRequestSchema, { displayName: s, role: Role.REP })],
      [EnrollRequestSchema, "device_name", (s) => create(EnrollRequestSchema, { enrollmentCode: "fse_12345678", deviceName: s })],
    ];
    for (const [schema, field, value] of named) {
      for (const s of bad.printable_name) expect(validate(value(s), schema).map((v) => [v.field, v.ruleId])).toEqual([[field, "printable_name"]]);
      for (const s of good.printable_name.filter((s) => s !== "")) expect(validate(value(s), schema)).toEqual([]);
      expect(validate(value(""), schema).map((v) => v.ruleId)).toEqual(["string.min_len"]); // a name is not optional here
    }
  });

  // The cases of syncengine's TestKeptValuesOnlyJudgesAListByTheElementsItChanges:
  // a list item the server stored before the rules does not refuse a write
  // that keeps it (a set-union list cannot lose it); an item added or
  // changed, or a rule of the list itself, is judged.
  it.each([
    ["union add keeps an old item", create(SurgerySupportSchema, { consumableModels: ["XK\r"] }), create(SurgerySupportSchema, { consumableModels: ["XK\r", "AB-1"] }), true],
    ["old item moved", create(SurgerySupportSchema, { consumableModels: ["AB-1", "XK\r"] }), create(SurgerySupportSchema, { consumableModels: ["XK\r", "CD-2"] }), true],
    ["an item added", create(SurgerySupportSchema, { consumableModels: ["AB-1"] }), create(SurgerySupportSchema, { consumableModels: ["AB-1", "XK\r"] }), false],
    ["an old item and an item added", create(SurgerySupportSchema, { consumableModels: ["XK\r"] }), create(SurgerySupportSchema, { consumableModels: ["XK\r", "YZ\n"] }), false],
    ["an item changed", create(SurgerySupportSchema, { consumableModels: ["XK\r"] }), create(SurgerySupportSchema, { consumableModels: ["XK\r\r"] }), false],
    ["a kept message item", create(CustomerSchema, { contacts: [{ name: "Li", phone: "1\n" }] }),
      create(CustomerSchema, { contacts: [{ name: "Li", phone: "1\n" }, { name: "Wang", phone: "2" }] }), true],
    ["a message item changed deeper", create(CustomerSchema, { contacts: [{ name: "Li", phone: "1\n" }] }),
      create(CustomerSchema, { contacts: [{ name: "Li Wei", phone: "1\n" }] }), false],
    ["a list rule", create(SurgerySupportSchema, { consumableModels: many.slice(0, 100) }), create(SurgerySupportSchema, { consumableModels: many }), false],
    ["a field kept whole", create(CustomerSchema, { name: "A\nB" }), create(CustomerSchema, { name: "A\nB", address: "x" }), true],
    ["a field changed", create(CustomerSchema, { name: "A\nB" }), create(CustomerSchema, { name: "A\nC" }), false],
  ] as [string, Message, Message, boolean][])("validateChange: %s", (_name, base, next, excused) => {
    expect(validate(next).length, "next is valid; the case tests nothing").toBeGreaterThan(0);
    expect(validateChange(next, base).length === 0).toBe(excused);
  });

  it("refuses a bad name offline, queueing nothing", async () => {
    const c = await Client.open({ storage: await memoryStorage() });
    const err = await c.put(c.newId(), create(CustomerSchema, { name: "Acme\x1b[2J" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FieldsyncError);
    expect(err).toMatchObject({ code: "invalid", violations: [{ field: "name", ruleId: "printable_name" }] });
    expect((await c.status()).outboxDepth).toBe(0);
  });

  it("edits a record the server stored before the rules, leaving its old name alone", async () => {
    const legacy = "Acme\nlevel=ERROR";
    const record = create(RecordSchema, {
      recordType: CustomerSchema.typeName, id: "cust1", version: 1n, hlc: 1n << 16n,
      value: create(AnySchema, { typeUrl: "type.googleapis.com/" + CustomerSchema.typeName, value: toBinary(CustomerSchema, create(CustomerSchema, { name: legacy })) }),
    });
    const routes = (r: ConnectRouter) => {
      r.service(IdentityService, { whoAmI: () => ({ deviceId: "d1", userId: "u1", tenantId: "t1" }) });
      r.service(SyncService, {
        push: (req) => ({
          results: req.mutations.map((m) => ({ seq: m.seq, recordId: m.recordId, outcome: MutationOutcome.APPLIED, appliedHlc: m.hlc })),
          lastSeq: req.mutations[req.mutations.length - 1].seq, serverHlc: 1n,
        }),
        pull: (req) => (req.cursor === "" ? { records: [record], nextCursor: "c1" } : { nextCursor: req.cursor }),
        ack: () => ({}),
        async *watch(_req, ctx) {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        },
      });
    };
    const c = await fakeClient(routes);
    await c.sync();
    expect((await c.get(CustomerSchema, "cust1"))?.name).toBe(legacy);
    await c.put("cust1", create(CustomerSchema, { address: "197 Ruijin Er Rd\nShanghai" }), ["address"]);
    expect(await c.get(CustomerSchema, "cust1")).toMatchObject({ name: legacy, address: "197 Ruijin Er Rd\nShanghai" });
    await expect(c.put("cust1", create(CustomerSchema, { name: "Acme\nlevel=INFO" }), ["name"])).rejects.toMatchObject({
      code: "invalid", violations: [{ field: "name", ruleId: "printable_name" }],
    });
    await c.put("cust1", create(CustomerSchema, { name: "Acme 医疗" }), ["name"]);
    expect((await c.get(CustomerSchema, "cust1"))?.name).toBe("Acme 医疗");
    c.close();
  });
});
