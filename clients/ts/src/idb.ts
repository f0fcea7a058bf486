import { initialMeta, type Meta, type OutboxEntry, type QueuedPhoto, type RecordPhoto, type RecordRow, type Storage, type StoreTx, type StoredConflict, type StoredRejection } from "./storage.js";

// IndexedDB itself, without a promise wrapper library: a pulled page is
// thousands of rows, and a wrapper's promise and listeners per request cost
// more than the request's own JavaScript (see BENCHMARKS.md).
//
// Records are stored in chunks, not one IndexedDB value each: one put costs
// about the same whatever the value (BENCHMARKS.md, issue 12), so a pulled
// page of 5,000 rows is ~20 chunk puts and a few directory puts instead of
// 5,000 puts. The layout (version 3):
//   chunks     number → StoredChunk: up to CHUNK_ROWS rows by column (new rows
//              are grouped by type), with a multiEntry index "types" on the
//              types they hold
//   directory  shard number → StoredShard (id → chunk number), the shard of
//              an id being a hash of it mod SHARDS; HEAD → the next chunk
//              number and, per type, the chunk new rows of that type go to
// Every id is in exactly one chunk, the one its shard names. A transaction
// keeps its record writes in memory (reads see them) and applies them when
// its function has returned, before it commits: the shards and chunks they
// touch are read once and written once.

type StoreName = "meta" | "chunks" | "directory" | "outbox" | "conflicts" | "rejections" | "photos" | "photoBlobs";
const STORES: StoreName[] = ["meta", "chunks", "directory", "outbox", "conflicts", "rejections", "photos", "photoBlobs"];
/** 1: records, outbox, conflicts, rejections. 2: the photo queue and its bytes. 3: records in chunks (the records store migrated and dropped). */
const SCHEMA_VERSION = 3;
/** Rows a chunk takes new rows up to (rows updated in place stay where they are). */
export const CHUNK_ROWS = 256;
/** Directory shards: a page touches at most this many directory values. */
export const SHARDS = 32;
/** The directory's key of the Head. */
const HEAD = -1;

/** One stored chunk of rows. */
interface Chunk {
  rows: RecordRow[];
  /** The distinct types of rows (the "types" index). */
  types: string[];
}

/** Where new rows go. */
interface Head {
  next: number;
  tails: Map<string, number>;
}

/**
 * Opens (creating when missing) the IndexedDB database name as a device
 * store. In browsers it uses the page's indexedDB; in Node pass a factory
 * (e.g. fake-indexeddb's) in options. A store of an older version is
 * upgraded in place, keeping everything it holds (records, outbox, photos).
 */
export async function openIndexedDBStorage(name: string, options: { indexedDB?: IDBFactory } = {}): Promise<Storage> {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) throw new Error("openIndexedDBStorage: no indexedDB here; pass options.indexedDB");
  const req = factory.open(name, SCHEMA_VERSION);
  let migrating: Promise<void> = Promise.resolve();
  req.onupgradeneeded = (ev) => {
    const t = req.transaction!;
    migrating = upgrade(req.result, t, ev.oldVersion);
    migrating.catch(() => {
      try {
        t.abort(); // the open fails and the store stays at its old version, untouched
      } catch {
        // already finished
      }
    });
  };
  let db: IDBDatabase;
  try {
    db = await result(req);
  } catch (err) {
    throw (await migrating.then(() => undefined, (e: unknown) => e)) ?? err;
  }
  try {
    await migrating;
  } catch (err) {
    db.close();
    throw err;
  }
  // A newer SDK in another tab upgrading the store waits until every
  // connection is closed: this one steps aside (its later transactions
  // fail, and the page should reload) rather than hold the upgrade forever.
  db.onversionchange = () => db.close();
  return new IDBStorage(db);
}

