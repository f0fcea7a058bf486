import fc from "fast-check";
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { CHUNK_ROWS, decodeChunk, decodeShard, SHARDS, shardOf, type StoredChunk, type StoredShard } from "../src/idb.js";
import { openIndexedDBStorage, QueueState, RowState, type OutboxEntry, type QueuedPhoto, type RecordRow, type Storage } from "../src/index.js";

// The chunked record store (schema 3): rows of many records per IndexedDB
// value, a sharded id directory; checked against a plain Map of rows, and
// the migration from schema 2 (one value per record).

const TYPES = ["fieldsync.v1.Visit", "fieldsync.v1.Commitment", "fieldsync.v1.Customer"];

function row(id: string, type: string, v: number, state = RowState.Synced): RecordRow {
  const base = Uint8Array.of(v & 255, (v >> 8) & 255);
  return { id, type, base, version: BigInt(v), hlc: BigInt(v), gen: 0, state, view: state === RowState.Edited ? Uint8Array.of(9, v & 255) : null };
}

/** What a store holds, read raw: the chunks' rows, the directory, and the checks of the layout's invariants. */
async function raw(factory: IDBFactory, name: string) {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = factory.open(name);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const t = db.transaction(["chunks", "directory"], "readonly");
  const all = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => ((r.onsuccess = () => resolve(r.result)), (r.onerror = () => reject(r.error))));
  const [ckeys, chunks, dkeys, dirs] = await Promise.all([
    all(t.objectStore("chunks").getAllKeys()), all(t.objectStore("chunks").getAll()),
    all(t.objectStore("directory").getAllKeys()), all(t.objectStore("directory").getAll()),
  ]);
  const stores = Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i)!);
  db.close();
  const where = new Map<string, number>();
  ckeys.forEach((k, i) => {
    const c = decodeChunk(chunks[i] as StoredChunk);
    expect(c.rows.length, "no empty chunk is kept").toBeGreaterThan(0);
    expect([...c.types].sort()).toEqual([...new Set(c.rows.map((r) => r.type))].sort());
    for (const r of c.rows) {
      expect(where.has(r.id), `${r.id} is in one chunk only`).toBe(false);
      where.set(r.id, k as number);
    }
  });
  const dir = new Map<string, number>();
  dkeys.forEach((k, i) => {
    if (k === -1) return; // the head
    for (const [id, c] of decodeShard(dirs[i] as StoredShard)) {
      expect(shardOf(id)).toBe(k);
      dir.set(id, c);
    }
  });
  expect(dir).toEqual(where); // the directory names each id's chunk, and only stored ids
  return { chunks: ckeys.length, ids: [...where.keys()].sort(), stores };
}

const sortById = (rows: RecordRow[]) => [...rows].sort((a, b) => (a.id < b.id ? -1 : 1));

/** A step of the model test, on the store and on the Map. */
type Op =
  | { k: "page"; rows: { id: number; type: number; v: number; del: boolean }[] }
  | { k: "write"; id: number; type: number; v: number }
  | { k: "edit"; id: number; v: number }
  | { k: "delete"; id: number }
  | { k: "scope"; from: number; n: number }
  | { k: "fail"; id: number; v: number }
  | { k: "clear" };

const idOf = (n: number) => `r${n.toString(36).padStart(3, "0")}`;

