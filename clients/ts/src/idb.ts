import { initialMeta, type Meta, type OutboxEntry, type QueuedPhoto, type RecordRow, type Storage, type StoreTx, type StoredConflict, type StoredRejection } from "./storage.js";

// IndexedDB itself, without a promise wrapper library: a pulled page is a
// thousand puts, and a wrapper's promise and listeners per request cost
// more than the request's own JavaScript (see BENCHMARKS.md).

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
  return new IDBStorage(await result(req));
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
  constructor(private readonly db: IDBDatabase) {}

  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("readonly", fn);
  }

  update<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("readwrite", fn);
  }

  private async run<T>(mode: IDBTransactionMode, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const t = this.db.transaction(STORES, mode, { durability: "strict" });
    const done = new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onabort = () => reject(t.error ?? new DOMException("the transaction was aborted", "AbortError"));
    });
    done.catch(() => undefined); // awaited below, or moot when fn threw
    let out: T;
    try {
      out = await fn(new Tx(t));
    } catch (err) {
      try {
        t.abort();
      } catch {
        // already finished
      }
      await done.catch(() => undefined);
      throw err;
    }
    await done;
    return out;
  }

  close(): void {
    this.db.close();
  }
}

class Tx implements StoreTx {
  private readonly stores = new Map<Names[number], IDBObjectStore>();
  constructor(private readonly t: IDBTransaction) {}

  private s(name: Names[number]): IDBObjectStore {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = this.t.objectStore(name)));
    return s;
  }

  async meta(): Promise<Meta> {
    return { ...initialMeta(), ...((await result(this.s("meta").get("meta"))) as Meta | undefined) };
  }
  setMeta(m: Meta): Promise<void> {
    return queued(this.s("meta").put(m, "meta"));
  }
  row(id: string): Promise<RecordRow | undefined> {
    return result(this.s("records").get(id));
  }
  putRow(r: RecordRow): Promise<void> {
    return queued(this.s("records").put({ ...r, base: own(r.base), view: own(r.view) }));
  }
  deleteRow(id: string): Promise<void> {
    return queued(this.s("records").delete(id));
  }
  async rowsOfType(type: string): Promise<RecordRow[]> {
    return ((await result(this.s("records").index("type").getAll(type))) as RecordRow[]).sort(byId);
  }
  allRows(): Promise<RecordRow[]> {
    return result(this.s("records").getAll());
  }
  outbox(): Promise<OutboxEntry[]> {
    return result(this.s("outbox").getAll());
  }
  async entriesFor(recordId: string): Promise<OutboxEntry[]> {
    return ((await result(this.s("outbox").index("recordId").getAll(recordId))) as OutboxEntry[]).sort((a, b) => a.seq - b.seq);
  }
  putEntry(e: OutboxEntry): Promise<void> {
    return queued(this.s("outbox").put(e));
  }
  deleteEntry(seq: number): Promise<void> {
    return queued(this.s("outbox").delete(seq));
  }
  putConflict(c: StoredConflict): Promise<void> {
    return queued(this.s("conflicts").put(c, c.id.toString().padStart(20, "0")));
  }
  conflicts(): Promise<StoredConflict[]> {
    return result(this.s("conflicts").getAll());
  }
  putRejection(r: StoredRejection): Promise<void> {
    return queued(this.s("rejections").put(r));
  }
  rejections(): Promise<StoredRejection[]> {
    return result(this.s("rejections").getAll());
  }
  photo(sha256: string): Promise<QueuedPhoto | undefined> {
    return result(this.s("photos").get(sha256));
  }
  putPhoto(p: QueuedPhoto): Promise<void> {
    return queued(this.s("photos").put(p));
  }
  async photos(): Promise<QueuedPhoto[]> {
    return ((await result(this.s("photos").getAll())) as QueuedPhoto[]).sort((a, b) => a.created - b.created || (a.sha256 < b.sha256 ? -1 : 1));
  }
  photoBlob(sha256: string): Promise<Blob | undefined> {
    return result(this.s("photoBlobs").get(sha256));
  }
  putPhotoBlob(sha256: string, blob: Blob): Promise<void> {
    return queued(this.s("photoBlobs").put(blob, sha256));
  }
  deletePhotoBlob(sha256: string): Promise<void> {
    return queued(this.s("photoBlobs").delete(sha256));
  }
  async clear(): Promise<void> {
    for (const name of STORES) await result(this.s(name).clear());
    await this.setMeta(initialMeta());
  }
}

/** A request's result, or its error. */
function result<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * A write queued in the transaction, not waited for: the transaction runs
 * its requests in order, so later reads see it, and one that fails aborts
 * the transaction, which Storage.update reports. Waiting for each request
 * costs a task per record (a page of 1,000 pulled records is 1,000 puts).
 */
function queued(_req: IDBRequest): Promise<void> {
  return DONE;
}
const DONE = Promise.resolve();

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
