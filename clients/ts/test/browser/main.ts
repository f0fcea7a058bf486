// The browser test's page: the SDK on the page's IndexedDB, talking to the
// server on the page's own origin (the test's proxy forwards to fieldsyncd).
// The test drives it through window.fs.
import { create } from "@bufbuild/protobuf";
import { Client, loadValidation, openIndexedDBStorage, SurgerySupportSchema, type PhotoProgress } from "../../src/index.js";
import { jpeg } from "../photos.js";

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const storage = await openIndexedDBStorage(params.get("db") ?? "fieldsync-browser-test");
const client = await Client.open({ storage, server: location.origin, token, backoffMs: { min: 50, max: 200 }, unreachableAfterMs: 1000, photoChunkSize: 16 << 10, pullLimit: Number(params.get("pullLimit") ?? 0) });
const progress: PhotoProgress[] = [];
client.onPhotoProgress((p) => progress.push(p));
const show = document.getElementById("status")!;
client.subscribe((s) => {
  show.textContent = `${s.outboxDepth} unsynced · ${s.photoQueue} photos waiting (${s.photoBytesPending} bytes)${s.online ? "" : " · offline"}`;
});

const api = {
  async write(id: string, notes: string) {
    await client.put(id, create(SurgerySupportSchema, { hospitalId: "hospital-1", consumableModels: [notes] }));
    const ref = await client.addPhoto(SurgerySupportSchema.typeName, id, "pre_op_photo", new Blob([jpeg(40_000, 9)], { type: "image/jpeg" }));
    return ref.sha256;
  },
  /** Writes a record without a photo. */
  put: (id: string, notes: string) => client.put(id, create(SurgerySupportSchema, { hospitalId: "hospital-1", consumableModels: [notes] })),
  /** The local SurgerySupport records: id, models, pending. */
  list: async () => (await client.list(SurgerySupportSchema)).map((r) => ({ id: r.id, models: r.value.consumableModels, pending: r.pending })),
  newId: () => client.newId(),
  /**
   * How many rows the store holds; the buffers behind their bytes (one per
   * stored chunk), and whether each holds exactly the bytes of the rows
   * read from it (not a pulled page's response).
   */
  async rows() {
    const rs = await storage.read((tx) => tx.allRows());
    const held = new Map<ArrayBufferLike, number>();
    for (const r of rs) for (const b of [r.base, r.view]) if (b) held.set(b.buffer, (held.get(b.buffer) ?? 0) + b.length);
    return { rows: rs.length, buffers: held.size, exact: [...held].every(([buf, n]) => buf.byteLength === n) };
  },
  status: async () => JSON.parse(JSON.stringify(await client.status())),
  photos: async () => (await client.photos()).map((p) => ({ sha256: p.sha256, state: p.state, offset: p.offset, size: p.size })),
  async sync() {
    const r = await client.sync();
    return { results: r.results.map((x) => ({ seq: x.seq, recordId: x.recordId, outcome: x.outcome })), pulled: r.pulled };
  },
  progress: () => progress.map((p) => ({ sha256: p.sha256, sent: p.sent, size: p.size, done: p.overall.done })),
};
(window as unknown as { fs: typeof api }).fs = api;
// This page has no service worker: writes made offline need the validator loaded while online (Client.open
// prefetches it when the page is idle; the test goes offline at once, so wait for it).
await loadValidation();
document.title = "ready";
