import { create } from "@bufbuild/protobuf";
import { anyUnpack, AnySchema, FieldMaskSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { ClientOptions, Conflict } from "./client.js";
import { FieldsyncError } from "./errors.js";
import { lookupType, registry } from "./fields.js";
import { PhotoState, RemovalReason, type Conflict as WireConflict, type Mutation, type MutationResult, type Record as WireRecord } from "./gen/fieldsync/v1/sync_pb.js";
import { RowState, type OutboxEntry, type RecordRow, type StoreTx } from "./storage.js";
import { rebuild, saveRow } from "./view.js";

// The protocol's pieces that need no Client: how pulled records, seqs,
// wire mutations and errors are handled, and the transport and backoff.

const RETRYABLE = new Set([Code.Unavailable, Code.Unknown, Code.Internal, Code.DeadlineExceeded, Code.Canceled, Code.ResourceExhausted, Code.Aborted]);
const ID_PATTERN = /^[0-9A-Za-z_-]{1,64}$/;

/**
 * Writes one pulled record: as sent when the device has no entries for it,
 * else rebased under them. local holds the outbox's entries by record, in
 * seq order, as read once for the page; it is kept up to date.
 */
export async function applyPulled(tx: StoreTx, rec: WireRecord, gen: number, local: Map<string, OutboxEntry[]>): Promise<void> {
  const base = recordBytes(rec);
  const entries = local.get(rec.id);
  const photos = rec.photos.map((p) => ({ sha256: p.sha256, available: p.state === PhotoState.AVAILABLE })).sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  if (!entries) {
    if (base === null) await tx.deleteRow(rec.id);
    else await tx.putRow({ id: rec.id, type: rec.recordType, base, version: rec.version, hlc: rec.hlc, gen, state: RowState.Synced, view: null, photos });
    return;
  }
  // Rebase: acked entries go (a state pulled after their answer includes them).
  for (const e of entries) if (e.acked) await tx.deleteEntry(e.seq);
  const pending = entries.filter((e) => !e.acked);
  local.set(rec.id, pending);
  const r: RecordRow = { id: rec.id, type: rec.recordType, base, version: rec.version, hlc: rec.hlc, gen, state: RowState.Synced, view: null, photos };
  rebuild(r, pending);
  await saveRow(tx, r);
}

/**
 * Writes one pulled record as the server sent it (a removal deletes it),
 * for a record with no outbox entries; applyPulled then rebases those that
 * have some.
 */
export function writePulled(tx: StoreTx, rec: WireRecord, gen: number): Promise<void> {
  const base = recordBytes(rec);
  if (base === null) return tx.deleteRow(rec.id);
  const photos = rec.photos.length === 0 ? [] : rec.photos.map((p) => ({ sha256: p.sha256, available: p.state === PhotoState.AVAILABLE })).sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return tx.putRow({ id: rec.id, type: rec.recordType, base, version: rec.version, hlc: rec.hlc, gen, state: RowState.Synced, view: null, photos });
}

/** The outbox's entries by record, each in seq order (entries must come in seq order, as StoreTx.outbox gives them). */
export function entriesByRecord(entries: OutboxEntry[]): Map<string, OutboxEntry[]> {
  const m = new Map<string, OutboxEntry[]>();
  for (const e of entries) {
    const l = m.get(e.recordId);
    if (l) l.push(e);
    else m.set(e.recordId, [e]);
  }
  return m;
}

/** A pulled record's value bytes; null for a removal. */
export function recordBytes(rec: WireRecord): Uint8Array | null {
  if (rec.removed !== RemovalReason.UNSPECIFIED) return null;
  const v = rec.value;
  if (!v || !v.typeUrl.endsWith("/" + rec.recordType)) throw new Error(`record ${rec.id}: value holds ${JSON.stringify(v?.typeUrl)}, want a ${rec.recordType}`);
  return v.value;
}

/** Ends a resync: records of an older generation are out of scope; those without entries go, the others lose their base. */
export async function sweepResync(tx: StoreTx, gen: number): Promise<void> {
  const withEntries = new Set((await tx.outbox()).map((e) => e.recordId));
  for (const r of await tx.allRows()) {
    if (r.gen >= gen) continue;
    if (!withEntries.has(r.id)) {
      await tx.deleteRow(r.id);
      continue;
    }
    r.base = null;
    r.version = 0n;
    rebuild(r, await tx.entriesFor(r.id));
    await saveRow(tx, r);
  }
}

/** Gives the pending entries consecutive seqs from next, in order, and moves nextSeq after them. */
export async function renumber(tx: StoreTx, next: number): Promise<void> {
  const pending = (await tx.outbox()).filter((e) => !e.acked);
  for (const e of pending) await tx.deleteEntry(e.seq);
  for (const [i, e] of pending.entries()) await tx.putEntry({ ...e, seq: next + i });
  const m = await tx.meta();
  m.nextSeq = next + pending.length;
  await tx.setMeta(m);
}

/** Whether an answer is for another mutation the server applied under the entry's seq. */
export function collides(e: OutboxEntry, r: MutationResult): boolean {
  if (r.recordId !== e.recordId) return true;
  return r.appliedHlc !== 0n && r.clampedSkewMs === 0n && r.appliedHlc !== e.hlc;
}

/** The wire mutation of an outbox entry. */
export function toWire(e: OutboxEntry): Mutation {
  return {
    $typeName: "fieldsync.v1.Mutation",
    seq: BigInt(e.seq), recordType: e.type, recordId: e.recordId, delete: e.del, hlc: e.hlc,
    value: e.del ? undefined : create(AnySchema, { typeUrl: "type.googleapis.com/" + e.type, value: e.value ?? new Uint8Array() }),
    fieldMask: e.del ? undefined : create(FieldMaskSchema, { paths: e.fields }),
  };
}

/** A stored wire conflict as the app sees it. */
export function conflictFromWire(w: WireConflict): Conflict {
  const unpack = (a: WireConflict["losingValue"]) => (a ? anyUnpack(a, registry) : create(lookupType(w.recordType)));
  return {
    id: w.id, recordType: w.recordType, recordId: w.recordId, field: w.field,
    losing: unpack(w.losingValue), winning: unpack(w.winningValue),
    losingHlc: w.losingHlc, winningHlc: w.winningHlc, losingDeviceId: w.losingDeviceId, winningDeviceId: w.winningDeviceId,
    reason: w.reason, time: w.createTime ? timestampDate(w.createTime) : undefined,
  };
}

/** The first detail of schema in a ConnectError of code; undefined for any other error. */
export function findDetail<D extends DescMessage>(err: unknown, code: Code, schema: D): MessageShape<D> | undefined {
  if (!(err instanceof ConnectError) || err.code !== code) return undefined;
  return err.findDetails(schema)[0] as MessageShape<D> | undefined;
}

/** Whether a failed call may succeed when tried again: transient codes, while signal lives. */
export function retryable(err: unknown, signal?: AbortSignal): boolean {
  return !signal?.aborted && err instanceof ConnectError && RETRYABLE.has(err.code);
}

/** Checks a record id against the server's rule; throws FieldsyncError "invalid_id". */
export function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new FieldsyncError("invalid_id", `record id ${JSON.stringify(id)}: want 1 to 64 letters, digits, '_' or '-'`);
}

/** An interceptor sending the device token. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", "Bearer " + token);
    return next(req);
  };
}

/** The transport of a client: the caller's, or connect-web's fetch transport with the binary format. */
export function makeTransport(opts: ClientOptions, interceptors: Interceptor[]): Transport {
  if (!opts.server) throw new FieldsyncError("no_server", "no server given");
  if (opts.transport) return opts.transport(opts.server, interceptors);
  return createConnectTransport({ baseUrl: opts.server, interceptors, useBinaryFormat: true });
}

/** SHA-256 (hex) of a token: identifies it without keeping it in plain form in the binding. */
export async function tokenHash(token: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Exponential backoff with jitter; since is when the calls last made progress. */
export class Backoff {
  private n = 0;
  since = Date.now();
  constructor(
    private readonly lo: number,
    private readonly hi: number,
  ) {}
  reset(): void {
    this.n = 0;
    this.since = Date.now();
  }
  wait(signal?: AbortSignal): Promise<void> {
    const d = Math.min(this.lo * 2 ** Math.min(this.n++, 30), this.hi);
    const ms = d / 2 + Math.random() * (d / 2);
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(t);
        reject(signal.reason);
      }, { once: true });
    });
  }
}
