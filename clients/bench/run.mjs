// `npm run bench`: the TypeScript SDK's browser benchmarks (issue 12), one run,
// every side measured in the same process on the same machine:
//   - a 5 MiB photo through the SDK vs one PUT of the same bytes;
//   - push of N local writes from the browser vs the Go SDK (clients/go TestTSRatioPush);
//   - a new device's initial sync of 10k and 100k visits into IndexedDB (worker and main thread)
//     and SQLite-WASM on OPFS (worker), vs PouchDB replicating as many equivalent documents.
// Options: --repeat=n (the cases n times, alternating their order) --reverse (start with the opposite order)  BENCH_SDK_BEFORE=dir (also "fieldsync before": the SDK in dir, see buildPage) --only=sync|push (initial syncs, or push and photo, only) --cases=IndexedDB,PouchDB (labels containing one) --sizes=10000,100000  --push=10000  --photo-mib=5  --out=results.json
//   --pages=500,5000: also an initial sync on the main thread asking for pages of each of these sizes (the SDK's pullLimit)
//   --profile=DIR: a CPU profile (Chromium's, through CDP) of each fieldsync initial sync on the main thread, written to DIR and summarised (self time by function)
// Needs clients/ts installed (npm ci there: the page bundles the SDK from ../ts/src),
// Go (fieldsyncd and the Go side are built from this checkout) and Chromium
// (CHROMIUM, default /usr/bin/chromium). Prints a Markdown table.
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import { request } from "node:http";
import { loadavg, tmpdir, cpus } from "node:os";
import { join, resolve } from "node:path";
import express from "express";
import expressPouchdb from "express-pouchdb";
import PouchCore from "pouchdb-core";
import PouchMemory from "pouchdb-adapter-memory";
import PouchMapReduce from "pouchdb-mapreduce";
import PouchReplication from "pouchdb-replication";
import { buildGo, goTest as goTestIn, here, log, pouchVisits, startServer as startServerIn } from "./lib.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const sizes = (opt.sizes ?? "10000,100000").split(",").map(Number);
const pushN = Number(opt.push ?? 10_000);
const photoBytes = Number(opt["photo-mib"] ?? 5) * (1 << 20);
const tmp = mkdtempSync(join(tmpdir(), "fieldsync-bench-"));
const results = { started: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, chromium: "", load: [], rows: [] };
const row = (what, value) => (results.rows.push({ what, ...value }), log(what, JSON.stringify(value)));

// ---- fieldsyncd and the Go side (lib.mjs) ----

const build = () => buildGo(tmp);
const startServer = (name) => startServerIn(tmp, name, children);
const goTest = (test, env) => goTestIn(tmp, test, env);

// ---- PouchDB's side: a CouchDB-replication-protocol server in this process (pure JS, memory adapter) ----

const Pouch = PouchCore.plugin(PouchMemory).plugin(PouchMapReduce).plugin(PouchReplication).defaults({ adapter: "memory" });

/** Adds visits from..to-1 (the same fields as the Go seed's) to the PouchDB database name. */
async function seedPouch(name, from, to) {
  const db = new Pouch(name);
  for (let i = from; i < to; i += 1000) await db.bulkDocs(pouchVisits(i, Math.min(to, i + 1000)));
}

// ---- the page: built with vite, served with the API proxied on the same origin ----

async function buildPage() {
  const { build } = await import("vite");
  const out = join(tmp, "page");
  await build({
    root: join(here, "pages"), logLevel: "warn", configFile: false,
    // pouchdb-browser wants Node's EventEmitter; "sdk-before" is the SDK to compare with (BENCH_SDK_BEFORE: its src directory, e.g. a git archive of an older commit under clients/ts so that it finds its packages), by default this one
    resolve: { dedupe: ["@bufbuild/protobuf"], alias: { events: join(here, "node_modules/events/events.js"), "sdk-before": resolve(process.env.BENCH_SDK_BEFORE ?? join(here, "../ts/src"), "index.ts") } },
    worker: { format: "es" },
    optimizeDeps: { exclude: ["@sqlite.org/sqlite-wasm"] },
    build: { outDir: out, emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 8192 },
  });
  return out;
}

