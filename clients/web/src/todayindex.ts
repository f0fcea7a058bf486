/**
 * The Today index, kept up to date as records are stored: the device store
 * is wrapped (withTodayIndex) so every transaction that writes a record of
 * a type Today reads (commitments, visits, opportunities, stock, alerts,
 * customers) also updates the index once it commits. Today then renders
 * from memory, never scanning the store; the index is saved (localStorage)
 * under the store's state key, so the next open of the app reads it back
 * and scans the store only when the key says the store moved on without it
 * (another tab, a crash between a commit and the save, a first open).
 *
 * The index holds what can ever show on Today, whatever the time: open
 * commitments with a due time, appointments not yet a day past, open
 * opportunities with a due time, stock below its safety stock, customers'
 * names; and the counts (records of those types, unacknowledged alerts).
 * computeToday picks today's lines from it.
 */
import {
  AlertSchema, CommitmentSchema, CommitmentState, CustomerSchema, OpportunitySchema, OpportunityStage, RowState, StockLevelSchema, VisitSchema,
  type RecordRow, type Storage, type StoreTx,
} from "@fieldsync/client";
import { dropTodayIndex, storeStateKey, TODAY_FIELDS, TODAY_INDEX, type TodayInputs } from "./data";
import { TODAY_INDEX_VERSION } from "./todaycore";
import { pick } from "./wire";

const DAY = 86_400_000;
/** The saved index's format (1: the index saved whole after each scan, before it was kept up to date). */
const SAVED_VERSION = TODAY_INDEX_VERSION;

type Commitment = TodayInputs["commitments"][number];
type VisitItem = TodayInputs["visits"][number];
type Opportunity = TodayInputs["opportunities"][number];
type Stock = TodayInputs["stock"][number];

/** What one stored row adds to the index. */
interface Contribution {
  counted: boolean;
  unacknowledged: boolean;
  commitment?: Commitment;
  visit?: VisitItem;
  opportunity?: Opportunity;
  stock?: Stock;
  name?: string;
}

const NONE: Contribution = { counted: false, unacknowledged: false };

/** The row's local view as Today reads it (the server's state, or it with pending edits); null when deleted. */
function viewBytes(r: RecordRow | undefined): Uint8Array | null {
  if (!r) return null;
  return r.state === RowState.Synced ? r.base : r.state === RowState.Edited ? r.view : null;
}

/** What row adds to the index, read from its bytes (only Today's fields), at time now. */
export function contribution(r: RecordRow | undefined, now: number): Contribution {
  const want = r && TODAY_FIELDS[r.type];
  const bytes = viewBytes(r);
  if (!r || !want || !bytes) return NONE;
  const f = pick(bytes, want);
  const str = (v: string | number | undefined) => (v === undefined ? "" : String(v));
  const num = (v: string | number | undefined) => (v === undefined ? 0 : Number(v));
  const time = (v: string | number | undefined) => (v === undefined ? undefined : Number(v));
  const c: Contribution = { counted: true, unacknowledged: false };
  switch (r.type) {
    case CommitmentSchema.typeName: {
      const state = num(f[8]);
      const due = time(f[7]);
      if (due !== undefined && (state === CommitmentState.OPEN || state === CommitmentState.UNSPECIFIED)) {
        c.commitment = { id: r.id, customerId: str(f[4]), description: str(f[6]), due, state };
      }
      break;
    }
    case VisitSchema.typeName: {
      const next = time(f[11]);
      if (next !== undefined && next >= now - DAY) c.visit = { id: r.id, customerId: str(f[5]), followUp: str(f[10]), next };
      break;
    }
    case OpportunitySchema.typeName: {
      const stage = num(f[6]);
      const due = time(f[8]);
      if (due !== undefined && stage !== OpportunityStage.WON && stage !== OpportunityStage.LOST) {
        c.opportunity = { id: r.id, customerId: str(f[4]), title: str(f[5]), stage, due };
      }
      break;
    }
    case StockLevelSchema.typeName: {
      const s = { id: r.id, terminalId: str(f[2]), productId: str(f[3]), onHand: num(f[4]), safety: num(f[5]) };
      if (s.onHand < s.safety) c.stock = s;
      break;
    }
    case AlertSchema.typeName: c.unacknowledged = f[8] === undefined; break;
    case CustomerSchema.typeName: c.name = str(f[1]); break;
  }
  return c;
}

/** The index itself: Today's candidates by id and the counts. */
class Lists {
  commitments = new Map<string, Commitment>();
  visits = new Map<string, VisitItem>();
  opportunities = new Map<string, Opportunity>();
  stock = new Map<string, Stock>();
  names = new Map<string, string>();
  records = 0;
  alerts = 0;

