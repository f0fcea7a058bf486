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
  type Quote, type SampleShipment, type StockLevel, type SurgerySupport, type Visit,
} from "@fieldsync/client";

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

/** One line of Today. */
export type TodayItem =
  | { kind: "commitment"; id: string; customerId: string; text: string; due: Date; overdue: boolean }
  | { kind: "appointment"; id: string; customerId: string; text: string; at: Date }
  | { kind: "opportunity"; id: string; customerId: string; title: string; due: Date }
  | { kind: "stock"; id: string; terminalId: string; productId: string; onHand: bigint; safety: bigint };

/** Today (B2): the three lists first, then what comes up in the next week. */
export interface Today {
  followUps: TodayItem[];
  overdueOpportunities: TodayItem[];
  stockAlerts: TodayItem[];
  upcoming: TodayItem[];
  unacknowledgedAlerts: number;
}

const DAY = 86_400_000;

/**
 * Computes Today for the local time of now: commitments still open and due
 * by the end of today (overdue ones included) and appointments today; open
 * opportunities whose next action is past due; stock below its safety
 * stock; then commitments and appointments of the next 7 days. Each list
 * is in time order (stock: the largest shortfall first).
 */
export function computeToday(d: Data, now: Date): Today {
  const startOfDay = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const endOfDay = startOfDay + DAY;
  const weekEnd = endOfDay + 7 * DAY;
  const followUps: TodayItem[] = [];
  const upcoming: TodayItem[] = [];
  for (const { id, value: c } of d.commitments) {
    if (c.state !== CommitmentState.OPEN && c.state !== CommitmentState.UNSPECIFIED) continue;
    const due = tsDate(c.dueTime);
    if (!due) continue;
    const t = due.getTime();
    const item: TodayItem = { kind: "commitment", id, customerId: c.customerId, text: c.description, due, overdue: t < now.getTime() };
    if (t < endOfDay) followUps.push(item);
    else if (t < weekEnd) upcoming.push(item);
  }
  for (const { id, value: v } of d.visits) {
    const at = tsDate(v.nextAppointmentTime);
    if (!at) continue;
    const t = at.getTime();
    const item: TodayItem = { kind: "appointment", id, customerId: v.customerId, text: v.followUpCommitments, at };
    if (t >= startOfDay && t < endOfDay) followUps.push(item);
    else if (t >= endOfDay && t < weekEnd) upcoming.push(item);
  }
  const overdueOpportunities: TodayItem[] = [];
  for (const { id, value: o } of d.opportunities) {
    if (o.stage === OpportunityStage.WON || o.stage === OpportunityStage.LOST) continue;
    const due = tsDate(o.nextActionDueTime);
    if (due && due.getTime() < now.getTime()) overdueOpportunities.push({ kind: "opportunity", id, customerId: o.customerId, title: o.title, due });
  }
  const stockAlerts: TodayItem[] = [];
  for (const { id, value: s } of d.stock) {
    if (s.onHand < s.safetyStock) stockAlerts.push({ kind: "stock", id, terminalId: s.terminalId, productId: s.productId, onHand: s.onHand, safety: s.safetyStock });
  }
  const when = (i: TodayItem) => (i.kind === "commitment" ? i.due : i.kind === "appointment" ? i.at : i.kind === "opportunity" ? i.due : new Date(0)).getTime();
  followUps.sort((a, b) => when(a) - when(b));
  upcoming.sort((a, b) => when(a) - when(b));
  overdueOpportunities.sort((a, b) => when(a) - when(b));
  const short = (i: TodayItem) => (i.kind === "stock" ? Number(i.safety - i.onHand) : 0);
  stockAlerts.sort((a, b) => short(b) - short(a));
  const unacknowledgedAlerts = d.alerts.filter((a) => !a.value.acknowledgedTime).length;
  return { followUps, overdueOpportunities, stockAlerts, upcoming, unacknowledgedAlerts };
}

/** What the customer brief (B1) shows: the last 3 contacts (visits) and their key commitments. */
export interface Brief {
  lastVisits: LocalRecord<Visit>[];
  /** Each commitment made in the last 3 contacts: a Commitment record or the visit's follow-up text. */
  keyCommitments: { text: string; due?: Date; state?: CommitmentState; visitId: string }[];
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
      if (c.value.visitId === v.id) keyCommitments.push({ text: c.value.description, due: tsDate(c.value.dueTime), state: c.value.state, visitId: v.id });
    }
  }
  const otherOpen = d.commitments.filter((c) => c.value.customerId === customerId && !ids.has(c.value.visitId) &&
    (c.value.state === CommitmentState.OPEN || c.value.state === CommitmentState.UNSPECIFIED));
  return { lastVisits, keyCommitments, otherOpen };
}