function serve(page, upstream) {
  const app = express();
  const up = new URL(upstream);
  app.use((req, res, next) => {
    if (!req.path.startsWith("/fieldsync.v1.") && !req.path.startsWith("/photos/v1/")) return next(); // RPCs and the raw chunk route
    const t0 = performance.now();
    const p = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      const t1 = performance.now(); // the server built and began sending its answer
      const s = (rpcStats[req.path] ??= { calls: 0, serverMs: 0, totalMs: 0, bytes: 0, gzip: 0 });
      s.calls++;
      s.serverMs += t1 - t0;
      if (r.headers["content-encoding"] === "gzip") s.gzip++;
      r.on("data", (b) => (s.bytes += b.length));
      r.on("end", () => (s.totalMs += performance.now() - t0));
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    p.on("error", () => res.destroy());
    req.pipe(p);
  });
  app.put("/sink", (req, res) => {
    const file = join(tmp, "sink.bin");
    const w = createWriteStream(file);
    req.pipe(w);
    w.on("finish", () => {
      const fd = openSync(file, "r+");
      fsyncSync(fd);
      closeSync(fd);
      res.status(204).end();
    });
  });
  app.use("/couch", expressPouchdb(Pouch, { mode: "minimumForPouchDB", inMemoryConfig: true, logPath: join(tmp, "pouch.log") }));
  app.use(express.static(page));
  return new Promise((done) => {
    const srv = app.listen(0, "127.0.0.1", () => done({ srv, origin: `http://127.0.0.1:${srv.address().port}`, setUpstream: (u) => { up.host = new URL(u).host; } }));
  });
}

/** Per RPC path, what the proxy saw of the server's answers since the last case: calls, ms to the
 * answer's headers (the server's work), ms to its end, bytes on the wire and how many were gzipped. */
let rpcStats = {};
const takeRpcStats = () => {
  const out = Object.fromEntries(Object.entries(rpcStats).map(([k, v]) => [k.replace(/.*\//, ""), { ...v, serverMs: Math.round(v.serverMs), totalMs: Math.round(v.totalMs) }]));
  rpcStats = {};
  return out;
};

/** Opens a new on-disk Chromium profile (not incognito: its storage is on disk), runs fn on the page, closes it. */
async function inBrowser(origin, fn, profileAs = "") {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmp, "profile-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  results.chromium ||= ctx.browser()?.version() ?? "";
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("pageerror", (e) => log("page error:", e));
    page.on("console", (m) => m.type() === "error" && log("page:", m.text()));
    await page.goto(origin + "/");
    await page.waitForFunction(() => document.title === "ready");
    const cdp = profileAs && opt.profile ? await ctx.newCDPSession(page) : null;
    if (cdp) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 250 });
      await cdp.send("Profiler.start");
    }
    const out = await fn((name, ...args) => page.evaluate(([n, a]) => window.bench[n](...a), [name, args]));
    if (cdp) {
      const { profile } = await cdp.send("Profiler.stop");
      writeFileSync(join(opt.profile, `${profileAs}.cpuprofile`), JSON.stringify(profile));
      log(`profile ${profileAs}:\n${summarize(profile)}`);
    }
    return out;
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// ---- the run ----

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
  build();
  const page = await buildPage();
  results.load.push(loadavg());

  // Push and photo on a server of their own, so their records stay out of the initial syncs' scope.
  let fs = await startServer("push");
  const web = await serve(page, fs.url);
  try {
    if (opt.only !== "sync") await pushAndPhoto(fs, web);
  } finally {
    await fs.stop();
  }


  // Initial syncs: fieldsync stores vs PouchDB, at each size, on one server seeded step by step.
  if (opt.only === "push") return void (web.srv.close(), console.log(table()));
  fs = await startServer("sync");
  web.setUpstream(fs.url);
  results.load.push(loadavg());
  let seeded = 0;
  try {
    for (const n of sizes) {
      log(`seeding to ${n}`);
      goTest("TestTSRatioSeed", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll(`seed ${n}`), FIELDSYNC_TSRATIO_SEED: String(n - seeded) });
      await seedPouch("visits", seeded, n);
      seeded = n;
      await new Promise((r) => setTimeout(r, 5000)); // let the server's relay and consumers settle
      results.load.push(loadavg());
      const rate = (r) => Math.round(r.pulled / (r.ms / 1000));
      const cases = [
        ["fieldsync → IndexedDB (worker)", async (b) => b("worker", "idb", await fs.enroll("idb")), ],
        ["fieldsync → SQLite-WASM OPFS sahpool (worker)", async (b) => b("worker", "sqlite", await fs.enroll("sqlite"))],
        ["fieldsync → IndexedDB (main thread)", async (b) => b("main", await fs.enroll("main")), `main-${n}`],
        ["fieldsync → IndexedDB through the idb wrapper (main thread; the store before, pages/idbwrapped.ts)", async (b) => b("main", await fs.enroll("main"), 0, true), `main-wrapped-${n}`],
        ["fieldsync → no store (Maps in memory, worker): the pipeline's ceiling", async (b) => b("worker", "memory", await fs.enroll("memory"))],
        ...(process.env.BENCH_SDK_BEFORE ? [["fieldsync before → IndexedDB (main thread; BENCH_SDK_BEFORE)", async (b) => b("main", await fs.enroll("main"), 0, false, true), `main-before-${n}`]] : []),
        ...(opt.pages ?? "").split(",").filter(Boolean).map((p) => [`fieldsync → IndexedDB (main thread, pages of ${p})`, async (b) => b("main", await fs.enroll("main"), Number(p)), `main-${n}-pages-${p}`]),
        ["PouchDB → IndexedDB (pouchdb-browser, default batch_size 100)", (b) => b("pouch", "visits")],
        ["PouchDB → IndexedDB (pouchdb-browser, batch_size 1000)", (b) => b("pouch", "visits", 1000)],
      ];
      const got = {};
      // --repeat=n: the chosen cases n times, in the opposite order every other time (--reverse: starting reversed)
      const chosen = cases.filter(([w]) => !opt.cases || opt.cases.split(",").some((c) => w.includes(c)));
      const order = [];
      for (let i = 0; i < Number(opt.repeat ?? 1); i++) order.push(...((i % 2 === 1) !== ("reverse" in opt) ? [...chosen].reverse() : chosen));
      for (const [what, fn, profileAs] of order) {
        takeRpcStats();
        const r = await inBrowser(web.origin, fn, profileAs);
        got[what] = rate(r);
        const pull = takeRpcStats().Pull;
        row(`initial sync ${n}: ${what}`, { ...r, perSec: rate(r), load: +loadavg()[0].toFixed(2), ...(pull ? { pulls: pull.calls, pullServerMs: pull.serverMs, pullTotalMs: pull.totalMs, pullKB: Math.round(pull.bytes / 1024), gzipped: pull.gzip } : {}) });
      }
      const pouch = got["PouchDB → IndexedDB (pouchdb-browser, default batch_size 100)"];
      row(`initial sync ${n}: ratios`, {
        idbWorkerOverPouch: +(got["fieldsync → IndexedDB (worker)"] / pouch).toFixed(2),
        idbMainOverPouch: +(got["fieldsync → IndexedDB (main thread)"] / pouch).toFixed(2),
        sqliteOverPouch: +(got["fieldsync → SQLite-WASM OPFS sahpool (worker)"] / pouch).toFixed(2),
        idbWorkerOverSqlite: +(got["fieldsync → IndexedDB (worker)"] / got["fieldsync → SQLite-WASM OPFS sahpool (worker)"]).toFixed(2),
      });
    }
  } finally {
    await fs.stop();
    web.srv.close();
  }
  results.load.push(loadavg());
  results.finished = new Date().toISOString();
  if (opt.out) writeFileSync(opt.out, JSON.stringify(results, null, 2));
  console.log(table());
}

