import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type Client as RpcClient } from "@connectrpc/connect";
import { crc32c } from "./crc32c.js";
import { FieldsyncError } from "./errors.js";
import { MediaService, UploadOffsetSchema, UploadState, type Upload } from "./gen/fieldsync/v1/media_pb.js";
import { QueueState, type QueuedPhoto, type Storage, type StoreTx } from "./storage.js";

// The photo queue: photos attached on the device wait here, by SHA-256,
// with their bytes, until the server stored them. The upload mirrors the
// Go SDK's (clients/go/photo_upload.go): records go first, each photo goes
// on from the offset the server holds, in CRC32C-checked chunks.

/** The largest photo a record may refer to (PhotoRef.size_bytes). */
export const MAX_PHOTO_SIZE = 256 << 20;
/** The default chunk size of an upload (the server takes up to 4 MiB). */
export const DEFAULT_CHUNK_SIZE = 1 << 20;
const MAX_CHUNK_SIZE = 4 << 20;
/** The default number of a photo's chunks in flight at once. */
export const DEFAULT_CHUNKS_IN_FLIGHT = 2;
const MAX_CHUNKS_IN_FLIGHT = 4; // the server holds at most 4 chunks ahead per upload
const MAX_RESTARTS = 3; // uploads the server ended or found short, per pass
const MAX_CRC_FAILURES = 3; // chunks refused in a row for a CRC32C mismatch
const MAX_THROTTLE_WAITS = 16;
const MAX_THROTTLE_WAIT_MS = 5000;

/** One photo's progress, with the whole pass's (overall) beside it. */
export interface PhotoProgress {
  sha256: string;
  /** Bytes the server acknowledged of this photo, of size. */
  sent: number;
  size: number;
  /** Every photo of the pass: bytes acknowledged of bytes to send, photos done of photos. */
  overall: { sent: number; size: number; done: number; photos: number };
}

/** Sniffs the image type from the first bytes: the types the server accepts; "" for any other. */
export function sniffImage(head: Uint8Array): string {
  const at = (i: number, s: string) => [...s].every((c, k) => head[i + k] === c.charCodeAt(0));
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
  if (head[0] === 0x89 && at(1, "PNG\r\n\x1a\n")) return "image/png";
  if (at(0, "RIFF") && at(8, "WEBP")) return "image/webp";
  if (head.length >= 12 && at(4, "ftyp")) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (["heic", "heix", "hevc", "hevx", "heim", "heis"].includes(brand)) return "image/heic";
    if (["mif1", "msf1"].includes(brand)) return "image/heif";
  }
  return "";
}

/** Lower-case hex SHA-256 of bytes (Web Crypto). */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Queues a photo inside a write transaction, or leaves it as it is when it
 * is queued, uploading or done already; a failed one is queued again from
 * the start. Its bytes are kept unless the server has the photo.
 */
export async function queuePhoto(tx: StoreTx, p: QueuedPhoto, blob: Blob): Promise<QueueState> {
  const old = await tx.photo(p.sha256);
  if (old && old.state !== QueueState.Failed) {
    if (old.state !== QueueState.Done && !(await tx.photoBlob(p.sha256))) await tx.putPhotoBlob(p.sha256, blob);
    return old.state;
  }
  await tx.putPhoto(p);
  await tx.putPhotoBlob(p.sha256, blob);
  return p.state;
}

/** A new queue entry. */
export function newPhoto(f: Pick<QueuedPhoto, "sha256" | "size" | "contentType" | "recordType" | "recordId" | "slot" | "hlc" | "created">): QueuedPhoto {
  return { ...f, state: QueueState.Queued, uploadId: "", offset: 0, recreated: 0, failures: 0, retryAt: 0, error: "", done: 0 };
}

/** The photos to upload at now: queued or uploading, and not put off past now. */
export function duePhotos(all: QueuedPhoto[], now: number): QueuedPhoto[] {
  return all.filter((p) => (p.state === QueueState.Queued || p.state === QueueState.Uploading) && p.retryAt <= now);
}

