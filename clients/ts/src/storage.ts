/**
 * The storage interface the SDK declares: everything a device keeps, in a
 * shape any transactional key-value store can hold (IndexedDB in browsers,
 * fake-indexeddb or another implementation in Node). Every write of the sync
 * contract happens inside one {@link Storage.update} transaction, so a local
 * change and its outbox entry, or a pulled page and its cursor, are stored
 * together or not at all.
 */

/** What the local view of a record is. */
export enum RowState {
  /** The view is the server's state (base). */
  Synced = 0,
  /** The view is base plus the record's outbox entries. */
  Edited = 1,
  /** Deleted locally; the delete is not pulled back yet. */
  Deleted = 2,
}

/** One local record: the server's state (base) and the local view. */
export interface RecordRow {
  id: string;
  type: string;
  /** Wire bytes of the server's state; null when the server sent none. */
  base: Uint8Array | null;
  version: bigint;
  hlc: bigint;
  /** The resync generation that last confirmed the record. */
  gen: number;
  state: RowState;
  /** Wire bytes of the local view while state is Edited. */
  view: Uint8Array | null;
  /** The photos the record refers to, as the server reported them at the last pull; absent before. */
  photos?: RecordPhoto[];
}

/** The server's state of a photo a record refers to. */
export interface RecordPhoto {
  sha256: string;
  /** The server holds the photo's bytes, verified. */
  available: boolean;
}

/** One outbox entry: a local mutation. */
export interface OutboxEntry {
  seq: number;
  type: string;
  recordId: string;
  /** Top-level proto field names the mutation sets (its field mask). */
  fields: string[];
  /** Wire bytes of type holding only fields; null for deletes. */
  value: Uint8Array | null;
  del: boolean;
  hlc: bigint;
  /** Unix milliseconds when the change was made. */
  created: number;
  /** The server answered it as applied (it stays until a pull reflects it). */
  acked: boolean;
  /** Fields whose value lost the server's merge. */
  lost: string[];
}

/** The device's counters, cursor and identity. */
export interface Meta {
  nextSeq: number;
  hlc: bigint;
  cursor: string;
  gen: number;
  resync: boolean;
  /** Unix milliseconds of the last completed sync; 0 when never. */
  lastSync: number;
  /** SHA-256 (hex) of the token the store is bound to; "" when unbound. */
  tokenHash: string;
  /** The device token (the store holds it so the app need not). */
  token: string;
  deviceId: string;
  userId: string;
  tenantId: string;
}

/** A fresh store's meta. */
export function initialMeta(): Meta {
  return { nextSeq: 1, hlc: 0n, cursor: "", gen: 0, resync: false, lastSync: 0, tokenHash: "", token: "", deviceId: "", userId: "", tenantId: "" };
}

/** A conflict as stored: the server's wire Conflict. */
export interface StoredConflict {
  id: bigint;
  recordId: string;
  wire: Uint8Array;
  received: number;
}

/** Where a queued photo stands (see Client.photos). */
export enum QueueState {
  /** Waiting for sync; no upload on the server yet. */
  Queued = 0,
  /** The server has an upload of it in progress, holding offset bytes. */
  Uploading = 1,
  /** The server stored and verified the photo. */
  Done = 2,
  /** Refused for good (error says why); attaching it again retries it. */
  Failed = 3,
}

/** One photo of the upload queue, as stored (its bytes are kept apart, see StoreTx.photoBlob). */
export interface QueuedPhoto {
  /** Lower-case hex SHA-256 of the bytes: the queue's key. */
  sha256: string;
  size: number;
  contentType: string;
  /** Where the photo was first attached. */
  recordType: string;
  recordId: string;
  slot: string;
  /** The device's HLC at the attach (CreateUpload.device_hlc). */
  hlc: bigint;
  state: QueueState;
  /** The server's upload; "" before CreateUpload. */
  uploadId: string;
  /** Bytes the server acknowledged. */
  offset: number;
  /** Uploads cancelled after a refused completion. */
  recreated: number;
  /** Transient refusals in a row. */
  failures: number;
  /** Unix milliseconds before which the photo is not tried again; 0 when not put off. */
  retryAt: number;
  error: string;
  /** Unix milliseconds of the attach and of the completion (0 before). */
  created: number;
  done: number;
}

/** A rejected change as stored. */
export interface StoredRejection {
  entry: OutboxEntry;
  code: number;
  reason: string;
  rejected: number;
}

/**
 * StoreTx is one transaction's view of the store. Implementations must keep
 * the transaction open across the awaits of these methods (and only these:
 * the SDK awaits nothing else inside a transaction).
 */
export interface StoreTx {
  meta(): Promise<Meta>;
  setMeta(m: Meta): Promise<void>;
  row(id: string): Promise<RecordRow | undefined>;
  putRow(r: RecordRow): Promise<void>;
  deleteRow(id: string): Promise<void>;
  /** The rows of a type, by id. */
  rowsOfType(type: string): Promise<RecordRow[]>;
  allRows(): Promise<RecordRow[]>;
  /** Every outbox entry, by seq. */
  outbox(): Promise<OutboxEntry[]>;
  /** A record's outbox entries, by seq. */
  entriesFor(recordId: string): Promise<OutboxEntry[]>;
  putEntry(e: OutboxEntry): Promise<void>;
  deleteEntry(seq: number): Promise<void>;
  putConflict(c: StoredConflict): Promise<void>;
  conflicts(): Promise<StoredConflict[]>;
  putRejection(r: StoredRejection): Promise<void>;
  rejections(): Promise<StoredRejection[]>;
  /** A queued photo; undefined when the queue does not hold it. */
  photo(sha256: string): Promise<QueuedPhoto | undefined>;
  putPhoto(p: QueuedPhoto): Promise<void>;
  /** Every queued photo, oldest attach first. */
  photos(): Promise<QueuedPhoto[]>;
  /** A queued photo's bytes; undefined once dropped (after the upload). */
  photoBlob(sha256: string): Promise<Blob | undefined>;
  putPhotoBlob(sha256: string, blob: Blob): Promise<void>;
  deletePhotoBlob(sha256: string): Promise<void>;
  /** Empties every store and resets meta (sign-out). */
  clear(): Promise<void>;
}

/** Storage is a device's durable store. */
export interface Storage {
  /** Runs fn in a read-only transaction. */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Runs fn in one read-write transaction, committed when fn resolves and aborted when it rejects. */
  update<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Closes the store. */
  close(): void;
}
