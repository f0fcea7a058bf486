import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it, vi } from "vitest";
import { IdentityService } from "../src/gen/fieldsync/v1/identity_pb.js";
import { MediaService, UploadOffsetSchema, UploadState } from "../src/gen/fieldsync/v1/media_pb.js";
import { duePhotos, newPhoto, nextPhotoRetry, putOffDelay, queuePhoto, sniffImage, throttledMs } from "../src/photos.js";
import { Client, MutationOutcome, openIndexedDBStorage, QueueState, SurgerySupportSchema, SyncService, type QueuedPhoto } from "../src/index.js";
import type { Storage } from "../src/storage.js";
import { fakeClient as fakeClientOf, memoryStorage } from "./helpers.js";
import { jpeg } from "./photos.js";

const SURGERY = SurgerySupportSchema.typeName;

function photo(sha: string, over: Partial<QueuedPhoto> = {}): QueuedPhoto {
  return { ...newPhoto({ sha256: sha, size: 10, contentType: "image/jpeg", recordType: SURGERY, recordId: "r1", slot: "pre_op_photo", hlc: 1n, created: 1 }), ...over };
}

/** A google.rpc.RetryInfo detail as the server sends it (retry_delay = 1: Duration). */
function retryInfo(seconds: bigint, nanos: number) {
  const d = create(DurationSchema, { seconds, nanos });
  const dur = anyPack(DurationSchema, d).value; // Duration's wire bytes
  const b = new Uint8Array(2 + dur.length);
  b.set([0x0a, dur.length]);
  b.set(dur, 2);
  return { type: "google.rpc.RetryInfo", value: b } as never; // an incoming detail, as connect decodes it
}

describe("queuePhoto", () => {
  const cases: { name: string; old?: QueueState; want: QueueState; requeued: boolean }[] = [
    { name: "new photo is queued", want: QueueState.Queued, requeued: true },
    { name: "queued stays", old: QueueState.Queued, want: QueueState.Queued, requeued: false },
    { name: "uploading keeps its offset", old: QueueState.Uploading, want: QueueState.Uploading, requeued: false },
    { name: "done is not uploaded again", old: QueueState.Done, want: QueueState.Done, requeued: false },
    { name: "failed is queued again from the start", old: QueueState.Failed, want: QueueState.Queued, requeued: true },
  ];
  it.each(cases)("$name", async ({ old, want, requeued }) => {
    const s = await memoryStorage();
    if (old !== undefined) await s.update((tx) => tx.putPhoto(photo("a", { state: old, offset: 4, uploadId: "u", error: "x", created: 0 })));
    const got = await s.update((tx) => queuePhoto(tx, photo("a", { created: 5 }), new Blob(["0123456789"])));
    expect(got).toBe(want);
    const stored = await s.read((tx) => tx.photo("a"));
    expect(stored!.state).toBe(want);
    expect(stored!.created === 5).toBe(requeued);
    if (requeued) expect(stored).toMatchObject({ offset: 0, uploadId: "", error: "" });
    expect(!!(await s.read((tx) => tx.photoBlob("a")))).toBe(requeued || old !== QueueState.Done);
  });
});

