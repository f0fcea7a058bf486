// A minimal SQLite-WASM (OPFS, opfs-sahpool VFS) implementation of the SDK's
// Storage interface: only as far as the benchmark needs (records, outbox,
// meta, conflicts and rejections; no photos). Runs in a dedicated worker,
// where the SAH pool's synchronous OPFS access handles exist. Not shipped.
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";
import { initialMeta, type Meta, type OutboxEntry, type RecordRow, type Storage, type StoreTx } from "../../ts/src/index.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, type TEXT NOT NULL, base BLOB, version TEXT NOT NULL, hlc TEXT NOT NULL, gen INTEGER NOT NULL, state INTEGER NOT NULL, view BLOB);
CREATE INDEX IF NOT EXISTS records_type ON records (type, id);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, value BLOB, v TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_record ON outbox (record_id, seq);
CREATE TABLE IF NOT EXISTS kv (store TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (store, k));
`;

/** JSON that keeps bigints and byte arrays. */
const enc = (v: unknown) => JSON.stringify(v, (_k, x) => typeof x === "bigint" ? { $b: x.toString() } : x instanceof Uint8Array ? { $u: Array.from(x) } : x);
const dec = <T>(s: string): T => JSON.parse(s, (_k, x) => x && typeof x === "object" ? ("$b" in x ? BigInt(x.$b) : "$u" in x ? new Uint8Array(x.$u) : x) : x);

/** Opens (creating) the SQLite database name in the OPFS SAH pool; clear empties the pool first. */
export async function openSqliteStorage(name: string, opts: { clear?: boolean; synchronous?: "FULL" | "NORMAL" } = {}): Promise<Storage> {
  const sqlite3: any = await sqlite3InitModule();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: "fieldsync-bench", clearOnInit: opts.clear ?? false });
  const db = new pool.OpfsSAHPoolDb("/" + name);
  db.exec(`PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=${opts.synchronous ?? "FULL"};` + SCHEMA);
  return new SqliteStorage(db);
}

class SqliteStorage implements Storage {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tx: SqliteTx;

  constructor(private readonly db: any) {
    this.tx = new SqliteTx(db);
  }

  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("BEGIN", fn);
  }

  update<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.run("BEGIN IMMEDIATE", fn);
  }

  /** One connection, so transactions queue: fn's awaits are only this store's, which answer at once. */
  private run<T>(begin: string, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const p = this.queue.then(async () => {
      this.db.exec(begin);
      try {
        const out = await fn(this.tx);
        this.db.exec("COMMIT");
        return out;
      } catch (err) {
        this.db.exec("ROLLBACK");
        throw err;
      }
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.tx.finalize();
    this.db.close();
  }
}

class SqliteTx implements StoreTx {
  private readonly putRowStmt: any;
  private readonly getRowStmt: any;

  constructor(private readonly db: any) {
    this.putRowStmt = db.prepare("INSERT OR REPLACE INTO records (id, type, base, version, hlc, gen, state, view) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    this.getRowStmt = db.prepare("SELECT id, type, base, version, hlc, gen, state, view FROM records WHERE id = ?");
  }

  finalize(): void {
    this.putRowStmt.finalize();
    this.getRowStmt.finalize();
  }

  async meta(): Promise<Meta> {
    const v = this.db.selectValue("SELECT v FROM meta WHERE k = 'meta'");
    return { ...initialMeta(), ...(v ? dec<Meta>(v) : {}) };
  }
  async setMeta(m: Meta): Promise<void> {
    this.db.exec({ sql: "INSERT OR REPLACE INTO meta (k, v) VALUES ('meta', ?)", bind: [enc(m)] });
  }
  async row(id: string): Promise<RecordRow | undefined> {
    const s = this.getRowStmt.bind([id]);
    try {
      return s.step() ? toRow(s.get({})) : undefined;
    } finally {
      s.reset();
    }
  }
  async putRow(r: RecordRow): Promise<void> {
    this.putRowStmt.bind([r.id, r.type, r.base, r.version.toString(), r.hlc.toString(), r.gen, r.state, r.view]).stepReset();
  }
  async deleteRow(id: string): Promise<void> {
    this.db.exec({ sql: "DELETE FROM records WHERE id = ?", bind: [id] });
  }
  async rowsOfType(type: string): Promise<RecordRow[]> {
    return this.db.selectObjects("SELECT * FROM records WHERE type = ? ORDER BY id", [type]).map(toRow);
  }
  async allRows(): Promise<RecordRow[]> {
    return this.db.selectObjects("SELECT * FROM records").map(toRow);
  }
  async outbox(): Promise<OutboxEntry[]> {
    return this.db.selectObjects("SELECT value, v FROM outbox ORDER BY seq").map(toEntry);
  }
  async entriesFor(recordId: string): Promise<OutboxEntry[]> {
    return this.db.selectObjects("SELECT value, v FROM outbox WHERE record_id = ? ORDER BY seq", [recordId]).map(toEntry);
  }
  async putEntry(e: OutboxEntry): Promise<void> {
    this.db.exec({ sql: "INSERT OR REPLACE INTO outbox (seq, record_id, value, v) VALUES (?, ?, ?, ?)", bind: [e.seq, e.recordId, e.value, enc({ ...e, value: null })] });
  }
  async deleteEntry(seq: number): Promise<void> {
    this.db.exec({ sql: "DELETE FROM outbox WHERE seq = ?", bind: [seq] });
  }
  private kvPut(store: string, k: string, v: unknown) {
    this.db.exec({ sql: "INSERT OR REPLACE INTO kv (store, k, v) VALUES (?, ?, ?)", bind: [store, k, enc(v)] });
  }
  private kvAll<T>(store: string): T[] {
    return this.db.selectValues("SELECT v FROM kv WHERE store = ? ORDER BY k", [store]).map((v: string) => dec<T>(v));
  }
  async putConflict(c: Parameters<StoreTx["putConflict"]>[0]): Promise<void> {
    this.kvPut("conflicts", c.id.toString().padStart(20, "0"), c);
  }
  async conflicts() {
    return this.kvAll<Awaited<ReturnType<StoreTx["conflicts"]>>[number]>("conflicts");
  }
  async putRejection(r: Parameters<StoreTx["putRejection"]>[0]): Promise<void> {
    this.kvPut("rejections", String(r.entry.seq).padStart(20, "0"), r);
  }
  async rejections() {
    return this.kvAll<Awaited<ReturnType<StoreTx["rejections"]>>[number]>("rejections");
  }
  async photo() {
    return undefined;
  }
  async putPhoto(): Promise<void> {
    throw new Error("the benchmark's SQLite store holds no photos");
  }
  async photos() {
    return [];
  }
  async photoBlob() {
    return undefined;
  }
  async putPhotoBlob(): Promise<void> {
    throw new Error("the benchmark's SQLite store holds no photos");
  }
  async deletePhotoBlob(): Promise<void> {}
  async clear(): Promise<void> {
    this.db.exec("DELETE FROM records; DELETE FROM outbox; DELETE FROM kv; DELETE FROM meta;");
  }
}

function toRow(o: any): RecordRow {
  return { id: o.id, type: o.type, base: o.base ?? null, version: BigInt(o.version), hlc: BigInt(o.hlc), gen: o.gen, state: o.state, view: o.view ?? null };
}

function toEntry(o: any): OutboxEntry {
  return { ...dec<OutboxEntry>(o.v), value: o.value ?? null };
}