/** When the earliest photo put off past now is due; undefined when none is. */
export function nextPhotoRetry(all: QueuedPhoto[], now: number): number | undefined {
  const later = all.filter((p) => (p.state === QueueState.Queued || p.state === QueueState.Uploading) && p.retryAt > now).map((p) => p.retryAt);
  return later.length ? Math.min(...later) : undefined;
}

/** The delay before a photo put off for the n-th time in a row is tried again: doubling from lo up to hi. */
export function putOffDelay(n: number, lo: number, hi: number): number {
  return n > 32 ? hi : Math.min(lo * 2 ** (n - 1), hi);
}

/**
 * How long the server asks to wait when err is its refusal of a call for
 * the caller's rate or calls in progress: ResourceExhausted with a
 * google.rpc.RetryInfo detail or a Retry-After header. The refusal of a
 * photo larger than the server takes carries neither: undefined.
 */
export function throttledMs(err: unknown): number | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.ResourceExhausted) return undefined;
  for (const d of err.details) {
    if ("type" in d && d.type === "google.rpc.RetryInfo") return retryDelayMs(d.value);
  }
  const after = err.metadata.get("Retry-After");
  if (after !== null && /^\d+$/.test(after.trim())) return Number(after.trim()) * 1000;
  return undefined;
}

/** Decodes google.rpc.RetryInfo's retry_delay (a Duration) in ms. */
function retryDelayMs(b: Uint8Array): number {
  let ms = 0;
  const r = new BinaryReader(b);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== 1) {
      r.skip(wt);
      continue;
    }
    const d = new BinaryReader(r.bytes());
    while (d.pos < d.len) {
      const [f, w] = d.tag();
      if (f === 1) ms += Number(d.int64()) * 1000;
      else if (f === 2) ms += d.int32() / 1e6;
      else d.skip(w);
    }
  }
  return Math.max(ms, 0);
}

/** Whether a failed call is the connection's or the device's, not the photo's: Sync retries it. */
function syncsError(err: unknown): boolean {
  if (err instanceof Restart) return false; // the server ended the upload too often: put off
  if (!(err instanceof ConnectError)) return true; // a store error
  return [Code.Unauthenticated, Code.PermissionDenied, Code.Unavailable, Code.Unknown, Code.Canceled, Code.DeadlineExceeded, Code.Internal].includes(err.code);
}

/** A refusal retrying cannot fix: the photo fails. */
class PhotoFailure extends Error {}
/** Local writes wait to be pushed: the pass stops between chunks so records go first. */
const YIELD = Symbol("yield");
/** The server's upload ended or lacks bytes: create (or find) it again. */
class Restart extends Error {}

/** What the uploader needs of its client. */
export interface UploaderDeps {
  storage: Storage;
  media: RpcClient<typeof MediaService>;
  now: () => number;
  chunkSize: number;
  /** Chunks of a photo sent before the answers to the ones before them (1: one at a time). */
  inFlight: number;
  backoff: { min: number; max: number };
  progress: (p: PhotoProgress) => void;
  signal?: AbortSignal;
}

/**
 * Uploads the due photos of the queue, oldest first. A photo the server
 * refuses for good fails, one it cannot take now is put off; neither stops
 * the others. Returns true when sync should push and pull again: local
 * writes wait, or a photo was stored (the server re-delivers the records
 * that refer to it). Connection and store errors are thrown for sync to retry.
 */
export async function uploadPhotos(d: UploaderDeps): Promise<boolean> {
  const queue = duePhotos(await d.storage.read((tx) => tx.photos()), d.now());
  const overall = { sent: 0, size: 0, done: 0, photos: queue.length };
  for (const p of queue) {
    overall.size += p.size;
    overall.sent += p.offset;
  }
  let again = false;
  for (const p of queue) {
    const u = new PhotoUpload(d, p, overall);
    let out: unknown;
    try {
      out = await u.run();
    } catch (err) {
      if (syncsError(err) && !(err instanceof PhotoFailure)) throw err;
      await settle(d, p, err);
      continue;
    }
    if (out === YIELD) return true;
    again = true;
  }
  return again;
}