describe("queue helpers", () => {
  it("due photos: queued or uploading, not put off past now", () => {
    const all = [
      photo("q"), photo("u", { state: QueueState.Uploading }), photo("d", { state: QueueState.Done }),
      photo("f", { state: QueueState.Failed }), photo("later", { retryAt: 101 }), photo("now", { retryAt: 100 }),
    ];
    expect(duePhotos(all, 100).map((p) => p.sha256)).toEqual(["q", "u", "now"]);
  });

  it("next retry: the earliest put-off photo still waiting", () => {
    const all = [photo("a", { retryAt: 300 }), photo("b", { retryAt: 200 }), photo("c", { retryAt: 150, state: QueueState.Failed }), photo("d", { retryAt: 50 })];
    expect(nextPhotoRetry(all, 100)).toBe(200);
    expect(nextPhotoRetry([photo("x")], 100)).toBeUndefined();
  });

  it.each([[1, 200], [2, 400], [3, 800], [6, 5000], [40, 5000]])("put off %i times in a row: %i ms", (n, want) => {
    expect(putOffDelay(n, 200, 5000)).toBe(want);
  });

  it.each([
    { name: "RetryInfo detail", err: new ConnectError("slow down", Code.ResourceExhausted, undefined, [retryInfo(1n, 500_000_000)]), want: 1500 },
    { name: "Retry-After header", err: new ConnectError("slow down", Code.ResourceExhausted, { "Retry-After": "2" }), want: 2000 },
    { name: "size refusal (no hint)", err: new ConnectError("photo too large", Code.ResourceExhausted), want: undefined },
    { name: "another code", err: new ConnectError("down", Code.Unavailable, { "Retry-After": "2" }), want: undefined },
  ])("throttled: $name", ({ err, want }) => {
    expect(throttledMs(err)).toBe(want);
  });

  it.each([
    ["jpeg", [0xff, 0xd8, 0xff, 0xe0], "image/jpeg"],
    ["png", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
    ["webp", [..."RIFF\0\0\0\0WEBP"].map((c) => c.charCodeAt(0)), "image/webp"],
    ["heic", [0, 0, 0, 24, ..."ftypheic".split("").map((c) => c.charCodeAt(0))], "image/heic"],
    ["text", [..."hello world!"].map((c) => c.charCodeAt(0)), ""],
  ])("sniffs %s", (_n, head, want) => {
    expect(sniffImage(Uint8Array.from(head as number[]))).toBe(want);
  });
});

describe("IndexedDB schema upgrade", () => {
  it("opens a version 1 store with its records and outbox kept, and queues photos in it", async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve, reject) => {
      const req = factory.open("old", 1);
      req.onupgradeneeded = () => {
        const db = req.result;
        db.createObjectStore("meta").put({ nextSeq: 7, token: "t" }, "meta");
        db.createObjectStore("records", { keyPath: "id" }).createIndex("type", "type");
        db.createObjectStore("outbox", { keyPath: "seq" }).createIndex("recordId", "recordId");
        db.createObjectStore("conflicts");
        db.createObjectStore("rejections", { keyPath: "entry.seq" });
      };
      req.onsuccess = () => (req.result.close(), resolve());
      req.onerror = () => reject(req.error);
    });
    const s = await openIndexedDBStorage("old", { indexedDB: factory });
    expect((await s.read((tx) => tx.meta())).nextSeq).toBe(7);
    await s.update((tx) => queuePhoto(tx, photo("a"), new Blob(["x"])));
    expect((await s.read((tx) => tx.photos())).map((p) => p.sha256)).toEqual(["a"]);
  });
});

type Chunk = { offset: bigint; data: Uint8Array };

/**
 * The server's side of one upload, as fieldsyncd keeps it: the bytes it
 * holds. A chunk at its offset is appended; one ahead of it waits (up to
 * aheadMs, while its caller waits) for the chunks before it; one still
 * elsewhere is refused with Aborted and the offset.
 */
