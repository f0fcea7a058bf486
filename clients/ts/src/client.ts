import { create, fromBinary, getOption, hasOption, toBinary, type DescMessage, type Message, type MessageShape } from "@bufbuild/protobuf";
import { DurationSchema, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client as RpcClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { Clock } from "./hlc.js";
import { FieldsyncError } from "./errors.js";
import { fieldByName, isRecord, lookupType, project, registry, resolveMask } from "./fields.js";
import { IdentityService } from "./gen/fieldsync/v1/identity_pb.js";
import { withRawChunks } from "./chunkput.js";
import { MediaService } from "./gen/fieldsync/v1/media_pb.js";
import { PhotoRefSchema, type PhotoRef } from "./gen/fieldsync/v1/records_pb.js";
import { field as fieldExt, MergePolicy } from "./gen/fieldsync/v1/options_pb.js";
import { reflect } from "@bufbuild/protobuf/reflect";
import { chunkSizeOf, inFlightOf, MAX_PHOTO_SIZE, newPhoto, nextPhotoRetry, queuePhoto, sha256Hex, sniffImage, uploadPhotos, type PhotoProgress } from "./photos.js";
import {
  ConflictSchema,
  DeviceStatusSchema,
  MutationOutcome,
  ResyncRequiredSchema,
  SequenceGapSchema,
  SyncService,
  type DeviceStatus,
  type MutationResult,
  type PullResponse,
  type PushResponse,
  type RejectCode,
} from "./gen/fieldsync/v1/sync_pb.js";
import { QueueState, RowState, type Meta, type RecordPhoto, type OutboxEntry, type QueuedPhoto, type Storage, type StoreTx } from "./storage.js";
import { rebuild, refresh, saveRow, viewBytes } from "./view.js";
import { newUlid } from "./ulid.js";
import { loadValidation, prefetchValidation, type Validation } from "./validation.js";
import {
  applyPulled, Backoff, writePulled, bearer, checkId, collides, conflictFromWire, entriesByRecord, findDetail, makeTransport, renumber, retryable, sweepResync, tokenHash, toWire,
} from "./protocol.js";

/** Options of {@link Client.open}. */
export interface ClientOptions {
  /** The device store (see openIndexedDBStorage). */
  storage: Storage;
  /** The server's base URL, e.g. "https://sync.example.com"; without it the client works offline only. */
  server?: string;
  /**
   * The device token. The first open with a token binds the store to it; a
   * later open with another token fails ("wrong_device"). Omit it to use the
   * token the store holds (from enroll or an earlier open).
   */
  token?: string;
  /** A Connect transport to use instead of connect-web's fetch transport (e.g. connect-node's). */
  transport?: (baseUrl: string, interceptors: Interceptor[]) => Transport;
  /** The clock, Unix milliseconds (tests). */
  now?: () => number;
  /** Mutations per push (default 200, at most the server's 500). */
  batchSize?: number;
  /** Records per pull page (default 0: PULL_LIMIT, the server's maximum; fewer puts and commits per record in IndexedDB). */
  pullLimit?: number;
  /** Backoff between retries of a failed sync: first and longest delay in ms (default 200, 10000). */
  backoffMs?: { min: number; max: number };
  /** Where the client logs failures it retries (default: nowhere). */
  logger?: { debug(message: string, ...details: unknown[]): void };
  /**
   * The Web Locks manager that keeps the tabs of one browser from syncing the
   * same store at once (default: navigator.locks where there is one), and
   * the lock's name (default "fieldsync-sync"; give each store its own).
   */
  locks?: { request<T>(name: string, callback: () => Promise<T>): Promise<T> };
  lockName?: string;
  /**
   * Where online and offline events come from (default: the page's window,
   * where there is one): offline marks the status offline at once; online
   * makes a running watch sync at once.
   */
  network?: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  /** How long a server that cannot be reached is retried before sync fails "unreachable" (ms, default 30000). */
  unreachableAfterMs?: number;
  /** Bytes per photo upload chunk (default 1 MiB, at most the server's 4 MiB). */
  photoChunkSize?: number;
  /**
   * Chunks of a photo sent before the answers to the ones before them
   * (default 2, at most 4; 1 sends one at a time): over a slow link an
   * upload pays the link's latency once per window, not once per chunk.
   */
  photoChunksInFlight?: number;
  /**
   * Whether photo chunks go on the server's raw chunk route (PUT
   * /photos/v1/uploads/{id}?offset=N, the bytes as the body; see
   * docs/sync-protocol.md "Raw chunks") instead of as PutChunk calls,
   * falling back to PutChunk while the server lacks the route. Default:
   * true with connect-web's fetch transport, false with a transport given
   * (it may speak another protocol, or hold interceptors the route would
   * bypass); pass true with a Connect transport such as nodeTransport's.
   * A page on another origin than the server needs the server to allow
   * its origin (CORS), as for every call.
   */
  rawChunks?: boolean;
  /** The fetch the raw chunk route uses (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** The app's version (e.g. "2.4.1"), reported to the server with each sync (DeviceStatus.app_version). */
  appVersion?: string;
  /**
   * Whether put and addPhoto refuse a write that leaves the record's local
   * view breaking its buf.validate rules (FieldsyncError "invalid", nothing
   * queued), as the server would refuse it (default true). false leaves the
   * server the only judge: the write is queued and may come back rejected.
   */
  validate?: boolean;
  /**
   * Whether open loads the validator once the page is idle (default true), so
   * that writes made after the network went away find it even where no
   * service worker caches its chunk. An app whose service worker caches it
   * may pass false and load it when a form opens (loadValidation): its
   * evaluation then never competes with the first input after an open.
   */
  prefetchValidation?: boolean;
}

/** A record as the device sees it: the server's state with the device's pending edits on top. */
export interface LocalRecord<T extends Message = Message> {
  type: string;
  id: string;
  value: T;
  /** The server's version of the state the view builds on; 0n before the server sent the record. */
  version: bigint;
  /** Local changes to the record wait to be pushed. */
  pending: boolean;
}

/** What the server did with one pushed mutation, surfaced to the app. */
export interface PushResult {
  seq: number;
  recordType: string;
  recordId: string;
  outcome: "applied" | "merged" | "rejected";
  /** Fields whose value lost to a newer one (outcome "merged"). */
  lostFields: string[];
  rejectCode: RejectCode;
  /** Why it was rejected, naming the field at fault. */
  reason: string;
  appliedHlc: bigint;
}

/** The device's sync state, for a status bar. */
export interface Status {
  /** Local changes the server has not answered. */
  outboxDepth: number;
  /** When the oldest of them was made; null when none. */
  oldestPending: Date | null;
  /** When a sync last completed; null when never. */
  lastSync: Date | null;
  /** Whether the last exchange with the server succeeded (false before any, or offline). */
  online: boolean;
  /** A sync is running. */
  syncing: boolean;
  conflicts: number;
  rejections: number;
  /** The opaque pull cursor; "" before the first pull. */
  cursor: string;
  /** Photos waiting or uploading, the bytes of them the server lacks, and photos refused for good. */
  photoQueue: number;
  photoBytesPending: number;
  photosFailed: number;
}

/** A value that lost a merge on the server, as reported to this device. */
export interface Conflict {
  id: bigint;
  recordType: string;
  recordId: string;
  field: string;
  /** Values of recordType with only field set. */
  losing: Message | undefined;
  winning: Message | undefined;
  losingHlc: bigint;
  winningHlc: bigint;
  losingDeviceId: string;
  winningDeviceId: string;
  /** "older", "frozen after submit" or "deleted". */
  reason: string;
  time: Date | undefined;
}

/** A local change the server refused: never applied, gone from the outbox. */
export interface Rejection {
  seq: number;
  recordType: string;
  recordId: string;
  fields: string[];
  value: Message | undefined;
  delete: boolean;
  code: RejectCode;
  reason: string;
  created: Date;
  rejected: Date;
}

/** The device a store belongs to, as the server named it. */
export interface Identity {
  deviceId: string;
  userId: string;
  tenantId: string;
}

/** What one {@link Client.sync} did. */
export interface SyncReport {
  /** The server's answers to the mutations pushed. */
  results: PushResult[];
  /** Records pulled (removals included). */
  pulled: number;
  /** The cursor was refused and a full resync ran. */
  resynced: boolean;
}


/**
 * Client is one device: a local store of the records it sees, an outbox of
 * the changes made on it, and the sync protocol that exchanges both with the
 * server (the same contract as the Go SDK's). Local reads and writes never
 * wait for the network.
 */
export class Client {
  private readonly clock: Clock;
  private readonly sync_: RpcClient<typeof SyncService> | null;
  private readonly identity_: RpcClient<typeof IdentityService> | null;
  private readonly media_: RpcClient<typeof MediaService> | null;
  private readonly photoListeners = new Set<(p: PhotoProgress) => void>();
  private readonly listeners = new Set<(s: Status) => void>();
  private readonly resultListeners = new Set<(r: PushResult) => void>();
  private running: Promise<unknown> = Promise.resolve();
  private online = false;
  private syncing = false;
  /** The last sync's receipt in flight (see waitAcked); settled, never rejected. */
  private acking: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  /** A local write waits to be pushed (watch syncs); kept while no watch runs, as the Go SDK's kick channel. */
  private wrote = false;
  private readonly network: ClientOptions["network"] | null;
  private readonly onOffline = () => {
    this.online = false;
    void this.notify();
  };
  private readonly onOnline = () => {
    this.wrote = true; // not a write, but the same ask: sync now
    this.kick?.();
  };
  /** Set while watch follows a stream: wakes it. */
  private kick: (() => void) | null = null;

  private constructor(
    private readonly storage: Storage,
    private readonly opts: ClientOptions,
    meta: Meta,
  ) {
    this.now = opts.now ?? Date.now;
    this.clock = new Clock(meta.hlc, this.now);
    this.network = opts.network ?? (typeof window !== "undefined" ? window : null);
    this.network?.addEventListener("offline", this.onOffline);
    this.network?.addEventListener("online", this.onOnline);
    if (opts.server && meta.token) {
      const transport = makeTransport(opts, [bearer(meta.token)]);
      this.sync_ = createClient(SyncService, transport);
      this.identity_ = createClient(IdentityService, transport);
      const media = createClient(MediaService, transport);
      this.media_ = (opts.rawChunks ?? !opts.transport)
        ? withRawChunks(media, { server: opts.server, token: meta.token, fetch: opts.fetch ?? globalThis.fetch.bind(globalThis), now: this.now })
        : media;
    } else {
      this.sync_ = this.identity_ = this.media_ = null;
    }
    chunkSizeOf(opts.photoChunkSize);
    inFlightOf(opts.photoChunksInFlight);
  }

  /**
   * Opens a device on a store. The client works offline at once; with a
   * server and a token (given or held by the store) sync works too.
   *
   * @throws FieldsyncError "wrong_device" when the store is bound to another token.
   */
  static async open(opts: ClientOptions): Promise<Client> {
    const token = opts.token;
    const hash = token ? await tokenHash(token) : ""; // before the transaction: it awaits nothing but the store
    const meta = await opts.storage.update(async (tx) => {
      const m = await tx.meta();
      if (!token) return m;
      if (m.tokenHash === "") {
        m.tokenHash = hash;
        m.token = token;
        await tx.setMeta(m);
      } else if (m.tokenHash !== hash) {
        throw new FieldsyncError("wrong_device", m.deviceId
          ? `the store belongs to device ${m.deviceId} (user ${m.userId}); open it with that device's token, or sign out`
          : "the store was first used with another device token; open it with that token, or sign out");
      }
      return m;
    });
    const c = new Client(opts.storage, opts, meta);
    if (opts.validate !== false && opts.prefetchValidation !== false) prefetchValidation();
    return c;
  }

  /**
   * Enrolls a new device with a one-time enrollment code: the server's
   * device token is kept in the store (bound to it) and the identity
   * recorded. The store must be new or signed out.
   *
   * @throws FieldsyncError "wrong_device" when the store already belongs to a device; a ConnectError from the server.
   */
  static async enroll(opts: ClientOptions & { server: string; enrollmentCode: string; deviceName: string; platform?: string }): Promise<Client> {
    const bound = await opts.storage.read(async (tx) => (await tx.meta()).tokenHash);
    if (bound) throw new FieldsyncError("wrong_device", "the store already belongs to a device; sign out first");
    const rpc = createClient(IdentityService, makeTransport(opts, []));
    const res = await rpc.enroll({ enrollmentCode: opts.enrollmentCode, deviceName: opts.deviceName, platform: opts.platform ?? "web" });
    const hash = await tokenHash(res.deviceToken);
    await opts.storage.update(async (tx) => {
      const m = await tx.meta();
      Object.assign(m, { tokenHash: hash, token: res.deviceToken, deviceId: res.deviceId, userId: res.userId, tenantId: res.tenantId });
      await tx.setMeta(m);
    });
    return Client.open({ ...opts, token: res.deviceToken });
  }

  /**
   * Waits until the receipt that the last sync sent in the background has
   * been answered or has failed (at once when none is in flight). A sync
   * stores its last page and cursor, then tells the server without waiting
   * for its answer: the device's state does not depend on it, and a phone
   * saves a round trip per sync. The next sync waits for it before it
   * pulls, so receipts arrive in order. Use this when the server's record
   * of deliveries must include the last sync's pages (a test, a report).
   */
  waitAcked(): Promise<void> {
    return this.acking;
  }

  /** Closes the store and stops listening to network events. */
  close(): void {
    this.network?.removeEventListener("offline", this.onOffline);
    this.network?.removeEventListener("online", this.onOnline);
    this.storage.close();
  }

  /** A new record id: a ULID from the client's clock, needing no server. */
  newId(): string {
    return newUlid(this.now());
  }

  // ---- local reads and writes ----

  /**
   * Writes fields of a record locally: its type is value's message type, id
   * its id (see newId). fields is the field mask, top-level field names
   * (proto or TypeScript names); a named field unset in value is cleared;
   * with none, every field set in value is written. The local view changes
   * and the change joins the outbox in one transaction.
   *
   * The record as it then reads locally is checked against its type's
   * buf.validate rules first (see ClientOptions.validate): a write the
   * server would refuse as invalid is refused here, offline too, with
   * nothing queued.
   *
   * @throws FieldsyncError "invalid_id", "not_record_type", "unknown_field", "no_fields", "type_mismatch", "invalid" (with its violations); a store error.
   */
  async put(id: string, value: Message, fields: readonly string[] = []): Promise<void> {
    checkId(id);
    const desc = registry.getMessage(value.$typeName);
    if (!desc || !isRecord(desc)) throw new FieldsyncError("not_record_type", `${value.$typeName} is not a record type`);
    const mask = resolveMask(desc, value, fields);
    const bytes = project(desc, value, mask);
    const check = await this.validation(); // before the transaction: it may await a chunk, and an IndexedDB transaction awaits nothing but itself
    await this.storage.update((tx) => this.writeTx(tx, { type: desc.typeName, recordId: id, fields: mask, value: bytes, del: false }, check));
    await this.wroteLocally();
  }

  /** The validator writes are checked with (loaded on the first write), or null when ClientOptions.validate is false. */
  private async validation(): Promise<Validation | null> {
    return this.opts.validate === false ? null : loadValidation();
  }

  /**
   * Deletes a record locally and queues the delete. On the server it wins
   * over older edits only.
   *
   * @throws FieldsyncError "invalid_id", "not_record_type", "type_mismatch"; a store error.
   */
  async delete(recordType: string, id: string): Promise<void> {
    checkId(id);
    lookupType(recordType);
    await this.write({ type: recordType, recordId: id, fields: [], value: null, del: true });
  }

  private async write(e: Pick<OutboxEntry, "type" | "recordId" | "fields" | "value" | "del">): Promise<void> {
    await this.storage.update((tx) => this.writeTx(tx, e));
    await this.wroteLocally();
  }

  /**
   * After a local write: subscribers are told first (the status they get
   * counts the write), then a watch is kicked to push it. So when put,
   * delete or addPhoto resolves, a subscriber has seen the write waiting, and the
   * status that reads "nothing to send" again comes after it; told after
   * the kick, a subscriber could read "0 waiting" until the sync's answer.
   */
  private async wroteLocally(): Promise<void> {
    this.wrote = true;
    await this.notify();
    this.kick?.();
  }

  /**
   * Changes the local view and queues the change, in tx; returns the entry.
   * With check, a view that breaks its rules throws "invalid" (the caller's
   * transaction aborts: nothing is written).
   */
  private async writeTx(tx: StoreTx, e: Pick<OutboxEntry, "type" | "recordId" | "fields" | "value" | "del">, check: Validation | null = null): Promise<OutboxEntry> {
      let r = await tx.row(e.recordId);
      if (r && r.type !== e.type) throw new FieldsyncError("type_mismatch", `${e.recordId} is a ${r.type}, not a ${e.type}`);
      r ??= { id: e.recordId, type: e.type, base: null, version: 0n, hlc: 0n, gen: 0, state: RowState.Synced, view: null };
      const m = await tx.meta();
      this.clock.observe(m.hlc); // another tab on the store may have moved it
      const entry: OutboxEntry = { ...e, seq: m.nextSeq, hlc: this.clock.tick(), created: this.now(), acked: false, lost: [] };
      m.nextSeq++;
      m.hlc = entry.hlc;
      await tx.setMeta(m);
      await tx.putEntry(entry);
      rebuild(r, await tx.entriesFor(e.recordId));
      if (check && r.state === RowState.Edited && r.view) {
        const desc = lookupType(r.type);
        const vs = check.validateChange(fromBinary(desc, r.view), r.base ? fromBinary(desc, r.base) : null, desc);
        if (vs.length) throw new FieldsyncError("invalid", `${r.type} ${r.id}: ${check.violationText(vs)}`, { violations: vs });
      }
      await saveRow(tx, r);
      return entry;
  }

  // ---- photos ----

  /**
   * Attaches a photo to a record: hashes its bytes (SHA-256) and sniffs
   * their type, then, in one local transaction, queues the photo with its
   * bytes and writes the record's slot through the outbox as put does: a
   * PhotoRef field (e.g. SurgerySupport's "pre_op_photo") is set to the
   * photo, a set-union list of them (e.g. Diagnosis's "photos") gets it
   * added. The record refers to the photo at once, online or not; sync
   * pushes the record first and uploads the bytes after, in resumable
   * chunks. A photo queued or stored already is not uploaded again; a failed
   * one is queued again. The record need not exist yet.
   *
   * The record is checked as put checks it.
   *
   * @throws FieldsyncError "invalid_id", "not_record_type", "not_photo_slot", "not_image", "photo_too_large", "type_mismatch", "invalid"; a store error.
   */
  async addPhoto(recordType: string, id: string, slot: string, photo: Blob | Uint8Array): Promise<PhotoRef> {
    checkId(id);
    const desc = lookupType(recordType);
    const f = photoSlot(desc, slot);
    const blob = photo instanceof Uint8Array ? new Blob([photo as Uint8Array<ArrayBuffer>]) : photo;
    if (blob.size > MAX_PHOTO_SIZE) throw new FieldsyncError("photo_too_large", `add photo to ${id}: ${blob.size} bytes, more than ${MAX_PHOTO_SIZE}`);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const contentType = sniffImage(bytes.subarray(0, 256));
    if (!contentType) throw new FieldsyncError("not_image", `add photo to ${id}: ${bytes.length} bytes of an unknown type; want JPEG, PNG, WebP or HEIC`);
    const ref = create(PhotoRefSchema, { sha256: await sha256Hex(bytes), sizeBytes: BigInt(bytes.length), contentType });
    const value = reflect(desc);
    const refMsg = reflect(PhotoRefSchema, ref);
    if (f.fieldKind === "list") value.get(f).add(refMsg);
    else value.set(f, refMsg);
    const e = { type: desc.typeName, recordId: id, fields: [f.name], value: project(desc, value.message, [f.name]), del: false };
    const check = await this.validation();
    await this.storage.update(async (tx) => {
      const entry = await this.writeTx(tx, e, check);
      await queuePhoto(tx, newPhoto({ sha256: ref.sha256, size: bytes.length, contentType, recordType: desc.typeName, recordId: id, slot: f.name, hlc: entry.hlc, created: entry.created }), blob);
    });
    await this.wroteLocally();
    return ref;
  }

  /** The photo queue, oldest attach first: waiting, uploading, done and failed. */
  photos(): Promise<QueuedPhoto[]> {
    return this.storage.read((tx) => tx.photos());
  }

  /**
   * The server's states of the photos a record refers to (uploaded by any
   * device), as it reported them when this device last pulled the record,
   * by hash; none before the record was pulled.
   *
   * @throws a store error.
   */
  async recordPhotos(recordId: string): Promise<RecordPhoto[]> {
    return (await this.storage.read((tx) => tx.row(recordId)))?.photos ?? [];
  }

  /**
   * A short-lived URL to read a stored photo the device may see (a record
   * in its scope refers to it), and when the URL expires.
   *
   * @throws FieldsyncError "no_server"; the server's ConnectError (NotFound for a photo not stored or not visible to the device).
   */
  async photoUrl(sha256: string, opts: { signal?: AbortSignal } = {}): Promise<{ url: string; expires: Date | undefined }> {
    if (!this.media_) throw new FieldsyncError("no_server", "no server or no token: the client is offline only");
    const res = await this.media_.getMediaURL({ sha256 }, { signal: opts.signal });
    return { url: res.url, expires: res.expireTime ? timestampDate(res.expireTime) : undefined };
  }

  /** Calls listener as photo bytes reach the server, per photo and for the whole upload pass; returns the unsubscribe function. */
  onPhotoProgress(listener: (p: PhotoProgress) => void): () => void {
    this.photoListeners.add(listener);
    return () => this.photoListeners.delete(listener);
  }

  /** Uploads the due photos; true when sync should push and pull again. Bytes acknowledged count as progress for b. */
  private uploadPhotos(b: Backoff, signal?: AbortSignal): Promise<boolean> {
    return uploadPhotos({
      storage: this.storage, media: this.media_!, now: this.now, signal,
      chunkSize: chunkSizeOf(this.opts.photoChunkSize),
      inFlight: inFlightOf(this.opts.photoChunksInFlight),
      backoff: this.opts.backoffMs ?? { min: 200, max: 10_000 },
      progress: (p) => {
        b.reset();
        for (const l of this.photoListeners) l(p);
      },
    });
  }

  /** Reads a record's local view; undefined when the device does not hold it (or deleted it locally). */
  async get<D extends DescMessage>(schema: D, id: string): Promise<MessageShape<D> | undefined> {
    lookupType(schema.typeName);
    const r = await this.storage.read((tx) => tx.row(id));
    const b = r && r.type === schema.typeName ? viewBytes(r) : null;
    return b ? (fromBinary(schema, b) as MessageShape<D>) : undefined;
  }

  /** Every record of a type the device holds, local view, by id. */
  async list<D extends DescMessage>(schema: D): Promise<LocalRecord<MessageShape<D>>[]> {
    lookupType(schema.typeName);
    return this.storage.read(async (tx) => {
      const pending = new Set((await tx.outbox()).filter((e) => !e.acked).map((e) => e.recordId));
      const out: LocalRecord<MessageShape<D>>[] = [];
      for (const r of await tx.rowsOfType(schema.typeName)) {
        const b = viewBytes(r);
        if (!b) continue;
        out.push({ type: r.type, id: r.id, value: fromBinary(schema, b) as MessageShape<D>, version: r.version, pending: pending.has(r.id) });
      }
      return out;
    });
  }

  // ---- status ----

  /** Reads the device's sync state. */
  async status(): Promise<Status> {
    return this.storage.read(async (tx) => {
      const m = await tx.meta();
      const pending = (await tx.outbox()).filter((e) => !e.acked);
      const oldest = pending.reduce((min, e) => Math.min(min, e.created), Infinity);
      return {
        outboxDepth: pending.length,
        oldestPending: pending.length ? new Date(oldest) : null,
        lastSync: m.lastSync ? new Date(m.lastSync) : null,
        online: this.online,
        syncing: this.syncing,
        conflicts: (await tx.conflicts()).length,
        rejections: (await tx.rejections()).length,
        cursor: m.cursor,
        ...photoStatus(await tx.photos()),
      };
    });
  }

  /** Calls listener with the status now and after every change to it; returns the unsubscribe function. */
  subscribe(listener: (s: Status) => void): () => void {
    this.listeners.add(listener);
    void this.status().then(listener, () => undefined);
    return () => this.listeners.delete(listener);
  }

  /** Calls listener with each push result as it is stored; returns the unsubscribe function. */
  onResult(listener: (r: PushResult) => void): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  private async notify(): Promise<void> {
    if (this.listeners.size === 0) return;
    const s = await this.status().catch(() => null);
    if (s) for (const l of this.listeners) l(s);
  }

  /** The conflicts reported to this device, oldest first. */
  async conflicts(): Promise<Conflict[]> {
    const stored = await this.storage.read((tx) => tx.conflicts());
    return stored.sort((a, b) => (a.id < b.id ? -1 : 1)).map((c) => conflictFromWire(fromBinary(ConflictSchema, c.wire)));
  }

  /** The changes the server refused, by seq. */
  async rejections(): Promise<Rejection[]> {
    const stored = await this.storage.read((tx) => tx.rejections());
    return stored.sort((a, b) => a.entry.seq - b.entry.seq).map(({ entry: e, code, reason, rejected }) => ({
      seq: e.seq, recordType: e.type, recordId: e.recordId, fields: e.fields, delete: e.del,
      value: e.value ? fromBinary(lookupType(e.type), e.value) : undefined,
      code: code as RejectCode, reason, created: new Date(e.created), rejected: new Date(rejected),
    }));
  }

  /** The device the store is bound to; empty until enrollment or the first sync. */
  async identity(): Promise<Identity> {
    const m = await this.storage.read((tx) => tx.meta());
    return { deviceId: m.deviceId, userId: m.userId, tenantId: m.tenantId };
  }

  /**
   * Signs the device out: empties the store (records, outbox, conflicts,
   * token and identity), so it can be enrolled again.
   *
   * @throws FieldsyncError "unsynced" when local changes or photos have not reached the server and force is not set (nothing is dropped).
   */
  async signOut(opts: { force?: boolean } = {}): Promise<void> {
    await this.storage.update(async (tx) => {
      const depth = (await tx.outbox()).filter((e) => !e.acked).length;
      if (depth > 0 && !opts.force) throw new FieldsyncError("unsynced", `${depth} local changes have not reached the server (sync first, or force)`);
      const photos = photoStatus(await tx.photos()).photoQueue;
      if (photos > 0 && !opts.force) throw new FieldsyncError("unsynced", `${photos} photos have not reached the server (sync first, or force)`);
      await tx.clear();
    });
    this.online = false;
    void this.notify();
  }

  // ---- sync ----

  /**
   * Exchanges changes with the server: pushes the outbox in seq order, in
   * batches, then pulls every change in the device's scope until the server
   * has no more, and acks the last page. Push results are stored as they
   * come (merge losses in conflicts(), refusals in rejections()); pulled
   * records replace the server's state under the pending local edits, which
   * stay on top. A refused cursor starts a full resync that keeps pending
   * edits. Transient failures are retried with backoff until signal aborts
   * or the server stays unreachable for unreachableAfterMs. Only one sync
   * runs at a time; a concurrent call waits for the running one, and a
   * sync in another tab of the same store too (Web Locks, see locks).
   *
   * @throws FieldsyncError "no_server", "unreachable"; a ConnectError retrying cannot fix; a store error.
   */
  sync(opts: { signal?: AbortSignal } = {}): Promise<SyncReport> {
    const run = this.running.then(() => this.withLock(() => this.syncLoop(opts.signal)));
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Runs fn holding the store's sync lock across tabs, where there are Web Locks. */
  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = this.opts.locks ?? (globalThis as { navigator?: { locks?: ClientOptions["locks"] } }).navigator?.locks;
    return locks ? locks.request(this.opts.lockName ?? "fieldsync-sync", fn) : fn();
  }

  private async syncLoop(signal?: AbortSignal): Promise<SyncReport> {
    if (!this.sync_) throw new FieldsyncError("no_server", "no server or no token: the client is offline only");
    const b = new Backoff(this.opts.backoffMs?.min ?? 200, this.opts.backoffMs?.max ?? 10_000);
    const report: SyncReport = { results: [], pulled: 0, resynced: false };
    this.syncing = true;
    void this.notify();
    try {
      for (;;) {
        try {
          await this.learnIdentity(signal);
          do {
            await this.push(report, b, signal);
            await this.pull(report, b, signal);
            this.online = true;
          } while (await this.uploadPhotos(b, signal));
          return report;
        } catch (err) {
          if (!retryable(err, signal)) throw err;
          this.online = false;
          this.opts.logger?.debug("fieldsync: sync failed, retrying", err);
          void this.notify();
          if (Date.now() - b.since >= (this.opts.unreachableAfterMs ?? 30_000)) {
            throw new FieldsyncError("unreachable", `no answer from ${this.opts.server}: ${String(err)}`, { cause: err });
          }
          await b.wait(signal);
        }
      }
    } finally {
      this.syncing = false;
      void this.notify();
    }
  }

  /**
   * Keeps the device in sync while it runs: it syncs once, then follows the
   * server's Watch stream and syncs on every poke (the device's scope
   * changed), after every local write and when a put-off photo is due, so
   * an online device pushes and pulls at once. A broken or silent stream (no poke or heartbeat for
   * idleTimeoutMs, default 60 s; the server beats every 15 s) is reopened
   * with backoff, after a sync; so is a server that cannot be reached.
   * Resolves when signal aborts.
   *
   * @throws FieldsyncError "no_server"; an error retrying cannot fix (Unauthenticated for a revoked device, PermissionDenied, a store error).
   */
  async watch(opts: { signal: AbortSignal; idleTimeoutMs?: number }): Promise<void> {
    if (!this.sync_) throw new FieldsyncError("no_server", "no server or no token: the client is offline only");
    const b = new Backoff(this.opts.backoffMs?.min ?? 200, this.opts.backoffMs?.max ?? 10_000);
    for (;;) {
      try {
        await this.watchOnce(opts.signal, opts.idleTimeoutMs ?? 60_000, b);
      } catch (err) {
        if (opts.signal.aborted) return;
        const retry = retryable(err, opts.signal) || findDetail(err, Code.FailedPrecondition, ResyncRequiredSchema) ||
          (err instanceof FieldsyncError && err.code === "unreachable");
        if (!retry) throw err;
        this.opts.logger?.debug("fieldsync: watch broke, reconnecting", err);
      }
      try {
        await b.wait(opts.signal);
      } catch {
        return;
      }
    }
  }

  /** Syncs, then follows one stream until it fails, goes silent or signal aborts (then it throws). */
  private async watchOnce(signal: AbortSignal, idleMs: number, b: Backoff): Promise<void> {
    this.wrote = false;
    let since = this.now();
    await this.sync({ signal });
    const cursor = (await this.storage.read((tx) => tx.meta())).cursor;
    const stream = new AbortController();
    const stop = () => stream.abort(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    if (signal.aborted) stop(); // aborted before the listener was added
    let failed: unknown = null;
    let due = false;
    let wake: () => void = () => undefined;
    const woken = () => new Promise<void>((resolve) => (wake = resolve));
    let idle: ReturnType<typeof setTimeout> | undefined;
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        failed ??= new ConnectError(`watch stream silent for ${idleMs} ms`, Code.Unavailable);
        stream.abort();
        wake();
      }, idleMs);
    };
    this.kick = () => wake();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const armPhotoRetry = async () => { // a put-off photo is tried again when due (at once when it fell due since the sync began)
      clearTimeout(retry);
      const at = nextPhotoRetry(await this.storage.read((tx) => tx.photos()), since);
      if (at !== undefined) retry = setTimeout(() => ((due = true), wake()), at - this.now());
    };
    await armPhotoRetry();
    const reader = (async () => {
      try {
        for await (const ev of this.sync_!.watch({ cursor }, { signal: stream.signal })) {
          resetIdle();
          b.reset();
          if (ev.event.case === "poke") {
            due = true;
            wake();
          }
        }
        failed ??= new ConnectError("watch stream ended", Code.Unavailable);
      } catch (err) {
        failed ??= err;
      }
      wake();
    })();
    try {
      resetIdle();
      for (;;) {
        const next = woken();
        if (failed === null && !due && !this.wrote) await next;
        if (signal.aborted) throw signal.reason;
        if (failed !== null) throw failed;
        if (due || this.wrote) {
          due = this.wrote = false; // a write or poke during the sync asks for another
          since = this.now();
          await this.sync({ signal });
          await armPhotoRetry();
        }
      }
    } finally {
      this.kick = null;
      clearTimeout(idle);
      clearTimeout(retry);
      signal.removeEventListener("abort", stop);
      stream.abort();
      await reader;
    }
  }

  private async learnIdentity(signal?: AbortSignal): Promise<void> {
    const m = await this.storage.read((tx) => tx.meta());
    if (m.tenantId) return;
    const who = await this.identity_!.whoAmI({}, { signal });
    await this.storage.update(async (tx) => {
      const cur = await tx.meta();
      Object.assign(cur, { deviceId: who.deviceId, userId: who.userId, tenantId: who.tenantId });
      await tx.setMeta(cur);
    });
  }

  /**
   * Pushes the pending entries in seq order, a batch at a time, storing
   * each answer before sending the next. The outbox is read once for all
   * the batches it holds (reading it per batch made a push of n entries
   * cost n²/batch reads), and again after them for entries written
   * meanwhile, and after a renumbering.
   */
  private async push(report: SyncReport, b: Backoff, signal?: AbortSignal): Promise<void> {
    const size = Math.min(this.opts.batchSize ?? 200, 500);
    for (;;) {
      const { pending, photos, lastSync } = await this.storage.read(async (tx) => ({
        pending: (await tx.outbox()).filter((e) => !e.acked), photos: await tx.photos(), lastSync: (await tx.meta()).lastSync,
      }));
      if (pending.length === 0) return;
      for (let i = 0; i < pending.length; i += size) {
        const batch = pending.slice(i, i + size);
        const status = this.wireStatus(pending.slice(i + size), photos, lastSync);
        let res: PushResponse;
        try {
          res = await this.sync_!.push({ mutations: batch.map(toWire), status }, { signal });
        } catch (err) {
          const gap = findDetail(err, Code.Aborted, SequenceGapSchema);
          if (!gap) throw err;
          await this.resequence(batch[0].seq, Number(gap.expectedSeq));
          break;
        }
        b.reset();
        const { results, renumbered } = await this.storeResults(batch, res);
        report.results.push(...results);
        for (const r of results) for (const l of this.resultListeners) l(r);
        void this.notify();
        if (renumbered) break;
      }
    }
  }

  /**
   * The status sent with a push or pull (sync.proto DeviceStatus, as the Go
   * SDK sends it): the pending entries not in the request, the photos
   * waiting, the versions and the last sync. Values the server would refuse
   * (a clock far off, an odd app version) are left out or cleaned, so a
   * status never fails a sync.
   */
  private wireStatus(pending: OutboxEntry[], photos: QueuedPhoto[], lastSync: number): DeviceStatus {
    const now = this.now();
    const oldest = pending.reduce((o, e) => Math.min(o, e.created), Infinity);
    const ageMs = Math.floor(Math.min(Math.max(now - oldest, 0), MAX_STATUS_AGE_MS));
    return create(DeviceStatusSchema, {
      outboxDepth: pending.length,
      oldestUnsyncedAge: pending.length > 0 ? create(DurationSchema, { seconds: BigInt(Math.floor(ageMs / 1000)), nanos: (ageMs % 1000) * 1e6 }) : undefined,
      photosWaiting: photoStatus(photos).photoQueue,
      appVersion: cleanVersion(this.opts.appVersion ?? ""),
      sdkVersion: SDK_VERSION,
      lastSyncTime: lastSync > MIN_STATUS_TIME_MS && lastSync < MAX_STATUS_TIME_MS ? timestampFromMs(lastSync) : undefined,
    });
  }

  /**
   * Records a push's answers in one transaction: applied entries are acked
   * (their lost fields noted), rejected ones leave the outbox for the
   * rejections list, conflicts are kept, touched views rebuilt, and the
   * server's HLC joins the device clock. An answer for another mutation
   * under the entry's seq (a reinstalled store) is not taken: the pending
   * entries move after the server's last seq.
   */
  private async storeResults(batch: OutboxEntry[], res: PushResponse): Promise<{ results: PushResult[]; renumbered: boolean }> {
    const bySeq = new Map(batch.map((e) => [e.seq, e]));
    return this.storage.update(async (tx) => {
      const touched = new Set<string>();
      const out: PushResult[] = [];
      let collided = false;
      for (const r of res.results) {
        const e = bySeq.get(Number(r.seq));
        if (!e) continue;
        if (collides(e, r)) {
          collided = true;
          continue;
        }
        out.push(await this.storeResult(tx, e, r));
        if (r.outcome === MutationOutcome.REJECTED || r.lostFields.length > 0) touched.add(e.recordId);
      }
      if (collided) await renumber(tx, Number(res.lastSeq) + 1);
      else if (out.length === 0) throw new FieldsyncError("no_progress", "the server answered none of the batch's mutations");
      for (const id of touched) await refresh(tx, id);
      const m = await tx.meta();
      this.clock.observe(m.hlc);
      m.hlc = this.clock.observe(res.serverHlc);
      await tx.setMeta(m);
      return { results: out, renumbered: collided };
    });
  }

  private async storeResult(tx: StoreTx, e: OutboxEntry, r: MutationResult): Promise<PushResult> {
    for (const c of r.conflicts) {
      await tx.putConflict({ id: c.id, recordId: c.recordId, wire: toBinary(ConflictSchema, c), received: this.now() });
    }
    const rejected = r.outcome === MutationOutcome.REJECTED;
    if (rejected) {
      await tx.putRejection({ entry: e, code: r.rejectCode, reason: r.reason, rejected: this.now() });
      await tx.deleteEntry(e.seq);
    } else {
      await tx.putEntry({ ...e, acked: true, lost: r.lostFields });
    }
    return {
      seq: e.seq, recordType: e.type, recordId: e.recordId,
      outcome: rejected ? "rejected" : r.outcome === MutationOutcome.MERGED ? "merged" : "applied",
      lostFields: r.lostFields, rejectCode: r.rejectCode, reason: r.reason, appliedHlc: r.appliedHlc,
    };
  }

  /**
   * Answers a SequenceGap: the server expects seq next while the first
   * pending entry is first. Entries below next were applied (their answers
   * lost): they are acked. When next is below first the server lost seqs it
   * had acknowledged: entries from next on are pending again and every
   * pending entry is renumbered from next.
   */
  private async resequence(first: number, next: number): Promise<void> {
    if (next === first) throw new FieldsyncError("no_progress", `server expects seq ${next}, which it was sent`);
    await this.storage.update(async (tx) => {
      const all = await tx.outbox();
      if (next > first) {
        for (const e of all) if (!e.acked && e.seq < next) await tx.putEntry({ ...e, acked: true });
        return;
      }
      for (const e of all) if (e.seq >= next) await tx.putEntry({ ...e, acked: false, lost: [] });
      await renumber(tx, next);
    });
  }

  private async pull(report: SyncReport, b: Backoff, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const cursor = (await this.storage.read((tx) => tx.meta())).cursor;
      try {
        await this.pullFrom(report, b, cursor, signal);
        return;
      } catch (err) {
        if (!findDetail(err, Code.FailedPrecondition, ResyncRequiredSchema) || cursor === "") throw err;
        report.resynced = true;
        await this.storage.update(async (tx) => {
          const m = await tx.meta();
          Object.assign(m, { gen: m.gen + 1, cursor: "", resync: true });
          await tx.setMeta(m);
        });
      }
    }
  }

  /**
   * Pulls pages from cursor until the server has no more, pipelined: the
   * next page is asked for while the last one is stored, and a page's
   * writes are issued while the one before it commits (a store runs its
   * transactions in order). The requests after the first say they pull
   * ahead, so the server records no receipt for pages not yet stored; the
   * cursor is stored with its page, and the last page, once stored, is
   * acked. A page whose store finds the cursor it was pulled from gone (the
   * page before failed) is not stored.
   */
  private async pullFrom(report: SyncReport, b: Backoff, cursor: string, signal?: AbortSignal): Promise<void> {
    await this.acking; // the last sync's receipt first: the server records receipts in order
    const sent = cursor;
    const { status, gen } = await this.storage.read(async (tx) => {
      const m = await tx.meta();
      return { gen: m.gen, status: this.wireStatus((await tx.outbox()).filter((e) => !e.acked), await tx.photos(), m.lastSync) };
    });
    const limit = this.opts.pullLimit || PULL_LIMIT;
    const ask = (from: string) => {
      const p = this.sync_!.pull({ cursor: from, limit, status, ahead: from !== sent }, { signal });
      p.catch(() => undefined); // awaited in turn, or moot once an earlier step failed
      return p;
    };
    let next = ask(cursor);
    let storing: Promise<number> = Promise.resolve(0);
    try {
      for (;;) {
        const page = await next;
        b.reset();
        if (page.hasMore) next = ask(page.nextCursor);
        const before = storing;
        storing = this.storePage(page, cursor, gen);
        storing.catch(() => undefined);
        report.pulled += await before; // one page commits while the next one's writes are issued
        cursor = page.nextCursor;
        if (!page.hasMore) {
          report.pulled += await storing;
          storing = Promise.resolve(0);
          this.acking = this.ack(sent, page.nextCursor);
          await this.finishPull();
          return;
        }
      }
    } finally {
      await storing.catch(() => undefined); // a retry reads the cursor after the last commit
    }
  }

  /**
   * Tells the server that the device stored the pages up to next (unless
   * next is the cursor this pull sent, which the server took as the receipt
   * already). It runs in the background (see waitAcked), so the sync's
   * signal does not cut it short; a timeout of ACK_TIMEOUT_MS does. A failed
   * ack only costs the receipt's precision: the next pull sends the stored
   * cursor, which the server records then.
   */
  private async ack(sent: string, next: string): Promise<void> {
    if (next === "" || next === sent) return;
    await this.sync_!.ack({ cursor: next, storedTime: timestampFromMs(this.now()) }, { timeoutMs: ACK_TIMEOUT_MS }).catch(() => undefined);
  }

  /**
   * Applies one page and its cursor in one transaction, if the store's
   * cursor is still from, the one the page was pulled from (and the
   * generation gen): records are written as the server sent them (removals
   * deleted) before anything is read, so that a pipelined page's writes are
   * issued while the page before it commits; then those with outbox
   * entries are written again with the new state under their entries.
   * Returns the number of records.
   *
   * @throws FieldsyncError "store_changed" when the cursor or generation moved (the transaction aborts).
   */
  private storePage(page: PullResponse, from: string, gen: number): Promise<number> {
    return this.storage.update(async (tx) => {
      const writes: Promise<void>[] = [];
      let newest = 0n;
      for (const rec of page.records) {
        writes.push(writePulled(tx, rec, gen));
        if (rec.hlc > newest) newest = rec.hlc;
      }
      await Promise.all(writes);
      const m = await tx.meta();
      if (m.cursor !== from || m.gen !== gen) {
        throw new FieldsyncError("store_changed", `the store's cursor moved while a page was pulled (want ${JSON.stringify(from)} gen ${gen}, found ${JSON.stringify(m.cursor)} gen ${m.gen})`);
      }
      const local = entriesByRecord(await tx.outbox());
      if (local.size > 0) {
        for (const rec of page.records) if (local.has(rec.id)) await applyPulled(tx, rec, gen, local);
      }
      this.clock.observe(m.hlc);
      m.hlc = this.clock.observe(newest);
      m.cursor = page.nextCursor;
      await tx.setMeta(m);
      return page.records.length;
    });
  }

  /**
   * Runs once the server has nothing more: acked entries are now reflected
   * in the stored states, so they go and their views are rebuilt; after a
   * resync, records the full pull did not confirm are dropped (pending
   * edits stay).
   */
  private async finishPull(): Promise<void> {
    await this.storage.update(async (tx) => {
      const acked = new Set<string>();
      for (const e of await tx.outbox()) {
        if (!e.acked) continue;
        acked.add(e.recordId);
        await tx.deleteEntry(e.seq);
      }
      for (const id of acked) await refresh(tx, id);
      const m = await tx.meta();
      if (m.resync) await sweepResync(tx, m.gen);
      m.resync = false;
      m.lastSync = this.now();
      await tx.setMeta(m);
    });
  }
}

