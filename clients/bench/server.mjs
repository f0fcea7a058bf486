// `npm run bench:server`: fieldsync's server against pouchdb-server (issue 11), no browser: each
// side's client in this machine's other processes, both servers on loopback, one run.
//   - push: N new visits (default 10,000) in calls of 100, each acknowledged before the next —
//     fieldsync: Push calls from the Go test binary (TestServerRatioPush, mutations built before
//     the clock starts); PouchDB: a local database holding the same documents replicated to
//     pouchdb-server with batch_size 100 (`db.replicate.to`).
//   - first sync: a new device of a rep whose 10,000 visits sit inside a tenant of 110,000 (the
//     other 100,000 another rep's), into the Go SDK's store (a SQLite file; TestServerRatioFirstSync)
//     vs a new PouchDB database replicating pouchdb-server's 10,000 (`db.replicate.from`).
// PouchDB runs on the memory adapter on both ends (pouchdb-server --in-memory), which spares it
// every disk write fieldsync makes (fsynced SQLite on the server, a SQLite file on the device).
// Options: --n=10000 (push) --scope=10000 --others=100000 (first sync) --repeat=3 (rounds, each
// side once per round, alternating which goes first) --pages=default,1000 (the SDK's first sync
// once per page setting: "default" grows its pages, a number fixes them) --out=results.json
// --before=DIR (a second fieldsyncd and SDK test binary prebuilt into DIR, e.g. from main's commit:
// seeded alike, its first syncs alternate with this checkout's in every round, so one run gives
// before/after ratios) --only=sync (no push rounds). Each first sync also reports the SDK process's
// CPU time (cpuMs) and the server's (serverCpuMs, from /proc, 10 ms ticks, its relay included).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import PouchCore from "pouchdb-core";
import PouchHttp from "pouchdb-adapter-http";
import PouchMemory from "pouchdb-adapter-memory";
import PouchReplication from "pouchdb-replication";
import { buildGo, goTest, here, log, pouchVisits, startServer, waitQuiet } from "./lib.mjs";