class Held {
  bytes: Uint8Array = new Uint8Array(0);
  aheadMs = 200;
  private waiting: (() => void)[] = [];
  get offset(): bigint {
    return BigInt(this.bytes.length);
  }
  set(b: Uint8Array): void {
    this.bytes = b;
    for (const w of this.waiting.splice(0)) w();
  }
  async put(req: Chunk, ctx?: HandlerContext): Promise<{ offset: bigint }> {
    const until = Date.now() + this.aheadMs;
    let wake = () => {};
    ctx?.signal.addEventListener("abort", () => wake(), { once: true });
    while (req.offset > this.offset && Date.now() < until && !ctx?.signal.aborted) {
      await new Promise<void>((r) => {
        wake = r;
        this.waiting.push(r);
        setTimeout(r, 10);
      });
    }
    if (ctx?.signal.aborted) throw new ConnectError("caller went away", Code.Canceled);
    if (req.offset !== this.offset) {
      throw new ConnectError("wrong offset", Code.Aborted, undefined, [{ desc: UploadOffsetSchema, value: { offset: this.offset } }]);
    }
    const b = new Uint8Array(this.bytes.length + req.data.length);
    b.set(this.bytes);
    b.set(req.data, this.bytes.length);
    this.set(b);
    return { offset: this.offset };
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A fake server: sync applies everything; the media service runs media (defaults: a well-behaved upload into held). */
function server(media: { [method: string]: unknown }, calls: string[], held = new Held(), sync: { [method: string]: unknown } = {}) {
  return (r: ConnectRouter) => {
    r.service(IdentityService, { whoAmI: () => ({ deviceId: "d1", userId: "u1", tenantId: "t1" }) });
    r.service(SyncService, {
      push: (req) => ({
        results: req.mutations.map((m) => ({ seq: m.seq, recordId: m.recordId, outcome: MutationOutcome.APPLIED, appliedHlc: m.hlc })),
        lastSeq: req.mutations.at(-1)!.seq, serverHlc: 1n,
      }),
      pull: (req) => ({ nextCursor: req.cursor || "c0" }),
      ack: () => ({}),
      async *watch(_req, ctx) { // quiet until the client closes it
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
      ...(sync as object),
    });
    const track = <A extends unknown[], R>(name: string, fn: (...a: A) => R) => (...a: A) => (calls.push(name), fn(...a));
    r.service(MediaService, {
      createUpload: track("CreateUpload", (req: { sizeBytes: bigint; sha256: string }) => ({ upload: { uploadId: "up1", sha256: req.sha256, sizeBytes: req.sizeBytes, offset: held.offset, state: UploadState.IN_PROGRESS } })),
      putChunk: track("PutChunk", (req: Chunk, ctx: HandlerContext) => held.put(req, ctx)),
      getUpload: track("GetUpload", () => ({ upload: { uploadId: "up1", offset: held.offset, state: UploadState.IN_PROGRESS } })),
      completeUpload: track("CompleteUpload", () => ({ upload: { uploadId: "up1", state: UploadState.COMPLETE } })),
      cancelUpload: track("CancelUpload", () => ({})),
      ...media,
    } as never);
  };
}

describe.each([1, 2])("upload state machine (fake server), %i chunks in flight", (photoChunksInFlight) => {
  const fakeClient = (routes: Parameters<typeof fakeClientOf>[0], opts: Parameters<typeof fakeClientOf>[1] = {}) => fakeClientOf(routes, { photoChunksInFlight, ...opts });

  it("waits out a throttled chunk for the server's RetryInfo, then completes", async () => {
    const calls: string[] = [];
    let refused = 0;
    const held = new Held();
    const c = await fakeClient(server({
      putChunk: (req: Chunk, ctx: HandlerContext) => {
        calls.push("PutChunk");
        if (refused++ === 0) throw new ConnectError("rate", Code.ResourceExhausted, undefined, [retryInfo(0n, 1_000_000)]);
        return held.put(req, ctx);
      },
    }, calls, held), { photoChunkSize: 1 << 20 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync();
    expect(calls).toEqual(["CreateUpload", "PutChunk", "PutChunk", "CompleteUpload"]);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 1000 });
  });

  it("fails the photo for good when the server refuses its size, and stops asking", async () => {
    const calls: string[] = [];
    const c = await fakeClient(server({
      createUpload: () => {
        calls.push("CreateUpload");
        throw new ConnectError("size_bytes: 30000000 is more than the 26214400 bytes this server takes", Code.ResourceExhausted);
      },
    }, calls));
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync();
    await c.sync();
    expect(calls).toEqual(["CreateUpload"]);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Failed, error: expect.stringContaining("size_bytes") });
    expect(await c.status()).toMatchObject({ photoQueue: 0, photosFailed: 1 });
  });

  it("puts a photo off (not failed) after a transient refusal, keeping the records' sync going", async () => {
    const calls: string[] = [];
    const c = await fakeClient(server({
      completeUpload: () => {
        calls.push("CompleteUpload");
        throw new ConnectError("object store down", Code.ResourceExhausted, { "Retry-After": "0" });
      },
    }, calls), { backoffMs: { min: 60_000, max: 60_000 } });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync(); // 16 hinted waits of 0 s, then put off
    const [p] = await c.photos();
    expect(p).toMatchObject({ state: QueueState.Uploading, failures: 1, offset: 1000 });
    expect(p!.retryAt).toBeGreaterThan(Date.now());
    expect(calls.filter((x) => x === "CompleteUpload")).toHaveLength(17);
  });

  it("resends a chunk refused for a CRC32C mismatch", async () => {
    const calls: string[] = [];
    let first = true;
    const held = new Held();
    const c = await fakeClient(server({
      putChunk: (req: Chunk, ctx: HandlerContext) => {
        calls.push("PutChunk");
        if (first) {
          first = false;
          throw new ConnectError("crc32c mismatch", Code.DataLoss);
        }
        return held.put(req, ctx);
      },
    }, calls, held));
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync();
    expect(calls).toEqual(["CreateUpload", "PutChunk", "PutChunk", "CompleteUpload"]);
  });

  it("resends a chunk in the middle refused for a CRC32C mismatch, each chunk applied once", async () => {
    const calls: string[] = [];
    const held = new Held();
    const applied: bigint[] = [];
    let first = true;
    const data = jpeg(4000, 4);
    const c = await fakeClient(server({
      putChunk: async (req: Chunk, ctx: HandlerContext) => {
        calls.push("PutChunk");
        if (req.offset === 1000n && first) {
          first = false;
          throw new ConnectError("crc32c mismatch", Code.DataLoss);
        }
        const res = await held.put(req, ctx);
        applied.push(req.offset);
        return res;
      },
    }, calls, held), { photoChunkSize: 1000 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await c.sync();
    expect(applied).toEqual([0n, 1000n, 2000n, 3000n]);
    expect(sha(held.bytes)).toBe(sha(data));
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 4000 });
  });

  it("refuses what is not an image or not a photo slot, writing nothing", async () => {
    const c = await fakeClient(server({}, []));
    await expect(c.addPhoto(SURGERY, "r1", "pre_op_photo", new TextEncoder().encode("not an image at all"))).rejects.toMatchObject({ code: "not_image" });
    await expect(c.addPhoto(SURGERY, "r1", "hospital_id", jpeg(100, 1))).rejects.toMatchObject({ code: "not_photo_slot" });
    await expect(c.addPhoto(SURGERY, "r1", "photos_complete", jpeg(100, 1))).rejects.toMatchObject({ code: "not_photo_slot" });
    expect(await c.status()).toMatchObject({ outboxDepth: 0, photoQueue: 0 });
  });

  it("puts a photo off when the server ends its upload again and again", async () => {
    const calls: string[] = [];
    const c = await fakeClient(server({
      putChunk: () => {
        calls.push("PutChunk");
        throw new ConnectError("upload expired", Code.NotFound);
      },
    }, calls), { backoffMs: { min: 60_000, max: 60_000 } });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync();
    expect(calls.filter((x) => x === "CreateUpload")).toHaveLength(3);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Uploading, failures: 1, error: expect.stringContaining("ended 3 times") });
  });

