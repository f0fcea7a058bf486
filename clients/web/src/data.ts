/**
 * What the screens read: the device's local view of every record type a
 * field screen shows, and Today's lists (B2) computed from it — all local,
 * so every screen works offline.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AlertSchema, CampaignMaterialSchema, CommitmentSchema, CommitmentState, CustomerSchema, DiagnosisSchema, OpportunitySchema,
  OpportunityStage, QuoteSchema, SampleShipmentSchema, StockLevelSchema, SurgerySupportSchema, VisitSchema,
  type Alert, type CampaignMaterial, type Client, type Commitment, type Customer, type Diagnosis, type LocalRecord, type Opportunity,
  RowState, type Quote, type SampleShipment, type StockLevel, type Storage, type StoreTx, type SurgerySupport, type Visit,
} from "@fieldsync/client";
import { pick, type Want } from "./wire";

/** The local records the field screens use. */
export interface Data {
  customers: LocalRecord<Customer>[];
  visits: LocalRecord<Visit>[];
  commitments: LocalRecord<Commitment>[];
  opportunities: LocalRecord<Opportunity>[];
  stock: LocalRecord<StockLevel>[];
  alerts: LocalRecord<Alert>[];
  surgeries: LocalRecord<SurgerySupport>[];
  diagnoses: LocalRecord<Diagnosis>[];
  quotes: LocalRecord<Quote>[];
  materials: LocalRecord<CampaignMaterial>[];
  shipments: LocalRecord<SampleShipment>[];
}

/** Reads the local view of every type the screens show. */
export async function loadData(client: Client): Promise<Data> {
  const [customers, visits, commitments, opportunities, stock, alerts, surgeries, diagnoses, quotes, materials, shipments] = await Promise.all([
    client.list(CustomerSchema), client.list(VisitSchema), client.list(CommitmentSchema), client.list(OpportunitySchema),
    client.list(StockLevelSchema), client.list(AlertSchema), client.list(SurgerySupportSchema), client.list(DiagnosisSchema),
    client.list(QuoteSchema), client.list(CampaignMaterialSchema), client.list(SampleShipmentSchema),
  ]);
  return { customers, visits, commitments, opportunities, stock, alerts, surgeries, diagnoses, quotes, materials, shipments };
}

/** The number of records in data. */
export function recordCount(d: Data): number {
  return Object.values(d).reduce((n, l: unknown[]) => n + l.length, 0);
}

/** A timestamp as a Date; undefined when unset. */
export function tsDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export { computeToday, type Today, type TodayInputs, type TodayItem } from "./todaycore";
import type { TodayInputs } from "./todaycore";

/** Today's inputs from decoded records (what loadTodayInputs reads from the store's bytes). */
export function todayInputsFromData(d: Data): TodayInputs {
  const ms = (ts: Timestamp | undefined) => tsDate(ts)?.getTime();
  return {
    commitments: d.commitments.map(({ id, value: c }) => ({ id, customerId: c.customerId, description: c.description, due: ms(c.dueTime), state: c.state })),
    visits: d.visits.map(({ id, value: v }) => ({ id, customerId: v.customerId, followUp: v.followUpCommitments, next: ms(v.nextAppointmentTime) })),
    opportunities: d.opportunities.map(({ id, value: o }) => ({ id, customerId: o.customerId, title: o.title, stage: o.stage, due: ms(o.nextActionDueTime) })),
    stock: d.stock.map(({ id, value: s }) => ({ id, terminalId: s.terminalId, productId: s.productId, onHand: Number(s.onHand), safety: Number(s.safetyStock) })),
    alertsUnacknowledged: d.alerts.filter((a) => !a.value.acknowledgedTime).length,
    customerNames: new Map(d.customers.map((c) => [c.id, c.value.name])),
    records: recordCount(d),
  };
}

/** The stored fields Today reads, by record type: field number → how to read it (records.proto). */
export const TODAY_FIELDS: Record<string, Record<number, Want>> = {
  [CommitmentSchema.typeName]: { 4: "str", 6: "str", 7: "ts", 8: "int" },
  [VisitSchema.typeName]: { 5: "str", 10: "str", 11: "ts" },
  [OpportunitySchema.typeName]: { 4: "str", 5: "str", 6: "int", 8: "ts" },
  [StockLevelSchema.typeName]: { 2: "str", 3: "str", 4: "int", 5: "int" },
  [AlertSchema.typeName]: { 8: "ts" },
  [CustomerSchema.typeName]: { 1: "str" },
};

/**
 * Reads Today's inputs straight from the device store in one transaction:
 * each row's local view (the server's state, or the state with pending
 * edits on top), only the fields Today needs.
 */
