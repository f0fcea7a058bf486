// Summarises a Chromium trace of one open (TRACE=<dir> npm run bench writes
// them): what the page's main thread did from the navigation to the first
// key handled — its tasks longer than 5 ms, and in each the script compiled
// and evaluated, style, layout, and V8's CPU samples by function.
//
//   node test/trace-summary.mjs /tmp/webtrace/offline-open-1.json
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) throw new Error("usage: node test/trace-summary.mjs <trace.json>");
const raw = JSON.parse(readFileSync(file, "utf8"));
const events = Array.isArray(raw) ? raw : raw.traceEvents;

// The page's renderer main thread: the one that ran the app's navigation (the CrRendererMain with the most script).
const threadNames = new Map();
for (const e of events) if (e.ph === "M" && e.name === "thread_name") threadNames.set(`${e.pid}:${e.tid}`, e.args.name);
const scriptTime = new Map();
for (const e of events) {
  if (e.ph !== "X" || !/^(v8\.evaluateModule|EvaluateScript|v8\.compileModule|FunctionCall)$/.test(e.name)) continue;
  const k = `${e.pid}:${e.tid}`;
  scriptTime.set(k, (scriptTime.get(k) ?? 0) + (e.dur ?? 0));
}
// Prefer the thread that navigated to an http(s) page and handled a keyup (other renderers: about:blank, the worker's).
const navigated = events.find((e) => e.name === "navigationStart" && /^https?:/.test(e.args?.data?.documentLoaderURL ?? ""));
const mains = [...scriptTime].filter(([k]) => threadNames.get(k) === "CrRendererMain").sort((a, b) => b[1] - a[1]);
if (!mains.length && !navigated) throw new Error("no renderer main thread with script in the trace");
const main = navigated ? `${navigated.pid}:${navigated.tid}` : mains[0][0];
const on = (e) => `${e.pid}:${e.tid}` === main;

// Time zero: the app's navigation start, else the first event.
const nav = navigated ?? events.find((e) => on(e) && e.ts);
const t0 = nav.ts;
const ms = (us) => (us / 1000).toFixed(1);

const tasks = events.filter((e) => on(e) && e.ph === "X" && e.name === "ThreadControllerImpl::RunTask" && e.ts >= t0).sort((a, b) => a.ts - b.ts);
const inner = events.filter((e) => on(e) && e.ph === "X" && e.ts >= t0 && e.name !== "ThreadControllerImpl::RunTask");

// The first key handled: a keyup dispatched on the main thread (EventDispatch with type keyup).
const key = events.find((e) => on(e) && e.name === "EventDispatch" && e.args?.data?.type === "keyup" && e.ts >= t0);
const end = key ? key.ts : Math.max(...tasks.map((t) => t.ts + t.dur));
console.log(`${file}: main thread ${main}; first keyup handled at ${key ? ms(key.ts - t0) + " ms" : "(none)"}`);

const WATCH = /^(v8\.compileModule|v8\.evaluateModule|v8\.compile|EvaluateScript|v8\.produceModuleCache|v8\.produceCache|v8\.deserializeOnBackground|ParseHTML|UpdateLayoutTree|Layout|Paint|PrePaint|Commit|FunctionCall|TimerFire|FireAnimationFrame|EventDispatch|v8\.callFunction|MajorGC|MinorGC|V8\.GC_SCAVENGER|V8\.GCScavenger|BlinkGC\.AtomicPhase|ResourceReceivedData|HandlePostMessage|v8\.run)$/;
let busy = 0;
console.log("\ntasks ≥ 5 ms on the main thread before the key (start ms, duration ms: what took time inside)");
for (const t of tasks) {
  if (t.ts > end) break;
  busy += t.dur;
  if (t.dur < 5000) continue;
  const parts = new Map();
  for (const e of inner) {
    if (e.ts < t.ts || e.ts + (e.dur ?? 0) > t.ts + t.dur || !WATCH.test(e.name)) continue;
    const label = e.name + (e.args?.data?.url ? " " + e.args.data.url.replace(/^.*\//, "") : e.args?.fileName ? " " + e.args.fileName.replace(/^.*\//, "") : "");
    parts.set(label, (parts.get(label) ?? 0) + (e.dur ?? 0));
  }
  const top = [...parts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${ms(v)}`).join("; ");
  console.log(`  ${ms(t.ts - t0).padStart(7)} +${ms(t.dur).padStart(6)}: ${top}`);
}
console.log(`main thread busy ${ms(busy)} ms of ${ms(end - t0)} ms before the key`);

// Thread time (tdur: CPU the main thread got, not wall time): steadier than durations on a loaded machine.
// The main thread's top-level slices: its tasks, and the microtask checkpoints Chromium runs outside
// a task (a scheduler.yield() continuation, as the sliced descriptor boot's are), not nested in another.
const top = [];
for (const e of events.filter((e) => on(e) && e.ph === "X" && e.ts >= t0 && e.tdur !== undefined).sort((a, b) => a.ts - b.ts || b.dur - a.dur)) {
  const last = top[top.length - 1];
  if (!last || e.ts >= last.ts + last.dur) top.push(e);
}
const cpu = (xs) => xs.reduce((n, t) => n + (t.tdur ?? 0), 0);
const longest = [...top].sort((a, b) => (b.tdur ?? 0) - (a.tdur ?? 0)).slice(0, 5);
console.log(`main thread CPU: ${ms(cpu(top.filter((t) => t.ts <= end)))} ms before the key, ${ms(cpu(top))} ms until the trace ends (the live screen); ` +
  `longest tasks (CPU ms at start ms): ${longest.map((t) => `${ms(t.tdur ?? 0)} at ${ms(t.ts - t0)}`).join(", ")}`);

// V8's CPU samples (ProfileChunk events) before the key, by self time of function@file.
const nodes = new Map();
const self = new Map();
let sampleTs = null;
for (const e of events) {
  if (e.name !== "ProfileChunk" || `${e.pid}` !== main.split(":")[0]) continue;
  const c = e.args?.data?.cpuProfile;
  for (const n of c?.nodes ?? []) nodes.set(n.id, n);
  const deltas = e.args?.data?.timeDeltas ?? [];
  (c?.samples ?? []).forEach((id, i) => {
    sampleTs = (sampleTs ?? events.find((x) => x.name === "Profile" && `${x.pid}` === main.split(":")[0])?.args?.data?.startTime ?? 0) + (deltas[i] ?? 0);
    if (sampleTs < t0 || sampleTs > end) return;
    self.set(id, (self.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  });
}
const byFn = new Map();
for (const [id, us] of self) {
  const n = nodes.get(id);
  const cf = n?.callFrame ?? {};
  const k = `${cf.functionName || "(anonymous)"} ${(cf.url ?? "").replace(/^.*\//, "")}${cf.lineNumber >= 0 ? ":" + (cf.lineNumber + 1) : ""}`;
  byFn.set(k, (byFn.get(k) ?? 0) + us);
}
const byFile = new Map();
for (const [k, v] of byFn) {
  const f = k.split(" ")[1]?.split(":")[0] || "(native)";
  byFile.set(f, (byFile.get(f) ?? 0) + v);
}
console.log("\nCPU samples before the key, self time by file (ms):");
for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms(v).padStart(7)} ${k}`);
console.log("by function:");
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${ms(v).padStart(7)} ${k}`);