  it("refuses to sign out while photos wait, unless forced", async () => {
    const c = await fakeClient(server({ createUpload: () => { throw new ConnectError("down", Code.Unavailable); } }, []), { unreachableAfterMs: 0 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await expect(c.sync()).rejects.toMatchObject({ code: "unreachable" });
    await expect(c.signOut()).rejects.toMatchObject({ code: "unsynced", message: expect.stringContaining("1 photos") });
    await c.signOut({ force: true });
    expect(await c.photos()).toEqual([]);
  });

  it("watch tries a put-off photo again when it is due", async () => {
    const calls: string[] = [];
    let first = true;
    const c = await fakeClient(server({
      createUpload: (req: { sizeBytes: bigint; sha256: string }) => {
        calls.push("CreateUpload");
        if (first) {
          first = false;
          throw new ConnectError("object store unavailable", Code.Aborted);
        }
        return { upload: { uploadId: "up1", sha256: req.sha256, sizeBytes: req.sizeBytes, offset: 0n, state: UploadState.COMPLETE } };
      },
    }, calls), { backoffMs: { min: 5, max: 5 } });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    const stop = new AbortController();
    const watching = c.watch({ signal: stop.signal });
    await vi.waitFor(async () => expect((await c.photos())[0]?.state).toBe(QueueState.Done), { timeout: 10_000 });
    stop.abort();
    await watching;
    expect(calls).toEqual(["CreateUpload", "CreateUpload"]);
  });

  it("sends the next chunk without waiting for the stored progress, and stores the last offset in the end", async () => {
    // Every store write after the first chunk waits until the last chunk arrived.
    const calls: string[] = [];
    const storage = await memoryStorage();
    let armed = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gated: Storage = {
      read: (fn) => storage.read(fn),
      update: async (fn) => {
        if (armed) await gate; // a slow durable write: chunks must not wait for it
        return storage.update(fn);
      },
      close: () => storage.close(),
    };
    const size = 5000;
    const held = new Held();
    const c = await fakeClient(server({
      putChunk: async (req: Chunk, ctx: HandlerContext) => {
        calls.push("PutChunk");
        armed = true;
        const res = await held.put(req, ctx);
        if (res.offset === BigInt(size)) release();
        return res;
      },
    }, calls, held), { storage: gated, photoChunkSize: 1000 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(size, 1));
    await c.sync();
    expect(calls).toEqual(["CreateUpload", ...Array(5).fill("PutChunk"), "CompleteUpload"]);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: size });
  });
  it("resumes from the server's durable offset when a crash lost chunks it had acknowledged, and stores the photo once", async () => {
    // The server acknowledges chunks before they are durable: it crashes
    // after the third, keeping only the first, and answers the next chunk
    // with its (durable) offset, behind what it acknowledged.
    // With two in flight, the chunk at 3000 (sent before the crash) waits
    // for bytes that never come and is refused with the offset; the one at
    // 4000 is cancelled and the device asks where the upload stands.
    const calls: string[] = [];
    const data = jpeg(5000, 3);
    const held = new Held();
    let crashed = false;
    const stored: Uint8Array[] = [];
    const c = await fakeClient(server({
      putChunk: async (req: Chunk, ctx: HandlerContext) => {
        calls.push(`PutChunk@${req.offset}`);
        const answer = await held.put(req, ctx);
        if (held.bytes.length === 3000 && !crashed) {
          crashed = true;
          held.set(held.bytes.slice(0, 1000)); // the restarted server's durable bytes
        }
        return answer;
      },
      completeUpload: () => {
        calls.push("CompleteUpload");
        stored.push(held.bytes);
        return { upload: { uploadId: "up1", state: UploadState.COMPLETE } };
      },
    }, calls, held), { photoChunkSize: 1000 });
    const events: number[] = [];
    c.onPhotoProgress((e) => events.push(e.sent));
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await c.sync();
    const sent = [0, 1000, 2000, 3000, ...(photoChunksInFlight > 1 ? [4000] : []), 1000, 2000, 3000, 4000];
    expect(calls.filter((x) => x.startsWith("PutChunk"))).toEqual(sent.map((o) => `PutChunk@${o}`));
    expect(stored).toHaveLength(1);
    expect(sha(stored[0]!)).toBe(sha(data));
    expect(events).toEqual([0, 1000, 2000, 3000, 1000, 2000, 3000, 4000, 5000, 5000]); // back only to the server's durable offset
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 5000 });
  });
});