export async function loadTodayInputs(storage: Storage): Promise<TodayInputs> {
  const types = Object.keys(TODAY_FIELDS);
  const rows = await storage.read((tx) => Promise.all(types.map((ty) => tx.rowsOfType(ty))));
  const inp: TodayInputs = { commitments: [], visits: [], opportunities: [], stock: [], alertsUnacknowledged: 0, customerNames: new Map(), records: 0 };
  const str = (v: string | number | undefined) => (v === undefined ? "" : String(v));
  const num = (v: string | number | undefined) => (v === undefined ? 0 : Number(v));
  const time = (v: string | number | undefined) => (v === undefined ? undefined : Number(v));
  rows.forEach((list, i) => {
    const type = types[i];
    const want = TODAY_FIELDS[type];
    for (const r of list) {
      const bytes = r.state === RowState.Synced ? r.base : r.state === RowState.Edited ? r.view : null;
      if (!bytes) continue;
      inp.records++;
      const f = pick(bytes, want);
      switch (type) {
        case CommitmentSchema.typeName: inp.commitments.push({ id: r.id, customerId: str(f[4]), description: str(f[6]), due: time(f[7]), state: num(f[8]) }); break;
        case VisitSchema.typeName: inp.visits.push({ id: r.id, customerId: str(f[5]), followUp: str(f[10]), next: time(f[11]) }); break;
        case OpportunitySchema.typeName: inp.opportunities.push({ id: r.id, customerId: str(f[4]), title: str(f[5]), stage: num(f[6]), due: time(f[8]) }); break;
        case StockLevelSchema.typeName: inp.stock.push({ id: r.id, terminalId: str(f[2]), productId: str(f[3]), onHand: num(f[4]), safety: num(f[5]) }); break;
        case AlertSchema.typeName: if (f[8] === undefined) inp.alertsUnacknowledged++; break;
        case CustomerSchema.typeName: inp.customerNames.set(r.id, str(f[1])); break;
      }
    }
  });
  return inp;
}

/** What the customer brief (B1) shows: the last 3 contacts (visits) and their key commitments. */
export interface Brief {
  lastVisits: LocalRecord<Visit>[];
  /** Each commitment made in the last 3 contacts: a Commitment record or the visit's follow-up text. */
  keyCommitments: { text: string; due?: Date; state?: CommitmentState; visitId: string; commitmentId?: string }[];
  /** Open commitments to the customer not made in those contacts. */
  otherOpen: LocalRecord<Commitment>[];
}

/** Computes the brief of customerId from the local data. */
export function customerBrief(d: Data, customerId: string): Brief {
  const visitTime = (v: LocalRecord<Visit>) => tsDate(v.value.visitTime)?.getTime() ?? 0;
  const lastVisits = d.visits.filter((v) => v.value.customerId === customerId)
    .sort((a, b) => visitTime(b) - visitTime(a) || (a.id < b.id ? 1 : -1)).slice(0, 3);
  const ids = new Set(lastVisits.map((v) => v.id));
  const keyCommitments: Brief["keyCommitments"] = [];
  for (const v of lastVisits) {
    if (v.value.followUpCommitments) keyCommitments.push({ text: v.value.followUpCommitments, due: tsDate(v.value.nextAppointmentTime), visitId: v.id });
    for (const c of d.commitments) {
      if (c.value.visitId === v.id) keyCommitments.push({ text: c.value.description, due: tsDate(c.value.dueTime), state: c.value.state, visitId: v.id, commitmentId: c.id });
    }
  }
  const otherOpen = d.commitments.filter((c) => c.value.customerId === customerId && !ids.has(c.value.visitId) &&
    (c.value.state === CommitmentState.OPEN || c.value.state === CommitmentState.UNSPECIFIED));
  return { lastVisits, keyCommitments, otherOpen };
}

export { TODAY_INDEX } from "./todaycore";
import { TODAY_INDEX } from "./todaycore";

/**
 * The store's state as a key: it changes with every local write (seq), pulled
 * change (cursor), resync (gen) and refused write (a rejection undoes its
 * edit), so a Today index saved under it is current while the key is.
 */
export async function storeStateKey(tx: StoreTx): Promise<string> {
  const m = await tx.meta();
  const rejections = (await tx.rejections()).length;
  return `${m.deviceId}|${m.nextSeq}|${m.cursor}|${m.gen}|${rejections}`;
}

/** Drops the saved Today index (the next open builds it from the store). */
export function dropTodayIndex(): void {
  if (typeof localStorage !== "undefined") localStorage.removeItem(TODAY_INDEX);
}
