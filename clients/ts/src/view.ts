import { toBinary } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { applyFields, decode, lookupType } from "./fields.js";
import { RowState, type OutboxEntry, type RecordRow, type StoreTx } from "./storage.js";

/** The fields of an entry that hold in the local view (those that did not lose the server's merge). */
export function effectiveFields(e: OutboxEntry): string[] {
  return e.lost.length === 0 ? e.fields : e.fields.filter((f) => !e.lost.includes(f));
}

/** The encoded local view of a row; null when the record is not visible. */
export function viewBytes(r: RecordRow): Uint8Array | null {
  if (r.state === RowState.Synced) return r.base;
  if (r.state === RowState.Edited) return r.view;
  return null;
}

/**
 * Recomputes a row's view from its base and outbox entries: each entry's
 * effective fields are applied on top, in seq order, as the server merges
 * them (a delete hides the record until a later edit).
 */
export function rebuild(r: RecordRow, entries: OutboxEntry[]): void {
  if (entries.length === 0) {
    r.state = RowState.Synced;
    r.view = null;
    return;
  }
  const desc = lookupType(r.type);
  let msg: ReflectMessage | null = r.base ? decode(desc, r.base) : null;
  for (const e of entries) {
    if (e.del) {
      msg = null;
      continue;
    }
    const input = decode(desc, e.value ?? new Uint8Array());
    msg ??= reflect(desc);
    applyFields(desc, msg, input, effectiveFields(e));
  }
  if (!msg) {
    r.state = RowState.Deleted;
    r.view = null;
    return;
  }
  r.state = RowState.Edited;
  r.view = toBinary(desc, msg.message);
}

/** Writes a row, or deletes it when nothing is left to show or send. */
export async function saveRow(tx: StoreTx, r: RecordRow): Promise<void> {
  if (r.base === null && r.state === RowState.Synced) await tx.deleteRow(r.id);
  else await tx.putRow(r);
}

/** Rebuilds a stored record's view from its current entries and saves it. */
export async function refresh(tx: StoreTx, id: string): Promise<void> {
  const r = await tx.row(id);
  if (!r) return;
  rebuild(r, await tx.entriesFor(id));
  await saveRow(tx, r);
}