const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const PAGES = String(opt.pages ?? "default").split(","); // the SDK's pull pages: "default" (growing) or a fixed size
const BEFORE = opt.before, SYNC_ONLY = opt.only === "sync";
const N = Number(opt.n ?? 10_000), SCOPE = Number(opt.scope ?? 10_000), OTHERS = Number(opt.others ?? 100_000), REPEAT = Number(opt.repeat ?? 3);
const tmp = mkdtempSync(join(tmpdir(), "fieldsync-bench-server-"));
const children = new Set();
const Pouch = PouchCore.plugin(PouchHttp).plugin(PouchMemory).plugin(PouchReplication);
const results = { started: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, rows: [] };
const row = (what, value) => (results.rows.push({ what, load: +loadavg()[0].toFixed(2), ...value }), log(what, JSON.stringify(value)));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function pouchServer(...args) {
  const child = spawn(process.execPath, [join(here, "pouch-server.mjs"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  const port = await new Promise((done, fail) => {
    createInterface({ input: child.stdout }).once("line", (l) => done(JSON.parse(l).port));
    child.once("exit", (c) => fail(new Error(`pouch-server exited ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
}

/** CPU time process pid has used, in ms (utime + stime, 10 ms ticks). */
const cpuMs = (pid) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0) * 10;

/** Seeds server fs (built into dir): SCOPE visits of the first rep, OTHERS of the second. */
async function seed(dir, fs) {
  log(`seeding fieldsync (${dir}): ${SCOPE} visits of the first rep, ${OTHERS} of the second`);
  goTest(dir, "TestTSRatioSeed", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll("seed scope"), FIELDSYNC_TSRATIO_SEED: String(SCOPE) });
  goTest(dir, "TestTSRatioSeed", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll("seed others", 1), FIELDSYNC_TSRATIO_SEED: String(OTHERS) });
  await waitQuiet(fs.pid); // the relay and consumers settle
}

/** One first sync of a new device of the first rep against fs with the SDK built into dir. */
async function fsFirstSync(dir, fs, name, pages) {
  const token = await fs.enroll(name);
  const cpu0 = cpuMs(fs.pid);
  const sync = JSON.parse(goTest(dir, "TestServerRatioFirstSync", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: token, FIELDSYNC_TSRATIO_PULL_LIMIT: pages === "default" ? "" : pages }).match(/serverratio first sync: (.*)/)[1]);
  sync.serverCpuMs = cpuMs(fs.pid) - cpu0;
  if (sync.visits < SCOPE) throw new Error(`fieldsync pulled ${sync.visits} visits of ${SCOPE}`);
  await waitQuiet(fs.pid);
  return sync;
}

let dbs = 0;
async function pouchPush(server) {
  const src = new Pouch(`src-${++dbs}`, { adapter: "memory" });
  for (let i = 0; i < N; i += 1000) await src.bulkDocs(pouchVisits(i, Math.min(N, i + 1000)));
  const t0 = performance.now();
  const r = await src.replicate.to(`${server.url}/push-${dbs}`, { batch_size: 100 });
  const ms = performance.now() - t0;
  if (r.docs_written !== N) throw new Error(`PouchDB pushed ${r.docs_written} of ${N}`);
  await src.destroy();
  return ms;
}

async function pouchFirstSync(server) {
  const dst = new Pouch(`dst-${++dbs}`, { adapter: "memory" });
  const t0 = performance.now();
  const r = await dst.replicate.from(`${server.url}/visits`);
  const ms = performance.now() - t0;
  if (r.docs_written !== SCOPE) throw new Error(`PouchDB pulled ${r.docs_written} of ${SCOPE}`);
  await dst.destroy();
  return ms;
}

async function main() {
  buildGo(tmp);
  const pouch = await pouchServer(`--seed=visits:${SCOPE}`);
  const fs = await startServer(tmp, "server", children);
  const old = BEFORE ? await startServer(BEFORE, "server", children, join(tmp, "before")) : null;
  try {
    await seed(tmp, fs);
    if (old) await seed(BEFORE, old);
    const got = { fsPush: [], pouchPush: [], fsSyncBy: {}, pouchSync: [] };
    for (let round = 0; round < REPEAT; round++) {
      const fsFirst = round % 2 === 0;
      for (const side of fsFirst ? ["fs", "pouch"] : ["pouch", "fs"]) {
        if (side === "fs") {
          if (old) { // this checkout and the before build, alternating which goes first
            for (const which of round % 2 === 0 ? ["after", "before"] : ["before", "after"]) {
              const [dir, server] = which === "after" ? [tmp, fs] : [BEFORE, old];
              const sync = await fsFirstSync(dir, server, `sync ${round} ${which}`, PAGES[0]);
              (got.fsSyncBy[which] ??= []).push(sync.visits / (sync.ms / 1000));
              row(`round ${round}: fieldsync first sync of ${sync.visits} visits inside ${SCOPE + OTHERS}, ${which}`, { ms: Math.round(sync.ms), perSec: Math.round(sync.visits / (sync.ms / 1000)), cpuMs: Math.round(sync.cpuMs ?? 0), serverCpuMs: sync.serverCpuMs });
            }
            continue;
          }
          if (SYNC_ONLY) {
            for (const pages of fsFirst ? PAGES : [...PAGES].reverse()) {
              const sync = await fsFirstSync(tmp, fs, `sync ${round} ${pages}`, pages);
              (got.fsSyncBy[pages] ??= []).push(sync.visits / (sync.ms / 1000));
              row(`round ${round}: fieldsync first sync of ${sync.visits} visits inside ${SCOPE + OTHERS}, pages ${pages}`, { ms: Math.round(sync.ms), perSec: Math.round(sync.visits / (sync.ms / 1000)), cpuMs: Math.round(sync.cpuMs ?? 0), serverCpuMs: sync.serverCpuMs });
            }
            continue;
          }
          const push = JSON.parse(goTest(tmp, "TestServerRatioPush", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll(`push ${round}`, 1), FIELDSYNC_TSRATIO_N: String(N), FIELDSYNC_TSRATIO_BATCH: "100" }).match(/serverratio push: (.*)/)[1]);
          got.fsPush.push(N / (push.ms / 1000));
          row(`round ${round}: fieldsync push ${N} in calls of 100`, { ms: Math.round(push.ms), perSec: Math.round(N / (push.ms / 1000)) });
          await waitQuiet(fs.pid); // its events relayed and consumed before the next timing
          for (const pages of fsFirst ? PAGES : [...PAGES].reverse()) {
            const sync = JSON.parse(goTest(tmp, "TestServerRatioFirstSync", { FIELDSYNC_TSRATIO_URL: fs.url, FIELDSYNC_TSRATIO_TOKEN: await fs.enroll(`sync ${round} ${pages}`), FIELDSYNC_TSRATIO_PULL_LIMIT: pages === "default" ? "" : pages }).match(/serverratio first sync: (.*)/)[1]);
            if (sync.visits < SCOPE) throw new Error(`fieldsync pulled ${sync.visits} visits of ${SCOPE}`);
            (got.fsSyncBy[pages] ??= []).push(sync.visits / (sync.ms / 1000));
            await waitQuiet(fs.pid);
            row(`round ${round}: fieldsync first sync of ${sync.visits} visits inside ${SCOPE + OTHERS + N * round}, pages ${pages}`, { ms: Math.round(sync.ms), perSec: Math.round(sync.visits / (sync.ms / 1000)) });
          }
        } else {
          if (!SYNC_ONLY && !old) {
            const pushMs = await pouchPush(pouch);
            got.pouchPush.push(N / (pushMs / 1000));
            row(`round ${round}: PouchDB push ${N}, batch_size 100`, { ms: Math.round(pushMs), perSec: Math.round(N / (pushMs / 1000)) });
          }
          const syncMs = await pouchFirstSync(pouch);
          got.pouchSync.push(SCOPE / (syncMs / 1000));
          row(`round ${round}: PouchDB first sync of ${SCOPE}`, { ms: Math.round(syncMs), perSec: Math.round(SCOPE / (syncMs / 1000)) });
        }
      }
    }
    row("medians", {
      ...(got.fsPush.length ? { fsPushPerSec: Math.round(median(got.fsPush)), pouchPushPerSec: Math.round(median(got.pouchPush)), pushRatio: +(median(got.fsPush) / median(got.pouchPush)).toFixed(2) } : {}),
      pouchSyncPerSec: Math.round(median(got.pouchSync)),
      ...Object.fromEntries(Object.entries(got.fsSyncBy).flatMap(([pages, xs]) => [[`fsSyncPerSec(${old ? "" : "pages "}${pages})`, Math.round(median(xs))], [`syncRatio(${old ? "" : "pages "}${pages})`, +(median(xs) / median(got.pouchSync)).toFixed(2)]])),
    });
  } finally {
    await fs.stop();
    await old?.stop();
    pouch.stop();
  }
  results.finished = new Date().toISOString();
  if (opt.out) writeFileSync(opt.out, JSON.stringify(results, null, 2));
  console.log(["| what | load | result |", "|---|---|---|", ...results.rows.map(({ what, load, ...v }) => `| ${what} | ${load} | ${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(", ")} |`)].join("\n"));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
}).finally(() => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
  process.exit();
});