describe("the chunked record store", () => {
  it("stores a page of rows in a few values, not one per row", async () => {
    const factory = new IDBFactory();
    const s = await openIndexedDBStorage("page", { indexedDB: factory });
    await s.update(async (tx) => {
      for (let i = 0; i < 1000; i++) await tx.putRow(row(idOf(i), TYPES[0], i));
    });
    const got = await raw(factory, "page");
    expect(got.ids.length).toBe(1000);
    expect(got.chunks).toBe(Math.ceil(1000 / CHUNK_ROWS));
    s.close();
  });

  it("keeps every field of a row through the chunk's columns", async () => {
    const s = await openIndexedDBStorage("columns", { indexedDB: new IDBFactory() });
    const max = (1n << 64n) - 1n;
    const rows: RecordRow[] = [
      { id: "a", type: TYPES[0], base: null, version: 0n, hlc: max, gen: 3, state: RowState.Deleted, view: null },
      { id: "b", type: TYPES[1], base: new Uint8Array(0), version: max, hlc: 1n, gen: 0, state: RowState.Edited, view: Uint8Array.of(1, 2), photos: [] },
      { id: "c-é漢", type: TYPES[0], base: Uint8Array.of(5), version: 2n, hlc: 2n, gen: 1, state: RowState.Synced, view: null, photos: [{ sha256: "x", available: true }] },
    ];
    await s.update(async (tx) => {
      for (const r of rows) await tx.putRow(r);
    });
    const got = await s.read((tx) => tx.allRows());
    expect(got).toEqual(rows);
    expect(got[0]).not.toHaveProperty("photos"); // absent stays absent, [] stays []
    await expect(s.update((tx) => tx.putRow({ ...rows[0], id: "d", hlc: -1n }))).rejects.toThrow(/uint64/);
    expect(await s.read((tx) => tx.row("d"))).toBeUndefined();
    s.close();
  });

  it("gives rows the caller can change without changing the store", async () => {
    const s = await openIndexedDBStorage("copies", { indexedDB: new IDBFactory() });
    await s.update((tx) => tx.putRow({ ...row("a", TYPES[0], 1), photos: [{ sha256: "x", available: false }] }));
    await s.update(async (tx) => {
      const r = (await tx.row("a"))!;
      r.version = 99n;
      r.photos![0].available = true;
      (await tx.rowsOfType(TYPES[0]))[0].gen = 7;
      await tx.putRow(row("b", TYPES[0], 2)); // the chunk holding a is rewritten
    });
    const a = await s.read((tx) => tx.row("a"));
    expect(a).toMatchObject({ version: 1n, gen: 0, photos: [{ sha256: "x", available: false }] });
    s.close();
  });

  it("gives the same rows as a plain map through random pages, writes, edits, deletions, failed transactions and clears", async () => {
    const ids = fc.nat({ max: 700 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ k: fc.constant("page" as const), rows: fc.array(fc.record({ id: ids, type: fc.nat({ max: 2 }), v: fc.nat({ max: 9999 }), del: fc.nat({ max: 9 }).map((n) => n < 3) }), { maxLength: 600, size: "max" }) }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant("write" as const), id: ids, type: fc.nat({ max: 2 }), v: fc.nat({ max: 9999 }) }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant("edit" as const), id: ids, v: fc.nat({ max: 9999 }) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("delete" as const), id: ids }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("scope" as const), from: ids, n: fc.nat({ max: 500 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("fail" as const), id: ids, v: fc.nat({ max: 9999 }) }) },
      { weight: 1, arbitrary: fc.constant({ k: "clear" as const }) },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const factory = new IDBFactory();
        const name = `model-${++run}`;
        const s: Storage = await openIndexedDBStorage(name, { indexedDB: factory });
        const model = new Map<string, RecordRow>();
        for (const o of ops) {
          switch (o.k) {
            case "page": // as a pulled page: every write issued before any read, then some read back and written again
              await s.update(async (tx) => {
                for (const p of o.rows) {
                  const id = idOf(p.id);
                  if (p.del) {
                    await tx.deleteRow(id);
                    model.delete(id);
                  } else {
                    await tx.putRow(row(id, TYPES[p.type], p.v));
                    model.set(id, row(id, TYPES[p.type], p.v));
                  }
                }
                // Reads inside the transaction see its writes.
                const now = sortById([...model.values()]);
                expect(await tx.allRows()).toEqual(now);
                expect(await tx.rowsOfType(TYPES[1])).toEqual(now.filter((r) => r.type === TYPES[1]));
                for (const p of o.rows.slice(0, 5)) {
                  const id = idOf(p.id);
                  expect(await tx.row(id)).toEqual(model.get(id));
                  const r = await tx.row(id);
                  if (r) {
                    r.state = RowState.Edited;
                    r.view = Uint8Array.of(1);
                    await tx.putRow(r);
                    model.set(id, { ...r });
                  }
                }
              });
              break;
            case "write":
              await s.update((tx) => tx.putRow(row(idOf(o.id), TYPES[o.type], o.v, RowState.Edited)));
              model.set(idOf(o.id), row(idOf(o.id), TYPES[o.type], o.v, RowState.Edited));
              break;
            case "edit": // read, change, write back: a local write on a stored row
              await s.update(async (tx) => {
                const r = await tx.row(idOf(o.id));
                expect(r).toEqual(model.get(idOf(o.id)));
                if (!r) return;
                r.version = BigInt(o.v);
                r.state = RowState.Edited;
                r.view = Uint8Array.of(o.v & 255);
                await tx.putRow(r);
                model.set(r.id, { ...r });
              });
              break;
            case "delete":
              await s.update((tx) => tx.deleteRow(idOf(o.id)));
              model.delete(idOf(o.id));
              break;
            case "scope": // records leaving the device's scope: many removals in one transaction
              await s.update(async (tx) => {
                for (let i = o.from; i < o.from + o.n; i++) {
                  await tx.deleteRow(idOf(i));
                  model.delete(idOf(i));
                }
              });
              break;
            case "fail": // a transaction that writes then fails keeps nothing
              await expect(s.update(async (tx) => {
                await tx.putRow(row(idOf(o.id), TYPES[0], o.v));
                await tx.deleteRow(idOf(o.id + 1));
                await tx.putEntry({ seq: Number.NaN } as OutboxEntry);
              })).rejects.toThrow();
              break;
            case "clear":
              await s.update((tx) => tx.clear());
              model.clear();
              break;
          }
          const all = sortById([...model.values()]);
          const got = await s.read(async (tx) => ({
            all: await tx.allRows(),
            byType: await Promise.all(TYPES.map((t) => tx.rowsOfType(t))),
            one: await Promise.all(all.slice(0, 20).map((r) => tx.row(r.id))),
          }));
          expect(got.all).toEqual(all);
          TYPES.forEach((t, i) => expect(got.byType[i]).toEqual(all.filter((r) => r.type === t)));
          expect(got.one).toEqual(all.slice(0, 20));
          expect((await raw(factory, name)).ids).toEqual(all.map((r) => r.id));
        }
        s.close();
      }),
      { numRuns: 25 },
    );
  }, 300_000);

  it("spreads ids over every directory shard", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(shardOf(idOf(i)));
    expect(seen.size).toBe(SHARDS);
  });
});