  /** Replaces what the row id contributed (before) with what it contributes now (after). */
  apply(id: string, before: Contribution, after: Contribution): void {
    this.records += Number(after.counted) - Number(before.counted);
    this.alerts += Number(after.unacknowledged) - Number(before.unacknowledged);
    const set = <T>(m: Map<string, T>, v: T | undefined) => (v === undefined ? m.delete(id) : m.set(id, v));
    if (before.commitment || after.commitment) set(this.commitments, after.commitment);
    if (before.visit || after.visit) set(this.visits, after.visit);
    if (before.opportunity || after.opportunity) set(this.opportunities, after.opportunity);
    if (before.stock || after.stock) set(this.stock, after.stock);
    if (before.name !== undefined || after.name !== undefined) set(this.names, after.name);
  }

  inputs(now: number): TodayInputs {
    for (const [id, v] of this.visits) if (v.next! < now - DAY) this.visits.delete(id); // a day past: never on Today again
    return {
      commitments: [...this.commitments.values()], visits: [...this.visits.values()], opportunities: [...this.opportunities.values()],
      stock: [...this.stock.values()], alertsUnacknowledged: this.alerts, customerNames: new Map(this.names), records: this.records,
    };
  }

  toJSON(key: string) {
    return {
      v: SAVED_VERSION, key, records: this.records, alerts: this.alerts, commitments: [...this.commitments.values()],
      visits: [...this.visits.values()], opportunities: [...this.opportunities.values()], stock: [...this.stock.values()], names: [...this.names],
    };
  }

  static fromJSON(x: ReturnType<Lists["toJSON"]>): Lists {
    const l = new Lists();
    const byId = <T extends { id: string }>(xs: T[]) => new Map(xs.map((v) => [v.id, v]));
    l.commitments = byId(x.commitments);
    l.visits = byId(x.visits);
    l.opportunities = byId(x.opportunities);
    l.stock = byId(x.stock);
    l.names = new Map(x.names);
    l.records = x.records;
    l.alerts = x.alerts;
    return l;
  }
}

/** One committed transaction's row changes, in the order the store committed it. */
interface Batch {
  order: number;
  key: string;
  cleared: boolean;
  changes: { id: string; before: RecordRow | undefined; after: RecordRow | undefined }[];
}

/** Where the last Today came from: memory (kept up to date), the saved index, or a scan of the store. */
export type IndexSource = "memory" | "index" | "store";

/**
 * TodayIndex keeps Today's index of one device store. Transactions are
 * ordered as IndexedDB runs them (by creation: a transaction that reads
 * sees every read-write one created before it and none after), so a build
 * from the store discards the batches it already saw and applies the later.
 */
export class TodayIndex {
  private lists: Lists | null = null;
  private building: Promise<IndexSource> | null = null;
  private builtAt = 0;
  private key = "";
  private pending: Batch[] = [];
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  /** Transactions started through the wrapped store, in creation order. */
  order = 0;
  /** The source of the last build until inputs reports it. */
  private built: IndexSource | null = null;
  /** How long the last build took (ms): reading the saved index or scanning the store. */
  buildMs = 0;
  /** Another tab wrote while the index was being built. */
  private stale = false;
  /** Tells the app's other tabs on this origin that a transaction of this one committed. */
  private readonly tabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("fieldsync-today-index") : null;

  /** clock is the time the index's windows are cut at (Date.now; tests pass their own). */
  constructor(private readonly inner: Storage, private readonly clock: () => number = Date.now) {
    if (typeof addEventListener === "function") addEventListener("pagehide", () => this.saveNow());
    if (this.tabs) this.tabs.onmessage = (e: MessageEvent<string>) => this.outdated(e.data);
  }

  /** Builds the index now (when the store opens), so the writes that follow update it rather than outdate it. */
  start(): void {
    void this.ensure().catch(() => undefined); // a closed store (not enrolled): the next Today builds it
  }

  /**
   * Today's inputs from the index, building it first when there is none
   * (the saved index when its key is the store's, else a scan), with where
   * they came from (the first call after a build: the build's source).
   * From memory it reads nothing: synchronous work only.
   */
  async inputs(now = this.clock()): Promise<{ inputs: TodayInputs; source: IndexSource }> {
    let source = await this.ensure();
    if (this.built) [source, this.built] = [this.built, null];
    return { inputs: this.lists!.inputs(now), source };
  }

  private async ensure(): Promise<IndexSource> {
    if (this.lists && !this.building) return "memory";
    return (this.building ??= this.build().finally(() => (this.building = null)));
  }

  /** Another tab committed a write (key: the store's state after it): this index is out of date. */
  private outdated(key: string): void {
    if (key === this.key) return;
    this.lists = null; // the next Today reads that tab's saved index (or scans)
    this.stale = true;
  }

  /** Stops listening to the other tabs, saving first (the store closes). */
  close(): void {
    this.saveNow();
    this.tabs?.close();
  }

  /** Forgets the index in memory and the saved one (the next Today builds it from the store). */
  drop(): void {
    this.lists = null;
    this.pending = [];
    dropTodayIndex();
  }

