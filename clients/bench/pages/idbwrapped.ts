// The SDK's IndexedDB store as it was before it dropped the idb wrapper
// (clients/ts/src/idb.ts at 6cd10e1), kept for the benchmark's before/after
// case only: `node run.mjs --cases=IndexedDB` runs both in one run.
import { wrap, type DBSchema, type IDBPDatabase, type IDBPTransaction } from "idb";
import { initialMeta, type Meta, type OutboxEntry, type QueuedPhoto, type RecordRow, type Storage, type StoreTx, type StoredConflict, type StoredRejection } from "../../ts/src/storage.js";

interface Schema extends DBSchema {
  meta: { key: string; value: Meta };
  records: { key: string; value: RecordRow; indexes: { type: string } };
  outbox: { key: number; value: OutboxEntry; indexes: { recordId: string } };
  conflicts: { key: string; value: StoredConflict };
  rejections: { key: number; value: StoredRejection };
  photos: { key: string; value: QueuedPhoto };
  photoBlobs: { key: string; value: Blob };
}

type Names = ("meta" | "records" | "outbox" | "conflicts" | "rejections" | "photos" | "photoBlobs")[];
const STORES: Names = ["meta", "records", "outbox", "conflicts", "rejections", "photos", "photoBlobs"];
/** 1: records, outbox, conflicts, rejections. 2: the photo queue and its bytes. */
const SCHEMA_VERSION = 2;

/**
 * Opens (creating when missing) the IndexedDB database name as a device
 * store. In browsers it uses the page's indexedDB; in Node pass a factory
 * (e.g. fake-indexeddb's) in options.
 */
export async function openIndexedDBStorage(name: string, options: { indexedDB?: IDBFactory } = {}): Promise<Storage> {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) throw new Error("openIndexedDBStorage: no indexedDB here; pass options.indexedDB");
  const req = factory.open(name, SCHEMA_VERSION);
  req.onupgradeneeded = (ev) => upgrade(req.result, ev.oldVersion);
  const db = (await wrap(req)) as unknown as IDBPDatabase<Schema>;
  return new IDBStorage(db);
}

/** Brings a store from version from to SCHEMA_VERSION, keeping what it holds. */
function upgrade(db: IDBDatabase, from: number): void {
  if (from < 1) {
    db.createObjectStore("meta").put(initialMeta(), "meta");
    db.createObjectStore("records", { keyPath: "id" }).createIndex("type", "type");
    db.createObjectStore("outbox", { keyPath: "seq" }).createIndex("recordId", "recordId");
    db.createObjectStore("conflicts");
    db.createObjectStore("rejections", { keyPath: "entry.seq" });
  }
  if (from < 2) {
    db.createObjectStore("photos", { keyPath: "sha256" });
    db.createObjectStore("photoBlobs");
  }
}

/** Deletes the IndexedDB database name (see Client.signOut). */
export async function deleteIndexedDBStorage(name: string, options: { indexedDB?: IDBFactory } = {}): Promise<void> {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  await new Promise<void>((resolve, reject) => {
    const req = factory.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
  });
}

class IDBStorage implements Storage {
  constructor(private readonly db: IDBPDatabase<Schema>) {}

  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("readonly", fn);
  }

  update<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("readwrite", fn);
  }

  private async run<T>(mode: IDBTransactionMode, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const t = this.db.transaction(STORES, mode as "readwrite", { durability: "strict" });
    let out: T;
    try {
      out = await fn(new Tx(t));
    } catch (err) {
      try {
        t.abort();
      } catch {
        // already finished
      }
      await t.done.catch(() => undefined);
      throw err;
    }
    await t.done;
    return out;
  }

  close(): void {
    this.db.close();
  }
}

type T = IDBPTransaction<Schema, Names, "readwrite">;

class Tx implements StoreTx {
  constructor(private readonly t: T) {}

  async meta(): Promise<Meta> {
    return { ...initialMeta(), ...(await this.t.objectStore("meta").get("meta")) };
  }
  setMeta(m: Meta): Promise<void> {
    return queued(this.t.objectStore("meta").put(m, "meta"));
  }
  row(id: string): Promise<RecordRow | undefined> {
    return this.t.objectStore("records").get(id);
  }
  putRow(r: RecordRow): Promise<void> {
    return queued(this.t.objectStore("records").put({ ...r, base: own(r.base), view: own(r.view) }));
  }
  deleteRow(id: string): Promise<void> {
    return queued(this.t.objectStore("records").delete(id));
  }
  async rowsOfType(type: string): Promise<RecordRow[]> {
    return (await this.t.objectStore("records").index("type").getAll(type)).sort(byId);
  }
  allRows(): Promise<RecordRow[]> {
    return this.t.objectStore("records").getAll();
  }
  outbox(): Promise<OutboxEntry[]> {
    return this.t.objectStore("outbox").getAll();
  }
  async entriesFor(recordId: string): Promise<OutboxEntry[]> {
    return (await this.t.objectStore("outbox").index("recordId").getAll(recordId)).sort((a, b) => a.seq - b.seq);
  }
  putEntry(e: OutboxEntry): Promise<void> {
    return queued(this.t.objectStore("outbox").put(e));
  }
  deleteEntry(seq: number): Promise<void> {
    return queued(this.t.objectStore("outbox").delete(seq));
  }
  putConflict(c: StoredConflict): Promise<void> {
    return queued(this.t.objectStore("conflicts").put(c, c.id.toString().padStart(20, "0")));
  }
  conflicts(): Promise<StoredConflict[]> {
    return this.t.objectStore("conflicts").getAll();
  }
  putRejection(r: StoredRejection): Promise<void> {
    return queued(this.t.objectStore("rejections").put(r));
  }
  rejections(): Promise<StoredRejection[]> {
    return this.t.objectStore("rejections").getAll();
  }
  photo(sha256: string): Promise<QueuedPhoto | undefined> {
    return this.t.objectStore("photos").get(sha256);
  }
  putPhoto(p: QueuedPhoto): Promise<void> {
    return queued(this.t.objectStore("photos").put(p));
  }
  async photos(): Promise<QueuedPhoto[]> {
    return (await this.t.objectStore("photos").getAll()).sort((a, b) => a.created - b.created || (a.sha256 < b.sha256 ? -1 : 1));
  }
  photoBlob(sha256: string): Promise<Blob | undefined> {
    return this.t.objectStore("photoBlobs").get(sha256);
  }
  putPhotoBlob(sha256: string, blob: Blob): Promise<void> {
    return queued(this.t.objectStore("photoBlobs").put(blob, sha256));
  }
  deletePhotoBlob(sha256: string): Promise<void> {
    return queued(this.t.objectStore("photoBlobs").delete(sha256));
  }
  async clear(): Promise<void> {
    for (const name of STORES) await this.t.objectStore(name).clear();
    await this.setMeta(initialMeta());
  }
}

/**
 * A write queued in the transaction, not waited for: the transaction runs
 * its requests in order, so later reads see it, and one that fails aborts
 * the transaction, which Storage.update reports. Waiting for each request
 * costs a task per record (a page of 1,000 pulled records is 1,000 puts).
 */
function queued(req: Promise<unknown>): Promise<void> {
  req.catch(() => undefined);
  return Promise.resolve();
}

/**
 * The bytes b in a buffer of their own. A pulled record's bytes are a view
 * into the whole response, and a structured clone of a view stores its
 * whole buffer: every row of a page would hold the page.
 */
function own(b: Uint8Array | null): Uint8Array | null {
  return b === null || (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) ? b : b.slice();
}

function byId(a: RecordRow, b: RecordRow): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
