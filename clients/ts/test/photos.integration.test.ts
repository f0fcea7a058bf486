import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IDBFactory } from "fake-indexeddb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import type { PutChunkRequest } from "../src/gen/fieldsync/v1/media_pb.js";
import {
  Client, openIndexedDBStorage, PhotoState, QueueState, SurgerySupportSchema,
  type ClientOptions, type PhotoProgress, type Record as WireRecord,
} from "../src/index.js";
import { memoryStorage } from "./helpers.js";
import { startServer, type TestServer } from "./server.js";
import { jpeg } from "./photos.js";

let srv: TestServer;
const CHUNK = 16 << 10;
const SURGERY = SurgerySupportSchema.typeName;
const SLOTS = ["pre_op_photo", "intra_op_photo", "post_op_count_photo"];

beforeAll(async () => {
  srv = await startServer();
});

afterAll(async () => {
  await srv?.stop();
});

function rep() {
  const u = srv.creds.users.find((x) => x.role === "rep");
  if (!u) throw new Error("no demo rep");
  return u;
}

/** The calls a device made, by method name, the PutChunk offsets sent, and the offsets its CreateUpload calls were told. */
class CallLog {
  calls: string[] = [];
  chunks: { offset: number; size: number }[] = [];
  created: number[] = [];
  pulled: WireRecord[] = [];
  /**
   * Throws when the server answered the n-th PutChunk sent (counting from
   * 1), as a cut connection would, once the answers to the chunks sent
   * before it reached the device.
   */
  cutAfterChunk = 0;
  /** Called at the cut (e.g. to close the page). */
  onCut = () => {};
  private answers: Promise<unknown>[] = [];
  interceptor: Interceptor = (next) => async (req) => {
    this.calls.push(req.method.name);
    if (req.method.name !== "PutChunk") {
      const res = await next(req);
      if (!res.stream && req.method.name === "Pull") this.pulled.push(...(res.message as unknown as { records: WireRecord[] }).records);
      if (!res.stream && req.method.name === "CreateUpload") this.created.push(Number((res.message as unknown as { upload: { offset: bigint } }).upload.offset));
      return res;
    }
    const m = req.message as PutChunkRequest;
    const n = this.chunks.push({ offset: Number(m.offset), size: m.data.length });
    const before = this.answers.slice();
    const res = next(req);
    this.answers.push(res.catch(() => {}));
    if (n !== this.cutAfterChunk) return res;
    await res;
    await Promise.all(before);
    this.onCut();
    throw new ConnectError("connection cut", Code.Unavailable);
  };
  /**
   * The fetch of the raw chunk route: logs and cuts its chunks as the
   * interceptor does PutChunk's (a cut is fetch's network failure).
   */
  fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    this.calls.push(`${init?.method} ${url.pathname.slice(0, url.pathname.lastIndexOf("/") + 1)}`);
    const n = this.chunks.push({ offset: Number(url.searchParams.get("offset")), size: (init?.body as Uint8Array).length });
    const before = this.answers.slice();
    // The answer's body is read here from a clone: its end is the answer's arrival.
    const res = globalThis.fetch(input, init).then((r) => ({ r, read: r.clone().arrayBuffer() }));
    this.answers.push(res.then((a) => a.read).catch(() => {}));
    if (n !== this.cutAfterChunk) return res.then((a) => a.r);
    await (await res).read;
    await Promise.all(before);
    this.onCut();
    throw new TypeError("fetch failed: connection cut");
  };
  transport(): ClientOptions["transport"] {
    return (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [...interceptors, this.interceptor] });
  }
}

function deviceOf(log: CallLog, opts: Partial<ClientOptions> = {}) {
  return async (storage = opts.storage) => Client.open({
    storage: storage ?? (await memoryStorage()), server: srv.url, token: rep().device_token, transport: log.transport(), fetch: log.fetch,
    photoChunkSize: CHUNK, backoffMs: { min: 1, max: 20 }, unreachableAfterMs: 5000, ...opts,
  });
}

async function enrollSecond(log: CallLog): Promise<Client> {
  const admin = createClient(AdminService, createConnectTransport({
    baseUrl: srv.url, httpVersion: "1.1",
    interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
  }));
  const { enrollmentCode } = await admin.issueEnrollmentCode({ userId: rep().user_id });
  return Client.enroll({ storage: await memoryStorage(), server: srv.url, enrollmentCode, deviceName: "tablet", platform: "node", transport: log.transport() });
}

