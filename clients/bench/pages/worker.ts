// The benchmark's worker: a fresh device's first sync into IndexedDB or
// SQLite-WASM (OPFS), both in a dedicated worker so the two stores run
// where SQLite's OPFS VFS can.
import { Client, openIndexedDBStorage, type Storage } from "../../ts/src/index.js";
import { memoryStorage } from "./memory.js";
import { openSqliteStorage } from "./sqlite.js";

interface Job { store: "idb" | "sqlite" | "memory"; token: string; origin: string; pullLimit: number }

self.onmessage = async (ev: MessageEvent<Job>) => {
  try {
    (self as unknown as Worker).postMessage({ ok: await initialSync(ev.data) });
  } catch (err) {
    (self as unknown as Worker).postMessage({ error: String((err as Error)?.stack ?? err) });
  }
};

async function initialSync(job: Job) {
  const storage: Storage = job.store === "idb" ? await openIndexedDBStorage("bench-worker")
    : job.store === "memory" ? memoryStorage() : await openSqliteStorage("bench.db", { clear: true });
  const client = await Client.open({ storage, server: job.origin, token: job.token, pullLimit: job.pullLimit });
  const t0 = performance.now();
  const report = await client.sync();
  const ms = performance.now() - t0;
  const stored = await storage.read(async (tx) => (await tx.allRows()).length);
  client.close();
  return { ms, pulled: report.pulled, stored };
}