describe("chunks in flight (fake server)", () => {
  /**
   * A server that holds the answer to the first chunk until `window`
   * chunks arrived (then runs meanwhile), logging the calls and the chunks
   * in flight at its side.
   */
  async function windowed(window: number, meanwhile: (c: Client) => Promise<void> = async () => {}) {
    const calls: string[] = [];
    const held = new Held();
    const applied: bigint[] = [];
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let client!: Client;
    const routes = server({
      putChunk: async (req: Chunk, ctx: HandlerContext) => {
        calls.push(`PutChunk@${req.offset}`);
        most = Math.max(most, ++inFlight);
        try {
          if (calls.filter((x) => x.startsWith("PutChunk")).length === window) void meanwhile(client).then(release);
          if (req.offset === 0n) await gate;
          const res = await held.put(req, ctx);
          applied.push(req.offset);
          return res;
        } finally {
          inFlight--;
        }
      },
    }, calls, held, {
      push: (req: { mutations: { seq: bigint; recordId: string; hlc: bigint }[] }) => {
        calls.push("Push");
        return {
          results: req.mutations.map((m) => ({ seq: m.seq, recordId: m.recordId, outcome: MutationOutcome.APPLIED, appliedHlc: m.hlc })),
          lastSeq: req.mutations.at(-1)!.seq, serverHlc: 1n,
        };
      },
    });
    client = await fakeClientOf(routes, { photoChunksInFlight: window, photoChunkSize: 1000 });
    return { calls, held, applied, client, most: () => most };
  }

  it.each([1, 2, 3])("%i chunks in flight: the next ones are sent before the first is answered", async (window) => {
    const w = await windowed(window);
    const data = jpeg(5000, 5);
    const events: number[] = [];
    w.client.onPhotoProgress((e) => events.push(e.sent));
    await w.client.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await w.client.sync();
    expect(w.most()).toBe(window);
    expect(w.calls.filter((x) => x.startsWith("PutChunk"))).toEqual([0, 1, 2, 3, 4].map((i) => `PutChunk@${i * 1000}`));
    expect(w.applied).toEqual([0n, 1000n, 2000n, 3000n, 4000n]);
    expect(sha(w.held.bytes)).toBe(sha(data));
    expect(events).toEqual([0, 1000, 2000, 3000, 4000, 5000, 5000]);
    expect((await w.client.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 5000 });
  });

  it.each([1, 2])("%i chunks in flight: a record written meanwhile is pushed before any chunk sent after it", async (window) => {
    let wrote = -1;
    const w = await windowed(window, async (c) => {
      await c.put(c.newId(), create(SurgerySupportSchema, { hospitalId: "h2" }));
      wrote = w.calls.length;
    });
    const data = jpeg(5000, 6);
    await w.client.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await w.client.sync();
    const after = w.calls.slice(wrote);
    expect(after.indexOf("Push")).toBeGreaterThanOrEqual(0);
    expect(after.findIndex((x) => x.startsWith("PutChunk"))).toBeGreaterThan(after.indexOf("Push"));
    expect(w.applied).toEqual([0n, 1000n, 2000n, 3000n, 4000n]); // the chunks in flight were answered, none sent twice
    expect(sha(w.held.bytes)).toBe(sha(data));
    expect(await w.client.status()).toMatchObject({ outboxDepth: 0, photoQueue: 0 });
  });

  it("a connection cut mid-window resumes from the offset the server holds, sending no held chunk again", async () => {
    // The server applies the chunk at 1000 but its answer is lost; the
    // chunk sent after it may or may not have reached the server.
    const calls: string[] = [];
    const held = new Held();
    const applied: bigint[] = [];
    const resumedAt: bigint[] = [];
    let cut = false;
    const data = jpeg(5000, 7);
    const c = await fakeClientOf(server({
      createUpload: (req: { sizeBytes: bigint; sha256: string }) => {
        calls.push("CreateUpload");
        resumedAt.push(held.offset);
        return { upload: { uploadId: "up1", sha256: req.sha256, sizeBytes: req.sizeBytes, offset: held.offset, state: UploadState.IN_PROGRESS } };
      },
      putChunk: async (req: Chunk, ctx: HandlerContext) => {
        calls.push(`PutChunk@${req.offset}`);
        const res = await held.put(req, ctx);
        applied.push(req.offset);
        if (req.offset === 1000n && !cut) {
          cut = true;
          throw new ConnectError("connection cut", Code.Unavailable);
        }
        return res;
      },
    }, calls, held), { photoChunksInFlight: 2, photoChunkSize: 1000, unreachableAfterMs: 5000 });
    const events: number[] = [];
    c.onPhotoProgress((e) => events.push(e.sent));
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await c.sync();
    expect(resumedAt).toHaveLength(2);
    expect(resumedAt[1]).toBeGreaterThanOrEqual(2000n); // the chunk whose answer was lost is held
    const second = calls.slice(calls.lastIndexOf("CreateUpload") + 1).filter((x) => x.startsWith("PutChunk"));
    expect(second[0]).toBe(`PutChunk@${resumedAt[1]}`); // from the server's offset
    expect(applied).toEqual([0n, 1000n, 2000n, 3000n, 4000n]); // every chunk applied once
    expect(sha(held.bytes)).toBe(sha(data));
    expect(events).toEqual([...events].sort((x, y) => x - y));
    expect(events.at(-1)).toBe(5000);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 5000 });
  });

  it("checks the option", async () => {
    await expect(fakeClientOf(server({}, []), { photoChunksInFlight: 0 })).rejects.toMatchObject({ code: "invalid_option" });
    await expect(fakeClientOf(server({}, []), { photoChunksInFlight: 1.5 })).rejects.toMatchObject({ code: "invalid_option" });
  });
});