describe.each([
  { photoChunksInFlight: 1, rawChunks: false }, { photoChunksInFlight: 2, rawChunks: false },
  { photoChunksInFlight: 1, rawChunks: true }, { photoChunksInFlight: 2, rawChunks: true },
])("photo queue against fieldsyncd --demo, $photoChunksInFlight chunks in flight, raw route $rawChunks", ({ photoChunksInFlight, rawChunks }) => {
  const device = (log: CallLog, opts: Partial<ClientOptions> = {}) => deviceOf(log, { photoChunksInFlight, rawChunks, ...opts });
  const seed = (n: number) => n + 100 * photoChunksInFlight + (rawChunks ? 1000 : 0); // photos the tenant does not hold yet
  const route = rawChunks ? "PUT /photos/v1/uploads/" : "PutChunk";

  it("uploads a surgery support's three offline photos after the record; a second device pulls them AVAILABLE with photos_complete", async () => {
    const factory = new IDBFactory();
    const offline = await Client.open({ storage: await openIndexedDBStorage("three", { indexedDB: factory }), photoChunksInFlight });
    const id = offline.newId();
    await offline.put(id, create(SurgerySupportSchema, { hospitalId: "hospital-1", consumableModels: ["stent-a"] }));
    const data = [jpeg(3 * CHUNK + 100, seed(1)), jpeg(CHUNK, seed(2)), jpeg(5000, seed(3))];
    for (const [i, slot] of SLOTS.entries()) {
      const ref = await offline.addPhoto(SURGERY, id, slot, new Blob([data[i]!]));
      expect(ref.contentType).toBe("image/jpeg");
      expect(ref.sizeBytes).toBe(BigInt(data[i]!.length));
    }
    const local = await offline.get(SurgerySupportSchema, id);
    expect(local?.intraOpPhoto?.sha256).toBe((await offline.photos()).find((p) => p.slot === "intra_op_photo")?.sha256);
    const total = data.reduce((n, d) => n + d.length, 0);
    expect(await offline.status()).toMatchObject({ outboxDepth: 4, photoQueue: 3, photoBytesPending: total });
    offline.close();

    const log = new CallLog();
    const a = await device(log)(await openIndexedDBStorage("three", { indexedDB: factory }));
    const events: PhotoProgress[] = [];
    a.onPhotoProgress((p) => events.push(p));
    await a.sync();
    expect(log.calls.indexOf("CreateUpload")).toBeGreaterThan(log.calls.lastIndexOf("Push"));
    expect(log.chunks.reduce((n, c) => n + c.size, 0)).toBe(total); // every byte once
    expect(log.calls.filter((c) => c === "PutChunk" || c.startsWith("PUT "))).toEqual(Array(log.chunks.length).fill(route));
    expect((await a.photos()).map((p) => [p.state, p.offset === p.size, p.error])).toEqual(Array(3).fill([QueueState.Done, true, ""]));
    expect(await a.status()).toMatchObject({ outboxDepth: 0, photoQueue: 0, photoBytesPending: 0, photosFailed: 0 });
    const last = events.at(-1)!;
    expect(last.overall).toEqual({ sent: total, size: total, done: 3, photos: 3 });
    for (const p of await a.photos()) {
      const mine = events.filter((e) => e.sha256 === p.sha256).map((e) => e.sent);
      expect(mine.at(-1)).toBe(p.size);
      expect(mine).toEqual([...mine].sort((x, y) => x - y)); // never goes back
    }

    const logB = new CallLog();
    const b = await enrollSecond(logB);
    await b.sync();
    expect((await b.get(SurgerySupportSchema, id))?.photosComplete).toBe(true);
    const rec = [...logB.pulled].reverse().find((r) => r.id === id)!;
    expect(rec.photos.map((p) => p.state)).toEqual([PhotoState.AVAILABLE, PhotoState.AVAILABLE, PhotoState.AVAILABLE]);
    expect(rec.photos.map((p) => p.sha256).sort()).toEqual((await a.photos()).map((p) => p.sha256).sort());
  });

  it("resumes a cut upload from the server's offset after the page reloads, sending no chunk twice", async () => {
    const factory = new IDBFactory();
    const storage = await openIndexedDBStorage("cut", { indexedDB: factory });
    const log = new CallLog();
    log.cutAfterChunk = 2; // the server takes chunk 2, its answer is lost
    const stop = new AbortController();
    const a = await device(log, { unreachableAfterMs: 5000 })(storage);
    const id = a.newId();
    const data = jpeg(5 * CHUNK + 1000, seed(7));
    await a.addPhoto(SURGERY, id, "pre_op_photo", data);
    log.onCut = () => stop.abort(new Error("the page went away"));
    await expect(a.sync({ signal: stop.signal })).rejects.toThrow();
    const [p] = await a.photos();
    expect(p).toMatchObject({ state: QueueState.Uploading, offset: CHUNK }); // the device knows of chunk 1 only
    a.close();

    // The reloaded page: a new client on the same store.
    const log2 = new CallLog();
    const again = await device(log2)(await openIndexedDBStorage("cut", { indexedDB: factory }));
    await again.sync();
    // The server holds the two chunks answered and any chunk sent after
    // them that reached it before the page went away.
    const held = log2.created[0]!;
    expect(held).toBeGreaterThanOrEqual(2 * CHUNK);
    expect(log.chunks.map((c) => c.offset + c.size)).toContain(held);
    expect(log2.chunks[0]!.offset).toBe(held); // from the server's offset, not the device's
    const ends = [1, 2, 3, 4, 5].map((i) => i * CHUNK).concat(data.length);
    expect(log2.chunks.map((c) => c.offset)).toEqual([0, ...ends].filter((o) => o >= held && o < data.length)); // no held chunk again
    if (photoChunksInFlight === 1) expect(log.chunks.map((c) => c.offset)).toEqual([0, CHUNK]);
    expect((await again.photos())[0]).toMatchObject({ state: QueueState.Done, offset: data.length });
  });

  it("uploads the same photo attached twice once", async () => {
    const log = new CallLog();
    const a = await device(log)();
    const data = jpeg(2 * CHUNK + 5, seed(21));
    const [x, y] = [a.newId(), a.newId()];
    const r1 = await a.addPhoto(SURGERY, x, "pre_op_photo", data);
    const r2 = await a.addPhoto(SURGERY, y, "post_op_count_photo", data);
    expect(r2.sha256).toBe(r1.sha256);
    expect(await a.photos()).toHaveLength(1);
    await a.sync();
    expect(log.calls.filter((c) => c === "CreateUpload")).toHaveLength(1);
    expect(log.chunks.reduce((n, c) => n + c.size, 0)).toBe(data.length);
    // Attached again after the upload: the server is not asked again.
    const z = a.newId();
    await a.addPhoto(SURGERY, z, "intra_op_photo", data);
    await a.sync();
    expect(log.calls.filter((c) => c === "CreateUpload")).toHaveLength(1);
    expect((await a.get(SurgerySupportSchema, z))?.intraOpPhoto?.sha256).toBe(r1.sha256);
  });
});