/** Push of pushN writes, browser vs Go; a photo through the SDK vs one PUT. */
async function pushAndPhoto(fs, web) {
  const browserPush = await inBrowser(web.origin, async (b) => b("push", await fs.enroll("browser push"), pushN, 200));
  row(`push ${pushN} writes, browser (IndexedDB, main thread)`, { ...browserPush, perSec: Math.round(pushN / (browserPush.syncMs / 1000)) });
  const out = goTest("TestTSRatioPush", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll("go push"), FIELDSYNC_TSRATIO_N: String(pushN), FIELDSYNC_TSRATIO_BATCH: "200" });
  const go = JSON.parse(out.match(/tsratio push: (.*)/)[1]);
  row(`push ${pushN} writes, Go SDK (SQLite file)`, { ...go, perSec: Math.round(pushN / (go.syncMs / 1000)) });
  row("push ratio browser/Go (sync time, lower is faster → rate ratio)", { ratio: +(go.syncMs / browserPush.syncMs).toFixed(3) });
  for (const chunk of [1 << 20, 4 << 20]) {
    const p = await inBrowser(web.origin, async (b) => b("photo", await fs.enroll("photo"), photoBytes, chunk));
    row(`photo ${photoBytes >> 20} MiB, chunks of ${chunk >> 10} KiB: SDK sync vs one PUT`, { ...p, ratio: +(p.putMs / p.syncMs).toFixed(3) });
  }
}

/** The functions with the most self time in a CPU profile (V8's format), and the share of each. */
function summarize(profile, top = 30) {
  const dt = new Map(); // node id → sampled µs
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)));
  const self = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    const us = dt.get(n.id) ?? 0;
    total += us;
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/.*\//, "")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(8)} ms ${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
}

function table() {
  const lines = [`Run ${results.started} → ${results.finished}; ${results.cpus}× ${results.cpu}; Chromium ${results.chromium}; load averages (1/5/15 min) during the run: ${results.load.map((l) => l.map((x) => x.toFixed(2)).join("/")).join(", ")}`, "", "| what | result |", "|---|---|"];
  for (const r of results.rows) {
    const { what, ...v } = r;
    lines.push(`| ${what} | ${Object.entries(v).map(([k, x]) => `${k} ${typeof x === "number" ? Math.round(x * 1000) / 1000 : JSON.stringify(x)}`).join(", ")} |`);
  }
  return lines.join("\n");
}

const children = new Set();
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
}).finally(() => {
  for (const c of children) c.kill("SIGTERM"); // a failed run leaves no fieldsyncd behind
  rmSync(tmp, { recursive: true, force: true });
  process.exit(); // nor a listening proxy keeping node alive
});