/** The field of a record type a photo may go into: a PhotoRef field, or a set-union list of them, that devices write. */
function photoSlot(desc: DescMessage, slot: string) {
  const f = fieldByName(desc, slot);
  const policy = f && hasOption(f, fieldExt) ? getOption(f, fieldExt).merge : MergePolicy.UNSPECIFIED;
  const why = !f || f.fieldKind === "map" || f.message?.typeName !== PhotoRefSchema.typeName ? "has no PhotoRef field"
    : policy === MergePolicy.SERVER_ONLY ? "has it written by the server only:"
    : f.fieldKind === "list" && policy !== MergePolicy.SET_UNION ? "has it as a list without set-union merge:" : "";
  if (why) throw new FieldsyncError("not_photo_slot", `${desc.typeName} ${why} ${JSON.stringify(slot)}`);
  return f!;
}

/** Records per pull page when ClientOptions.pullLimit is 0: the server's maximum (a page also ends at about 4 MiB of values). */
export const PULL_LIMIT = 5000;

/** How long a sync's receipt, sent in the background, may take (see Client.waitAcked). */
const ACK_TIMEOUT_MS = 60_000;

/** This SDK's version, reported in DeviceStatus.sdk_version. */
export const SDK_VERSION = "0.1.0";

// Bounds of DeviceStatus that the server enforces (see sync.proto).
const MAX_STATUS_VERSION = 64;
const MAX_STATUS_AGE_MS = 10 * 365 * 24 * 3600 * 1000;
const MIN_STATUS_TIME_MS = Date.UTC(2000, 0, 1);
const MAX_STATUS_TIME_MS = Date.UTC(2100, 0, 1);

/** A version string fitted to the server's rules: printable ASCII without spaces (others become "_"), at most 64 bytes. */
export function cleanVersion(v: string): string {
  return v.replace(/[^\x21-\x7e]/g, "_").slice(0, MAX_STATUS_VERSION);
}

/** The photo fields of a Status. */
function photoStatus(ps: QueuedPhoto[]): Pick<Status, "photoQueue" | "photoBytesPending" | "photosFailed"> {
  const waiting = ps.filter((p) => p.state === QueueState.Queued || p.state === QueueState.Uploading);
  return {
    photoQueue: waiting.length,
    photoBytesPending: waiting.reduce((n, p) => n + p.size - p.offset, 0),
    photosFailed: ps.filter((p) => p.state === QueueState.Failed).length,
  };
}