describe("migration from one value per record (schema 2)", () => {
  /** A schema 2 store as the SDK before this one made it, holding rows, unsynced writes and a queued photo. */
  async function version2(factory: IDBFactory, name: string, rows: RecordRow[], entries: OutboxEntry[], photo: QueuedPhoto) {
    await new Promise<void>((resolve, reject) => {
      const req = factory.open(name, 2);
      req.onupgradeneeded = () => {
        const db = req.result;
        db.createObjectStore("meta").put({ nextSeq: entries.length + 1, cursor: "c9", token: "t", tokenHash: "h" }, "meta");
        const records = db.createObjectStore("records", { keyPath: "id" });
        records.createIndex("type", "type");
        for (const r of rows) records.put(r);
        const outbox = db.createObjectStore("outbox", { keyPath: "seq" });
        outbox.createIndex("recordId", "recordId");
        for (const e of entries) outbox.put(e);
        db.createObjectStore("conflicts");
        db.createObjectStore("rejections", { keyPath: "entry.seq" });
        db.createObjectStore("photos", { keyPath: "sha256" }).put(photo);
        db.createObjectStore("photoBlobs").put(new Blob([Uint8Array.of(1, 2, 3)], { type: "image/jpeg" }), photo.sha256);
      };
      req.onsuccess = () => (req.result.close(), resolve());
      req.onerror = () => reject(req.error);
    });
  }

  it("keeps every record, unsynced write and photo, in chunks, and the store works on", async () => {
    const factory = new IDBFactory();
    const rows = Array.from({ length: 700 }, (_, i) => row(idOf(i), TYPES[i % 3], i, i % 50 === 0 ? RowState.Edited : RowState.Synced));
    rows[3] = { ...rows[3], photos: [{ sha256: "ab", available: false }] };
    const entries: OutboxEntry[] = rows.filter((r) => r.state === RowState.Edited).map((r, i) => ({
      seq: i + 1, type: r.type, recordId: r.id, fields: ["notes"], value: Uint8Array.of(i), del: false, hlc: BigInt(i + 1), created: 1000 + i, acked: false, lost: [],
    }));
    const photo: QueuedPhoto = {
      sha256: "ab", size: 3, contentType: "image/jpeg", recordType: TYPES[0], recordId: rows[3].id, slot: "photos", hlc: 5n, state: QueueState.Queued,
      uploadId: "", offset: 0, recreated: 0, failures: 0, retryAt: 0, error: "", created: 1, done: 0,
    };
    await version2(factory, "v2", rows, entries, photo);

    const s = await openIndexedDBStorage("v2", { indexedDB: factory });
    const got = await s.read(async (tx) => ({
      meta: await tx.meta(), all: await tx.allRows(), visits: await tx.rowsOfType(TYPES[0]), one: await tx.row(rows[3].id),
      outbox: await tx.outbox(), photos: await tx.photos(), blob: await tx.photoBlob("ab"),
    }));
    expect(got.meta).toMatchObject({ nextSeq: entries.length + 1, cursor: "c9", token: "t", tokenHash: "h" });
    expect(got.all).toEqual(rows);
    expect(got.visits).toEqual(rows.filter((r) => r.type === TYPES[0]));
    expect(got.one).toEqual(rows[3]);
    expect(got.outbox).toEqual(entries);
    expect(got.photos).toEqual([photo]);
    expect(new Uint8Array(await got.blob!.arrayBuffer())).toEqual(Uint8Array.of(1, 2, 3));

    await s.update((tx) => tx.putRow(row("new", TYPES[1], 1)));
    await s.update((tx) => tx.deleteRow(rows[0].id));
    expect(await s.read((tx) => tx.row("new"))).toEqual(row("new", TYPES[1], 1));
    expect(await s.read((tx) => tx.row(rows[0].id))).toBeUndefined();
    s.close();

    const after = await raw(factory, "v2");
    expect(after.stores).not.toContain("records");
    expect(after.ids).toEqual([...rows.slice(1).map((r) => r.id), "new"].sort());
    expect(after.chunks).toBeLessThan(12); // 700 rows of 3 types: 3 chunks a type, plus the new row's

    // Opening it again is no upgrade and changes nothing.
    const again = await openIndexedDBStorage("v2", { indexedDB: factory });
    expect((await again.read((tx) => tx.allRows())).length).toBe(700);
    again.close();
  });

  it("steps aside for a newer version's upgrade from another tab instead of blocking it", async () => {
    const factory = new IDBFactory();
    const s = await openIndexedDBStorage("newer", { indexedDB: factory });
    let blocked = false;
    const newer = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open("newer", 1000);
      req.onblocked = () => (blocked = true);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    expect(blocked, "the upgrade was not blocked by the open store").toBe(false);
    expect(newer.version).toBe(1000);
    newer.close();
    await expect(s.read((tx) => tx.row("x"))).rejects.toThrow();
  });

  it("leaves a store it cannot migrate as it was: the open fails, nothing is lost", async () => {
    const factory = new IDBFactory();
    const good = row("a", TYPES[0], 1);
    const odd = { ...row("b", TYPES[0], 2), id: [1, 2] } as unknown as RecordRow; // a valid key, but not a string id
    const photo: QueuedPhoto = {
      sha256: "cd", size: 3, contentType: "image/jpeg", recordType: TYPES[0], recordId: "a", slot: "photos", hlc: 1n, state: QueueState.Queued,
      uploadId: "", offset: 0, recreated: 0, failures: 0, retryAt: 0, error: "", created: 1, done: 0,
    };
    const entry: OutboxEntry = { seq: 1, type: TYPES[0], recordId: "a", fields: ["notes"], value: Uint8Array.of(1), del: false, hlc: 1n, created: 1, acked: false, lost: [] };
    await version2(factory, "bad", [good, odd], [entry], photo);
    await expect(openIndexedDBStorage("bad", { indexedDB: factory })).rejects.toThrow();
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open("bad");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    expect(db.version).toBe(2);
    expect(Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i)).sort()).toEqual(["conflicts", "meta", "outbox", "photoBlobs", "photos", "records", "rejections"]);
    const t = db.transaction(["records", "outbox", "photos"]);
    const all = <T>(r: IDBRequest<T>) => new Promise<T>((resolve) => (r.onsuccess = () => resolve(r.result)));
    expect(await all(t.objectStore("records").count())).toBe(2);
    expect(await all(t.objectStore("outbox").getAll())).toEqual([entry]);
    expect(await all(t.objectStore("photos").getAll())).toEqual([photo]);
    db.close();
  });
});
