/**
 * Today's lists (B2) computed from their inputs, with no SDK: what the app
 * shows at once on an open, from the saved Today index, while the SDK
 * loads (see snapshot.tsx), and what the live Today screen computes.
 * Enum numbers are records.proto's (test/today-index.test.ts checks them
 * against the SDK's).
 */

/** CommitmentState and OpportunityStage numbers Today reads. */
export const COMMITMENT_UNSPECIFIED = 0;
export const COMMITMENT_OPEN = 1;
export const OPPORTUNITY_WON = 5;
export const OPPORTUNITY_LOST = 6;

/** Where the Today index is saved (localStorage; see todayindex.ts), and its format. */
export const TODAY_INDEX = "fieldsync.today-index";
export const TODAY_INDEX_VERSION = 2;

/** One line of Today. */
export type TodayItem =
  | { kind: "commitment"; id: string; customerId: string; text: string; due: Date; overdue: boolean }
  | { kind: "appointment"; id: string; customerId: string; text: string; at: Date }
  | { kind: "opportunity"; id: string; customerId: string; title: string; due: Date }
  | { kind: "stock"; id: string; terminalId: string; productId: string; onHand: number; safety: number };

/** Today (B2): the three lists first, then what comes up in the next week. */
export interface Today {
  followUps: TodayItem[];
  overdueOpportunities: TodayItem[];
  stockAlerts: TodayItem[];
  upcoming: TodayItem[];
  unacknowledgedAlerts: number;
}

/**
 * What Today is computed from: only the fields it reads, times as Unix ms
 * (undefined when unset), so a store of 10k records is read without
 * building whole messages (see loadTodayInputs).
 */
export interface TodayInputs {
  commitments: { id: string; customerId: string; description: string; due?: number; state: number }[];
  visits: { id: string; customerId: string; followUp: string; next?: number }[];
  opportunities: { id: string; customerId: string; title: string; stage: number; due?: number }[];
  stock: { id: string; terminalId: string; productId: string; onHand: number; safety: number }[];
  alertsUnacknowledged: number;
  customerNames: Map<string, string>;
  records: number;
}

const DAY = 86_400_000;

/**
 * Computes Today for the local time of now: commitments still open and due
 * by the end of today (overdue ones included) and appointments today; open
 * opportunities whose next action is past due; stock below its safety
 * stock; then commitments and appointments of the next 7 days. Each list
 * is in time order (stock: the largest shortfall first).
 */
export function computeToday(d: TodayInputs, now: Date): Today {
  const nowMs = now.getTime();
  const startOfDay = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const endOfDay = startOfDay + DAY;
  const weekEnd = endOfDay + 7 * DAY;
  const followUps: TodayItem[] = [];
  const upcoming: TodayItem[] = [];
  for (const c of d.commitments) {
    if (c.state !== COMMITMENT_OPEN && c.state !== COMMITMENT_UNSPECIFIED) continue;
    if (c.due === undefined) continue;
    const item: TodayItem = { kind: "commitment", id: c.id, customerId: c.customerId, text: c.description, due: new Date(c.due), overdue: c.due < nowMs };
    if (c.due < endOfDay) followUps.push(item);
    else if (c.due < weekEnd) upcoming.push(item);
  }
  for (const v of d.visits) {
    if (v.next === undefined) continue;
    const item: TodayItem = { kind: "appointment", id: v.id, customerId: v.customerId, text: v.followUp, at: new Date(v.next) };
    if (v.next >= startOfDay && v.next < endOfDay) followUps.push(item);
    else if (v.next >= endOfDay && v.next < weekEnd) upcoming.push(item);
  }
  const overdueOpportunities: TodayItem[] = [];
  for (const o of d.opportunities) {
    if (o.stage === OPPORTUNITY_WON || o.stage === OPPORTUNITY_LOST) continue;
    if (o.due !== undefined && o.due < nowMs) overdueOpportunities.push({ kind: "opportunity", id: o.id, customerId: o.customerId, title: o.title, due: new Date(o.due) });
  }
  const stockAlerts: TodayItem[] = [];
  for (const s of d.stock) {
    if (s.onHand < s.safety) stockAlerts.push({ kind: "stock", id: s.id, terminalId: s.terminalId, productId: s.productId, onHand: s.onHand, safety: s.safety });
  }
  const when = (i: TodayItem) => (i.kind === "commitment" ? i.due : i.kind === "appointment" ? i.at : i.kind === "opportunity" ? i.due : new Date(0)).getTime();
  const byTime = (a: TodayItem, b: TodayItem) => when(a) - when(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  followUps.sort(byTime);
  upcoming.sort(byTime);
  overdueOpportunities.sort(byTime);
  const short = (i: TodayItem) => (i.kind === "stock" ? i.safety - i.onHand : 0);
  stockAlerts.sort((a, b) => short(b) - short(a) || (a.id < b.id ? -1 : 1));
  return { followUps, overdueOpportunities, stockAlerts, upcoming, unacknowledgedAlerts: d.alertsUnacknowledged };
}


/** The saved Today index as Today's inputs; null when there is none (or it is of another format). */
export function savedTodayInputs(): TodayInputs | null {
  try {
    const x = JSON.parse(localStorage.getItem(TODAY_INDEX) ?? "null");
    if (!x || x.v !== TODAY_INDEX_VERSION) return null;
    return {
      commitments: x.commitments, visits: x.visits, opportunities: x.opportunities, stock: x.stock,
      alertsUnacknowledged: x.alerts, customerNames: new Map(x.names), records: x.records,
    };
  } catch {
    return null;
  }
}