/** Brings a store from version from to SCHEMA_VERSION, keeping what it holds (inside the versionchange transaction t). */
async function upgrade(db: IDBDatabase, t: IDBTransaction, from: number): Promise<void> {
  if (from < 1) {
    db.createObjectStore("meta").put(initialMeta(), "meta");
    db.createObjectStore("outbox", { keyPath: "seq" }).createIndex("recordId", "recordId");
    db.createObjectStore("conflicts");
    db.createObjectStore("rejections", { keyPath: "entry.seq" });
  }
  if (from < 2) {
    db.createObjectStore("photos", { keyPath: "sha256" });
    db.createObjectStore("photoBlobs");
  }
  if (from < 3) {
    db.createObjectStore("chunks").createIndex("types", "types", { multiEntry: true });
    db.createObjectStore("directory");
    if (from >= 1) {
      // Version 1 and 2 kept one value per record in "records" (keyPath id, index type).
      const rows = (await result(t.objectStore("records").getAll())) as RecordRow[];
      db.deleteObjectStore("records");
      const tx = new Tx(t);
      for (const r of rows) await tx.putRow(r);
      await tx.flush();
    }
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
      const tx = new Tx(t);
      out = await fn(tx);
      await tx.flush(); // the record writes, before the transaction commits
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
  private readonly stores = new Map<StoreName, IDBObjectStore>();
  /** Record writes not yet applied to chunks (null: deleted), in write order. */
  private writes = new Map<string, RecordRow | null>();
  /** The stored shards, chunks and head as this transaction read them (and, after flush, wrote them). */
  private shards = new Map<number, Promise<Map<string, number>>>();
  private chunks = new Map<number, Promise<Chunk | undefined>>();
  private head_: Promise<Head> | null = null;

  constructor(private readonly t: IDBTransaction) {}

  private s(name: StoreName): IDBObjectStore {
    let s = this.stores.get(name);
    if (!s) this.stores.set(name, (s = this.t.objectStore(name)));
    return s;
  }

  private shard(n: number): Promise<Map<string, number>> {
    let p = this.shards.get(n);
    if (!p) this.shards.set(n, (p = result(this.s("directory").get(n)).then((v) => decodeShard(v as StoredShard | undefined))));
    return p;
  }

  private chunk(k: number): Promise<Chunk | undefined> {
    let p = this.chunks.get(k);
    if (!p) this.chunks.set(k, (p = result(this.s("chunks").get(k)).then((v) => v && decodeChunk(v as StoredChunk))));
    return p;
  }

  private head(): Promise<Head> {
    return (this.head_ ??= result(this.s("directory").get(HEAD)).then((h) => (h as Head | undefined) ?? { next: 1, tails: new Map() }));
  }

  async meta(): Promise<Meta> {
    return { ...initialMeta(), ...((await result(this.s("meta").get("meta"))) as Meta | undefined) };
  }
  setMeta(m: Meta): Promise<void> {
    return queued(this.s("meta").put(m, "meta"));
  }
  async row(id: string): Promise<RecordRow | undefined> {
    const w = this.writes.get(id);
    if (w !== undefined) return w === null ? undefined : copy(w);
    const k = (await this.shard(shardOf(id))).get(id);
    if (k === undefined) return undefined;
    const c = await this.chunk(k);
    const r = c && c.rows[positions(c).get(id) ?? -1];
    return r && copy(r);
  }
  putRow(r: RecordRow): Promise<void> {
    this.writes.delete(r.id); // later writes last: new rows are appended in write order
    // The bytes are copied into the chunk's one buffer when the transaction
    // flushes (a pulled record's bytes are a view into the whole response).
    const w: RecordRow = { ...r };
    if (r.photos) w.photos = r.photos.map((p) => ({ ...p }));
    this.writes.set(r.id, w);
    return DONE;
  }
  deleteRow(id: string): Promise<void> {
    this.writes.delete(id);
    this.writes.set(id, null);
    return DONE;
  }
  async rowsOfType(type: string): Promise<RecordRow[]> {
    const keys = (await result(this.s("chunks").index("types").getAllKeys(type))) as number[];
    const out: RecordRow[] = [];
    for (const c of await Promise.all(keys.map((k) => this.chunk(k)))) {
      if (c) for (const r of c.rows) if (r.type === type && !this.writes.has(r.id)) out.push(copy(r));
    }
    for (const r of this.writes.values()) if (r && r.type === type) out.push(copy(r));
    return out.sort(byId);
  }
  async allRows(): Promise<RecordRow[]> {
    const [keys, values] = await Promise.all([result(this.s("chunks").getAllKeys()), result(this.s("chunks").getAll())]);
    const out: RecordRow[] = [];
    (keys as number[]).forEach((k, i) => {
      const c = decodeChunk(values[i] as StoredChunk);
      if (!this.chunks.has(k)) this.chunks.set(k, Promise.resolve(c));
      for (const r of c.rows) if (!this.writes.has(r.id)) out.push(copy(r));
    });
    for (const r of this.writes.values()) if (r) out.push(copy(r));
    return out.sort(byId);
  }

  /**
   * Applies the record writes to the stored chunks and directory: the
   * shards of the written ids and the head are read at once, then the
   * chunks holding written ids and the tails new rows go to, then every
   * changed value is put once.
   */
  async flush(): Promise<void> {
    if (this.writes.size === 0) return;
    const writes = this.writes;
    this.writes = new Map();
    const nos = new Set<number>();
    for (const id of writes.keys()) nos.add(shardOf(id));
    const [head, loaded] = await Promise.all([this.head(), Promise.all([...nos].map(async (n) => [n, await this.shard(n)] as const))]);
    const shards = new Map(loaded);
    const need = new Set<number>();
    for (const [id, r] of writes) {
      const k = shards.get(shardOf(id))!.get(id);
      if (k !== undefined) need.add(k);
      else if (r) {
        const tail = head.tails.get(r.type);
        if (tail !== undefined) need.add(tail);
      }
    }
    const chunks = new Map<number, Chunk | undefined>();
    await Promise.all([...need].map(async (k) => chunks.set(k, await this.chunk(k))));
    const dirty = new Set<number>();
    const dirtyShards = new Set<number>();
    let headDirty = false;
    for (const [id, r] of writes) {
      const n = shardOf(id);
      const shard = shards.get(n)!;
      const k = shard.get(id);
      const c = k === undefined ? undefined : chunks.get(k);
      const at = c ? positions(c).get(id) : undefined;
      if (c && at !== undefined) {
        // In place (a removal leaves a hole, dropped when the chunk is put).
        c.rows[at] = r ?? (undefined as unknown as RecordRow);
        if (r === null) positions(c).delete(id);
        dirty.add(k!);
        if (r === null) {
          shard.delete(id);
          dirtyShards.add(n);
        }
        continue;
      }
      if (k !== undefined) {
        shard.delete(id); // names a chunk without the row (not expected): heal
        dirtyShards.add(n);
      }
      if (r === null) continue;
      let tk = head.tails.get(r.type);
      let tc = tk === undefined ? undefined : chunks.get(tk);
      if (!tc || tc.rows.length >= CHUNK_ROWS) {
        tk = head.next++;
        tc = { rows: [], types: [] };
        chunks.set(tk, tc);
        this.chunks.set(tk, Promise.resolve(tc));
        head.tails.set(r.type, tk);
        headDirty = true;
      }
      positions(tc).set(id, tc.rows.length);
      tc.rows.push(r);
      dirty.add(tk!);
      shard.set(id, tk!);
      dirtyShards.add(n);
    }
    for (const k of dirty) {
      const c = chunks.get(k)!;
      if (c.rows.some((r) => r === undefined)) {
        c.rows = c.rows.filter((r) => r !== undefined);
        index.delete(c);
      }
      c.types = [...new Set(c.rows.map((r) => r.type))];
      if (c.rows.length > 0) {
        this.s("chunks").put(encodeChunk(c), k);
        continue;
      }
      this.s("chunks").delete(k);
      for (const [type, tk] of head.tails) {
        if (tk === k) {
          head.tails.delete(type);
          headDirty = true;
        }
      }
    }
    for (const n of dirtyShards) {
      const shard = shards.get(n)!;
      if (shard.size > 0) this.s("directory").put(encodeShard(shard), n);
      else this.s("directory").delete(n);
    }
    if (headDirty) this.s("directory").put(head, HEAD);
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
    this.writes.clear();
    this.shards.clear();
    this.chunks.clear();
    this.head_ = null;
    await this.setMeta(initialMeta());
  }
}

/**
 * A chunk as stored: its rows by column, in a few typed arrays and strings
 * rather than an object per row. A structured clone costs per object and
 * per ArrayBuffer (a 256-row chunk of row objects took ~7 ms to serialize
 * and ~10 to read back on the loaded benchmark machine); these are copies
 * of a few buffers.
 */
export interface StoredChunk {
  /** The ids, one after the other; idLen[i] is the length of the i-th. */
  ids: string;
  idLen: Uint32Array;
  /** The distinct types (the "types" index); type[i] indexes them. */
  types: string[];
  type: Uint16Array;
  version: BigUint64Array;
  hlc: BigUint64Array;
  gen: Float64Array;
  state: Uint8Array;
  /** Each row's base then view bytes; -1: null. */
  bytes: Uint8Array;
  baseLen: Int32Array;
  viewLen: Int32Array;
  /** 0: the row's photos are absent; 1: an empty list; 2: the next list of photoLists. */
  hasPhotos: Uint8Array;
  photoLists: RecordPhoto[][];
}

const U64 = 1n << 64n;

function encodeChunk(c: Chunk): StoredChunk {
  const n = c.rows.length;
  const types = [...new Set(c.rows.map((r) => r.type))];
  const typeNo = new Map(types.map((t, i) => [t, i]));
  const out: StoredChunk = {
    ids: "", idLen: new Uint32Array(n), types, type: new Uint16Array(n), version: new BigUint64Array(n), hlc: new BigUint64Array(n),
    gen: new Float64Array(n), state: new Uint8Array(n), bytes: new Uint8Array(0), baseLen: new Int32Array(n), viewLen: new Int32Array(n),
    hasPhotos: new Uint8Array(n), photoLists: [],
  };
  const ids: string[] = [];
  let size = 0;
  c.rows.forEach((r, i) => {
    if (r.version < 0n || r.version >= U64 || r.hlc < 0n || r.hlc >= U64) throw new RangeError(`record ${r.id}: version or hlc out of uint64`);
    ids.push(r.id);
    out.idLen[i] = r.id.length;
    out.type[i] = typeNo.get(r.type)!;
    out.version[i] = r.version;
    out.hlc[i] = r.hlc;
    out.gen[i] = r.gen;
    out.state[i] = r.state;
    out.baseLen[i] = r.base === null ? -1 : r.base.length;
    out.viewLen[i] = r.view === null ? -1 : r.view.length;
    size += (r.base?.length ?? 0) + (r.view?.length ?? 0);
    if (r.photos) {
      out.hasPhotos[i] = r.photos.length === 0 ? 1 : 2;
      if (r.photos.length > 0) out.photoLists.push(r.photos);
    }
  });
  out.ids = ids.join("");
  out.bytes = new Uint8Array(size);
  let at = 0;
  for (const r of c.rows) {
    if (r.base) out.bytes.set(r.base, at), (at += r.base.length);
    if (r.view) out.bytes.set(r.view, at), (at += r.view.length);
  }
  return out;
}

/** The rows of a stored chunk; their bytes are views into the chunk's one buffer. */
export function decodeChunk(s: StoredChunk): Chunk {
  const n = s.idLen.length;
  const rows: RecordRow[] = new Array(n);
  let id = 0;
  let at = 0;
  let photo = 0;
  for (let i = 0; i < n; i++) {
    const bl = s.baseLen[i];
    const base = bl < 0 ? null : s.bytes.subarray(at, (at += bl));
    const vl = s.viewLen[i];
    const view = vl < 0 ? null : s.bytes.subarray(at, (at += vl));
    const r: RecordRow = {
      id: s.ids.slice(id, (id += s.idLen[i])), type: s.types[s.type[i]], base, version: s.version[i], hlc: s.hlc[i], gen: s.gen[i], state: s.state[i], view,
    };
    if (s.hasPhotos[i]) r.photos = s.hasPhotos[i] === 1 ? [] : s.photoLists[photo++];
    rows[i] = r;
  }
  return { rows, types: s.types };
}

/** A directory shard as stored: ids one after the other, their lengths, their chunks. */
export interface StoredShard {
  ids: string;
  idLen: Uint32Array;
  chunk: Float64Array;
}

function encodeShard(m: Map<string, number>): StoredShard {
  const idLen = new Uint32Array(m.size);
  const chunk = new Float64Array(m.size);
  let i = 0;
  for (const [id, k] of m) {
    idLen[i] = id.length;
    chunk[i++] = k;
  }
  return { ids: [...m.keys()].join(""), idLen, chunk };
}

export function decodeShard(s: StoredShard | undefined): Map<string, number> {
  const m = new Map<string, number>();
  if (!s) return m;
  let at = 0;
  for (let i = 0; i < s.idLen.length; i++) m.set(s.ids.slice(at, (at += s.idLen[i])), s.chunk[i]);
  return m;
}

/** A chunk's row positions by id, built once per chunk object. */
const index = new WeakMap<Chunk, Map<string, number>>();
function positions(c: Chunk): Map<string, number> {
  let m = index.get(c);
  if (!m) {
    m = new Map();
    c.rows.forEach((r, i) => r && m!.set(r.id, i));
    index.set(c, m);
  }
  return m;
}

/** The directory shard of an id (FNV-1a of its UTF-16 code units). */
export function shardOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARDS;
}

/** A row the caller may change without changing what the transaction holds. */
function copy(r: RecordRow): RecordRow {
  return r.photos ? { ...r, photos: r.photos.map((p) => ({ ...p })) } : { ...r };
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

function byId(a: RecordRow, b: RecordRow): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