/** Records a photo failed for good, or put off after a transient refusal. */
async function settle(d: UploaderDeps, p: QueuedPhoto, err: unknown): Promise<void> {
  const msg = err instanceof Error ? err.message : String(err);
  await update(d, p, (q) => {
    if (err instanceof PhotoFailure) {
      q.state = QueueState.Failed;
    } else {
      q.failures++;
      q.retryAt = d.now() + putOffDelay(q.failures, d.backoff.min, d.backoff.max);
    }
    q.error = msg;
  });
}

/** Applies fn to the stored photo (and to p) while it is queued or uploading. */
async function update(d: UploaderDeps, p: QueuedPhoto, fn: (q: QueuedPhoto) => void, dropBlob = false): Promise<void> {
  await d.storage.update(async (tx) => {
    const q = await tx.photo(p.sha256);
    if (!q || (q.state !== QueueState.Queued && q.state !== QueueState.Uploading)) return;
    fn(q);
    await tx.putPhoto(q);
    if (dropBlob) await tx.deletePhotoBlob(p.sha256);
  });
  fn(p);
}

/** One photo's upload from its stored bytes. */
class PhotoUpload {
  private crcs = 0;
  private waits = 0;
  private blob: Blob | undefined;
  // The acknowledged offset is stored for progress only (the server's
  // offset is where an upload resumes, see create), so chunks do not wait
  // for its durable write: one write at a time, of the latest offset.
  private saving: Promise<void> | undefined;
  private unsaved: number | undefined;
  private saveErr: unknown;

  constructor(
    private readonly d: UploaderDeps,
    private readonly p: QueuedPhoto,
    private readonly overall: PhotoProgress["overall"],
  ) {}

  async run(): Promise<typeof YIELD | void> {
    let out;
    try {
      out = await this.attempts();
    } finally {
      await this.saving;
    }
    if (this.saveErr !== undefined) throw this.saveErr;
    return out;
  }

  private async attempts(): Promise<typeof YIELD | void> {
    this.blob = await this.d.storage.read((tx) => tx.photoBlob(this.p.sha256));
    if (!this.blob) throw new PhotoFailure("the photo's local bytes are gone");
    for (let i = 0; i < MAX_RESTARTS; i++) {
      try {
        return await this.attempt();
      } catch (err) {
        if (!(err instanceof Restart)) throw err;
      }
    }
    throw new Restart(`the server's upload ended ${MAX_RESTARTS} times`);
  }

  /** create → chunks → complete, once. */
  private async attempt(): Promise<typeof YIELD | void> {
    if (await this.recordsWait()) return YIELD;
    const up = await this.create();
    if (up.state === UploadState.COMPLETE) return this.done(); // the tenant holds the photo already
    this.progress(Number(up.offset));
    if (await this.chunks(up.uploadId, Number(up.offset))) return YIELD;
    return this.complete(up.uploadId);
  }

  /**
   * Sends the chunks from off with up to inFlight of them unanswered (the
   * server applies a chunk sent ahead once the ones before it arrived), and
   * takes their answers in order. An answer elsewhere than the chunk's end
   * cancels the chunks after it and goes on from the server's offset; a
   * failure cancels them and is thrown. True when records wait: no chunk
   * is sent after them (the ones in flight are answered first).
   */
  private async chunks(id: string, off: number): Promise<boolean> {
    const size = this.p.size;
    const flight: { end: number; res: Promise<{ v?: number; e?: unknown }> }[] = [];
    const stop = new AbortController();
    const parent = this.d.signal;
    parent?.throwIfAborted();
    const onAbort = () => stop.abort(parent!.reason);
    parent?.addEventListener("abort", onAbort);
    let wait = false;
    try {
      for (;;) {
        while (!wait && flight.length < this.d.inFlight && off < size) {
          if ((wait = await this.recordsWait())) break;
          const n = Math.min(this.d.chunkSize, size - off);
          flight.push({ end: off + n, res: this.put(id, off, n, stop.signal).then((v) => ({ v }), (e) => ({ e })) });
          off += n;
        }
        const c = flight.shift();
        if (!c) return wait;
        const r = await c.res;
        if ("e" in r) throw r.e;
        if (r.v !== c.end && flight.length) {
          // The server stands elsewhere: the chunks sent after this one are cancelled, then it is asked where.
          stop.abort();
          await Promise.all(flight.map((f) => f.res));
          flight.length = 0;
          return this.chunks(id, this.acked(await this.serverOffset(id)));
        }
        if (this.acked(r.v!) !== c.end) off = r.v!;
      }
    } finally {
      parent?.removeEventListener("abort", onAbort);
      stop.abort();
      await Promise.all(flight.map((f) => f.res));
    }
  }