  private async build(): Promise<IndexSource> {
    for (;;) {
      this.stale = false;
      const started = performance.now();
      const order = ++this.order;
      const saved = readSaved();
      const got = await this.inner.read(async (tx) => {
        const key = await storeStateKey(tx);
        if (saved && saved.key === key) return { key, lists: Lists.fromJSON(saved), source: "index" as const };
        const lists = new Lists();
        const now = this.clock();
        for (const type of Object.keys(TODAY_FIELDS)) {
          for (const r of await tx.rowsOfType(type)) lists.apply(r.id, NONE, contribution(r, now));
        }
        return { key, lists, source: "store" as const };
      });
      if (this.stale) continue; // another tab wrote meanwhile: its write may be in or out of what was read
      this.lists = got.lists;
      this.built = got.source;
      this.buildMs = performance.now() - started;
      this.builtAt = order;
      this.key = got.key;
      const later = this.pending.filter((b) => b.order > order);
      this.pending = [];
      for (const b of later) this.applyBatch(b);
      if (got.source === "store") this.scheduleSave();
      return got.source;
    }
  }

  /** Applies a committed transaction's changes (queued while the index is being built). */
  committed(b: Batch): void {
    if (b.key !== this.key || b.changes.length > 0 || b.cleared) this.tabs?.postMessage(b.key);
    if (!this.lists) {
      if (this.building) this.pending.push(b);
      return; // no index yet: the next build reads the store as it is
    }
    if (b.order <= this.builtAt) return;
    this.applyBatch(b);
  }

  private applyBatch(b: Batch): void {
    if (!b.cleared && b.changes.length === 0 && b.key === this.key) return;
    if (b.cleared) this.lists = new Lists();
    const now = this.clock();
    for (const c of b.changes) this.lists!.apply(c.id, contribution(c.before, now), contribution(c.after, now));
    this.key = b.key;
    this.scheduleSave();
  }

  private scheduleSave(): void {
    this.saveTimer ??= setTimeout(() => this.saveNow(), 50);
  }

  private saveNow(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.lists || typeof localStorage === "undefined") return;
    try {
      localStorage.setItem(TODAY_INDEX, JSON.stringify(this.lists.toJSON(this.key)));
    } catch {
      dropTodayIndex(); // full: the next open scans the store
    }
  }
}

function readSaved(): ReturnType<Lists["toJSON"]> | null {
  try {
    const x = typeof localStorage === "undefined" ? null : JSON.parse(localStorage.getItem(TODAY_INDEX) ?? "null");
    return x && x.v === SAVED_VERSION ? x : null;
  } catch {
    return null;
  }
}

const indexes = new WeakMap<Storage, TodayIndex>();

/** The Today index of a store wrapped by withTodayIndex; undefined for another store. */
export function todayIndexOf(storage: Storage): TodayIndex | undefined {
  return indexes.get(storage);
}

/**
 * Wraps a device store so Today's index follows every transaction that
 * writes records: the rows it puts or deletes (and what they were before:
 * the row the transaction read, or one read for it) are handed to the
 * index once the transaction has committed, with the store's state key as
 * the transaction left it.
 */
export function withTodayIndex(inner: Storage, clock: () => number = Date.now): Storage {
  const index = new TodayIndex(inner, clock);
  const wrapped: Storage = {
    read: (fn) => inner.read(fn),
    update: async (fn) => {
      const batch: Batch = { order: ++index.order, key: "", cleared: false, changes: [] };
      const out = await inner.update(async (tx) => {
        const res = await fn(watch(tx, batch));
        batch.key = await storeStateKey(tx);
        return res;
      });
      index.committed(batch);
      return out;
    },
    close: () => (index.close(), inner.close()),
  };
  indexes.set(wrapped, index);
  index.start();
  return wrapped;
}

/** tx, noting in batch the rows of Today's types it puts and deletes, and what they were before. */
function watch(tx: StoreTx, batch: Batch): StoreTx {
  // Copies: the SDK changes the rows it read in place before it puts them back.
  const seen = new Map<string, RecordRow | undefined>();
  const before = async (id: string) => (seen.has(id) ? seen.get(id) : await tx.row(id));
  const own: Partial<StoreTx> = {
    row: async (id) => {
      const r = await tx.row(id);
      if (!seen.has(id)) seen.set(id, r && { ...r });
      return r;
    },
    putRow: async (r) => {
      const b = await before(r.id);
      await tx.putRow(r);
      const after = { ...r };
      seen.set(r.id, after);
      if (TODAY_FIELDS[r.type] || (b && TODAY_FIELDS[b.type])) batch.changes.push({ id: r.id, before: b, after });
    },
    deleteRow: async (id) => {
      const b = await before(id);
      await tx.deleteRow(id);
      seen.set(id, undefined);
      if (b && TODAY_FIELDS[b.type]) batch.changes.push({ id, before: b, after: undefined });
    },
    clear: async () => {
      await tx.clear();
      seen.clear();
      batch.cleared = true;
      batch.changes = [];
    },
  };
  return new Proxy(tx, {
    get(target, k: keyof StoreTx) {
      const v = own[k] ?? target[k];
      return typeof v === "function" && !own[k] ? v.bind(target) : v;
    },
  });
}
