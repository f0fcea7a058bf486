// A Storage that keeps everything in Maps and is never durable: the
// benchmark's ceiling, what an initial sync costs without a store (network,
// server, protobuf, the SDK's own work). Not shipped.
import { initialMeta, type Meta, type OutboxEntry, type RecordRow, type Storage, type StoreTx } from "../../ts/src/index.js";

export function memoryStorage(): Storage {
  let meta: Meta = initialMeta();
  const rows = new Map<string, RecordRow>();
  const outbox = new Map<number, OutboxEntry>();
  const tx: StoreTx = {
    meta: async () => ({ ...meta }),
    setMeta: async (m) => void (meta = { ...m }),
    row: async (id) => rows.get(id),
    putRow: async (r) => void rows.set(r.id, r),
    deleteRow: async (id) => void rows.delete(id),
    rowsOfType: async (type) => [...rows.values()].filter((r) => r.type === type).sort((a, b) => (a.id < b.id ? -1 : 1)),
    allRows: async () => [...rows.values()],
    outbox: async () => [...outbox.values()].sort((a, b) => a.seq - b.seq),
    entriesFor: async (id) => [...outbox.values()].filter((e) => e.recordId === id).sort((a, b) => a.seq - b.seq),
    putEntry: async (e) => void outbox.set(e.seq, e),
    deleteEntry: async (seq) => void outbox.delete(seq),
    putConflict: async () => undefined,
    conflicts: async () => [],
    putRejection: async () => undefined,
    rejections: async () => [],
    photo: async () => undefined,
    putPhoto: async () => undefined,
    photos: async () => [],
    photoBlob: async () => undefined,
    putPhotoBlob: async () => undefined,
    deletePhotoBlob: async () => undefined,
    clear: async () => (rows.clear(), outbox.clear(), void (meta = initialMeta())),
  };
  return { read: (fn) => fn(tx), update: (fn) => fn(tx), close: () => undefined };
}