  private async recordsWait(): Promise<boolean> {
    return this.d.storage.read(async (tx) => (await tx.outbox()).some((e) => !e.acked));
  }

  /** Runs fn, again after the hinted wait while the server throttles it (at most MAX_THROTTLE_WAITS per photo). */
  private async call<T>(fn: () => Promise<T>, signal = this.d.signal): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const ms = throttledMs(err);
        if (ms === undefined || this.waits >= MAX_THROTTLE_WAITS) throw err;
        this.waits++;
        await sleep(Math.min(ms, MAX_THROTTLE_WAIT_MS), signal);
      }
    }
  }

  /** Starts the server's upload, or finds the device's upload in progress with its durable offset. */
  private async create(): Promise<Upload> {
    const p = this.p;
    let res;
    try {
      res = await this.call(() => this.d.media.createUpload({
        sha256: p.sha256, sizeBytes: BigInt(p.size), contentType: p.contentType, recordId: p.recordId, slot: p.slot, deviceHlc: p.hlc,
      }, { signal: this.d.signal }));
    } catch (err) {
      const refused = err instanceof ConnectError && throttledMs(err) === undefined &&
        [Code.InvalidArgument, Code.ResourceExhausted, Code.FailedPrecondition].includes(err.code);
      if (refused) throw new PhotoFailure(`create upload: ${(err as Error).message}`); // a size the server does not take
      throw err;
    }
    const up = res.upload;
    if (!up) throw new Error("create upload: no upload in the answer");
    await this.saving;
    await update(this.d, p, (q) => {
      q.state = QueueState.Uploading;
      q.uploadId = up.uploadId;
      q.offset = Number(up.offset);
    });
    return up;
  }

  /** Puts the n bytes at off and returns the server's offset after the call (off again after a CRC32C refusal: send it again). */
  private async put(id: string, off: number, n: number, signal: AbortSignal): Promise<number> {
    const data = new Uint8Array(await this.blob!.slice(off, off + n).arrayBuffer());
    if (data.length !== n) throw new PhotoFailure(`the local bytes are shorter than the photo's ${this.p.size}`);
    try {
      const res = await this.call(() => this.d.media.putChunk({ uploadId: id, offset: BigInt(off), data, crc32c: crc32c(data) }, { signal }), signal);
      this.crcs = 0;
      return Number(res.offset);
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      const at = err.code === Code.Aborted ? err.findDetails(UploadOffsetSchema)[0] : undefined;
      if (at) return Number(at.offset); // the server holds more (an answer was lost) or less
      switch (err.code) {
        case Code.Aborted:
          return this.serverOffset(id);
        case Code.FailedPrecondition:
        case Code.NotFound:
          throw new Restart("the server's upload ended");
        case Code.DataLoss:
          if (++this.crcs < MAX_CRC_FAILURES) return off; // damaged on the way: send it again
      }
      throw err;
    }
  }

  /** Asks the server where its upload stands. */
  private async serverOffset(id: string): Promise<number> {
    let res;
    try {
      res = await this.call(() => this.d.media.getUpload({ uploadId: id }, { signal: this.d.signal }));
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) throw new Restart("the server's upload is gone");
      throw err;
    }
    if (res.upload?.state !== UploadState.IN_PROGRESS) throw new Restart("the server's upload ended");
    return Number(res.upload.offset);
  }

  private acked(off: number): number {
    if (this.saveErr !== undefined) throw this.saveErr;
    this.overall.sent += off - this.p.offset;
    this.p.offset = off;
    this.unsaved = off;
    this.saving ??= this.save();
    this.progress(off);
    return off;
  }

  /** Stores the latest acknowledged offset until none is left to store; a failure is thrown by the next chunk or run. */
  private async save(): Promise<void> {
    try {
      for (let off = this.unsaved; off !== undefined; off = this.unsaved) {
        this.unsaved = undefined;
        await this.d.storage.update(async (tx) => {
          const q = await tx.photo(this.p.sha256);
          if (!q || q.state !== QueueState.Uploading) return;
          q.offset = off;
          await tx.putPhoto(q);
        });
      }
    } catch (err) {
      this.saveErr ??= err;
    } finally {
      this.saving = undefined;
    }
  }

  /** Asks the server to verify and store the photo. */
  private async complete(id: string): Promise<void> {
    try {
      await this.call(() => this.d.media.completeUpload({ uploadId: id }, { signal: this.d.signal }));
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      if (err.code === Code.FailedPrecondition || err.code === Code.NotFound) throw new Restart("bytes are missing, or the upload ended");
      if (err.code === Code.DataLoss || err.code === Code.InvalidArgument) return this.refused(id, err);
      throw err;
    }
    return this.done();
  }

  /** A completion refused for the bytes received: cancelled and, once per photo, sent again from the start. */
  private async refused(id: string, cause: ConnectError): Promise<never> {
    await this.call(() => this.d.media.cancelUpload({ uploadId: id }, { signal: this.d.signal })).catch((err) => {
      if (!(err instanceof ConnectError) || syncsError(err)) throw err;
    });
    await this.saving;
    const sum = await sha256Hex(new Uint8Array(await this.blob!.arrayBuffer()));
    if (sum !== this.p.sha256) throw new PhotoFailure(`the local bytes are damaged: they hash to ${sum}`);
    if (this.p.recreated > 0) throw new PhotoFailure(`complete upload (sent twice): ${cause.message}`);
    await update(this.d, this.p, (q) => {
      q.recreated++;
      q.uploadId = "";
      q.offset = 0;
    });
    throw new Restart("completion refused; sending again");
  }

  /** Marks the photo stored and drops its bytes. */
  private async done(): Promise<void> {
    await this.saving;
    const before = this.p.offset;
    await update(this.d, this.p, (q) => {
      q.state = QueueState.Done;
      q.offset = q.size;
      q.failures = 0;
      q.retryAt = 0;
      q.error = "";
      q.done = this.d.now();
    }, true);
    this.overall.sent += this.p.size - before;
    this.overall.done++;
    this.progress(this.p.size);
  }

  private progress(sent: number): void {
    this.d.progress({ sha256: this.p.sha256, sent, size: this.p.size, overall: { ...this.overall } });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}

/** Checks the chunk size option: 1 byte to the server's 4 MiB. */
export function chunkSizeOf(n: number | undefined): number {
  if (n === undefined) return DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(n) || n < 1) throw new FieldsyncError("invalid_option", `photoChunkSize ${n}: want a positive integer`);
  return Math.min(n, MAX_CHUNK_SIZE);
}

/** Checks the chunks-in-flight option: 1 (one at a time) to 4. */
export function inFlightOf(n: number | undefined): number {
  if (n === undefined) return DEFAULT_CHUNKS_IN_FLIGHT;
  if (!Number.isInteger(n) || n < 1) throw new FieldsyncError("invalid_option", `photoChunksInFlight ${n}: want a positive integer`);
  return Math.min(n, MAX_CHUNKS_IN_FLIGHT);
}
