// The benchmark page: run.mjs drives it through window.bench.
import { create } from "@bufbuild/protobuf";
import PouchDB from "pouchdb-browser";
import { Client, openIndexedDBStorage, SurgerySupportSchema, VisitKind, VisitSchema } from "../../ts/src/index.js";
import { jpeg } from "../../ts/test/photos.js";
import { openIndexedDBStorage as openWrappedStorage } from "./idbwrapped.js";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Client as ClientBefore, openIndexedDBStorage as openStorageBefore } from "sdk-before";

/** Runs one initial sync in a dedicated worker. */
function inWorker(job: { store: "idb" | "sqlite" | "memory"; token: string; pullLimit: number }) {
  const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  return new Promise<{ ms: number; pulled: number; stored: number }>((resolve, reject) => {
    w.onmessage = (ev) => (w.terminate(), ev.data.error ? reject(new Error(ev.data.error)) : resolve(ev.data.ok));
    w.onerror = (ev) => (w.terminate(), reject(new Error(ev.message)));
    w.postMessage({ ...job, origin: location.origin });
  });
}

const visit = (i: number) => create(VisitSchema, {
  customerId: `hospital-${i % 500}`, kind: VisitKind.ROUTINE, notes: `visit ${i}: demo of the new stent, follow up on pricing next week`,
  visitTime: timestampNow(), actionTags: ["technical_demo"],
});

const bench = {
  /** A new device's first sync into a store, in a worker. */
  worker: (store: "idb" | "sqlite" | "memory", token: string, pullLimit = 0) => inWorker({ store, token, pullLimit }),

  /** The same into IndexedDB on the page's main thread (where an app would usually run the SDK). */
  async main(token: string, pullLimit = 0, wrapped = false, before = false) {
    const inner = await (before ? openStorageBefore : wrapped ? openWrappedStorage : openIndexedDBStorage)("bench-main");
    let storeMs = 0; // time inside write transactions (a pulled page's, from its start to its commit)
    const storage = { ...inner, read: inner.read.bind(inner), close: inner.close.bind(inner), update: async <T>(fn: (tx: any) => Promise<T>) => {
      const t = performance.now();
      try {
        return await inner.update(fn);
      } finally {
        storeMs += performance.now() - t;
      }
    } };
    const client = await (before ? ClientBefore : Client).open({ storage, server: location.origin, token, pullLimit });
    storeMs = 0;
    const t0 = performance.now();
    const report = await client.sync();
    const ms = performance.now() - t0;
    const stored = await storage.read(async (tx) => (await tx.allRows()).length);
    client.close();
    return { ms, pulled: report.pulled, stored, storeMs: Math.round(storeMs) };
  },

  /** PouchDB (IndexedDB adapter) replicating the CouchDB-protocol database at /couch/name. */
  async pouch(name: string, batchSize?: number) {
    const db = new PouchDB(`pouch-${name}-${batchSize ?? "default"}`);
    const t0 = performance.now();
    const res = await db.replicate.from(`${location.origin}/couch/${name}`, batchSize ? { batch_size: batchSize } : {});
    const ms = performance.now() - t0;
    const info = await db.info();
    await db.close();
    return { ms, pulled: res.docs_written, stored: info.doc_count };
  },

  /** A device syncs once (not timed), writes n visits offline, then one sync pushes them. */
  async push(token: string, n: number, batchSize: number) {
    const storage = await openIndexedDBStorage("bench-push");
    const client = await Client.open({ storage, server: location.origin, token, batchSize });
    await client.sync();
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await client.put(client.newId(), visit(i));
    const writeMs = performance.now() - t0;
    t0 = performance.now();
    const report = await client.sync();
    const syncMs = performance.now() - t0;
    client.close();
    return { n, writeMs, syncMs, applied: report.results.filter((r) => r.outcome === "applied").length };
  },

  /** A new photo of size bytes attached to a new record and uploaded by one sync; then the same bytes in one PUT to /sink. */
  async photo(token: string, size: number, chunkSize: number) {
    const bytes = jpeg(size, Date.now());
    const storage = await openIndexedDBStorage("bench-photo");
    const client = await Client.open({ storage, server: location.origin, token, photoChunkSize: chunkSize });
    await client.sync();
    const id = client.newId();
    await client.put(id, create(SurgerySupportSchema, { hospitalId: "hospital-1", consumableModels: ["stent-bench"] }));
    let t0 = performance.now();
    await client.addPhoto(SurgerySupportSchema.typeName, id, "pre_op_photo", new Blob([bytes], { type: "image/jpeg" }));
    const attachMs = performance.now() - t0;
    const marks: number[] = []; // ms from the sync's start to each progress event
    client.onPhotoProgress(() => marks.push(Math.round(performance.now() - t0)));
    t0 = performance.now();
    await client.sync();
    const syncMs = performance.now() - t0;
    const photos = await client.photos();
    t0 = performance.now();
    await client.sync();
    const emptySyncMs = performance.now() - t0; // a sync with nothing to send or pull: its fixed cost
    client.close();
    t0 = performance.now();
    const res = await fetch("/sink", { method: "PUT", body: new Blob([bytes]) });
    if (!res.ok) throw new Error(`sink: ${res.status}`);
    const putMs = performance.now() - t0;
    return { size, attachMs, syncMs, putMs, emptySyncMs, progressMs: marks, state: photos.map((p) => p.state) };
  },
};
(window as unknown as { bench: typeof bench }).bench = bench;
document.title = "ready";
