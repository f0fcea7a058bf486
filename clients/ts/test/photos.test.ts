import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it, vi } from "vitest";
import { IdentityService } from "../src/gen/fieldsync/v1/identity_pb.js";
import { MediaService, UploadOffsetSchema, UploadState } from "../src/gen/fieldsync/v1/media_pb.js";
import { duePhotos, newPhoto, nextPhotoRetry, putOffDelay, queuePhoto, sniffImage, throttledMs } from "../src/photos.js";
import { MutationOutcome, openIndexedDBStorage, QueueState, SurgerySupportSchema, SyncService, type QueuedPhoto } from "../src/index.js";
import type { Storage } from "../src/storage.js";
import { fakeClient, memoryStorage } from "./helpers.js";
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

/** A fake server: sync applies everything; the media service runs media (defaults: a well-behaved upload). */
function server(media: { [method: string]: unknown }, calls: string[]) {
  let offset = 0n;
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
    });
    const track = <A extends unknown[], R>(name: string, fn: (...a: A) => R) => (...a: A) => (calls.push(name), fn(...a));
    r.service(MediaService, {
      createUpload: track("CreateUpload", (req: { sizeBytes: bigint; sha256: string }) => ({ upload: { uploadId: "up1", sha256: req.sha256, sizeBytes: req.sizeBytes, offset, state: UploadState.IN_PROGRESS } })),
      putChunk: track("PutChunk", (req: { data: Uint8Array }) => ((offset += BigInt(req.data.length)), { offset })),
      getUpload: track("GetUpload", () => ({ upload: { uploadId: "up1", offset, state: UploadState.IN_PROGRESS } })),
      completeUpload: track("CompleteUpload", () => ({ upload: { uploadId: "up1", state: UploadState.COMPLETE } })),
      cancelUpload: track("CancelUpload", () => ({})),
      ...media,
    } as never);
  };
}

describe("upload state machine (fake server)", () => {
  it("waits out a throttled chunk for the server's RetryInfo, then completes", async () => {
    const calls: string[] = [];
    let refused = 0;
    let off = 0n;
    const c = await fakeClient(server({
      putChunk: (req: { data: Uint8Array }) => {
        calls.push("PutChunk");
        if (refused++ === 0) throw new ConnectError("rate", Code.ResourceExhausted, undefined, [retryInfo(0n, 1_000_000)]);
        off += BigInt(req.data.length);
        return { offset: off };
      },
    }, calls), { photoChunkSize: 1 << 20 });
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
    let off = 0n;
    const c = await fakeClient(server({
      putChunk: (req: { data: Uint8Array }) => {
        calls.push("PutChunk");
        if (first) {
          first = false;
          throw new ConnectError("crc32c mismatch", Code.DataLoss);
        }
        off += BigInt(req.data.length);
        return { offset: off };
      },
    }, calls));
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(1000, 1));
    await c.sync();
    expect(calls).toEqual(["CreateUpload", "PutChunk", "PutChunk", "CompleteUpload"]);
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
    let off = 0n;
    const c = await fakeClient(server({
      putChunk: (req: { data: Uint8Array }) => {
        calls.push("PutChunk");
        armed = true;
        off += BigInt(req.data.length);
        if (off === BigInt(size)) release();
        return { offset: off };
      },
    }, calls), { storage: gated, photoChunkSize: 1000 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", jpeg(size, 1));
    await c.sync();
    expect(calls).toEqual(["CreateUpload", ...Array(5).fill("PutChunk"), "CompleteUpload"]);
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: size });
  });
  it("resumes from the server's durable offset when a crash lost chunks it had acknowledged, and stores the photo once", async () => {
    // The server acknowledges chunks before they are durable: it crashes
    // after the third, keeping only the first, and answers the next chunk
    // with its (durable) offset, behind what it acknowledged.
    const calls: string[] = [];
    const data = jpeg(5000, 3);
    let held = new Uint8Array(0);
    let crashed = false;
    const stored: Uint8Array[] = [];
    const c = await fakeClient(server({
      putChunk: (req: { offset: bigint; data: Uint8Array }) => {
        calls.push(`PutChunk@${req.offset}`);
        if (req.offset !== BigInt(held.length)) {
          throw new ConnectError("wrong offset", Code.Aborted, undefined, [{ desc: UploadOffsetSchema, value: { offset: BigInt(held.length) } }]);
        }
        held = Uint8Array.from([...held, ...req.data]);
        if (held.length === 3000 && !crashed) {
          crashed = true;
          const answer = { offset: BigInt(held.length) };
          held = held.slice(0, 1000); // the restarted server's durable bytes
          return answer;
        }
        return { offset: BigInt(held.length) };
      },
      completeUpload: () => {
        calls.push("CompleteUpload");
        stored.push(held);
        return { upload: { uploadId: "up1", state: UploadState.COMPLETE } };
      },
    }, calls), { photoChunkSize: 1000 });
    await c.addPhoto(SURGERY, "r1", "pre_op_photo", data);
    await c.sync();
    expect(calls.filter((x) => x.startsWith("PutChunk"))).toEqual(
      ["PutChunk@0", "PutChunk@1000", "PutChunk@2000", "PutChunk@3000", "PutChunk@1000", "PutChunk@2000", "PutChunk@3000", "PutChunk@4000"]);
    expect(stored).toHaveLength(1);
    expect(createHash("sha256").update(stored[0]).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect((await c.photos())[0]).toMatchObject({ state: QueueState.Done, offset: 5000 });
  });
});
