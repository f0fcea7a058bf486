// `npm run bench`: the web app's open budgets in Chromium throttled through
// CDP, against fieldsyncd --demo serving the app itself (the dist/ built
// just before, embedded by go build). Prints figures; asserts only that
// the opens worked (budgets are reported, not enforced: see the repository's BENCHMARKS.md, "Web app").
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { controlled, demoUser, enrollOnPage, haveChromium, launchChromium } from "./journey-lib.js";
import { describeOpen, measureOpen, SLOW_4G, SLOW_4G_DEVTOOLS, throttle, type OpenTiming, type Throttle } from "./perf.js";
import { startServer, type TestServer } from "./server.js";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startServerOnWebDir } from "./abserver.js";

const RUNS = Number(process.env.RUNS ?? 3);
const TRACE = process.env.TRACE ? (mkdirSync(process.env.TRACE, { recursive: true }), process.env.TRACE) : "";
/** The main thread's tasks, script compile and evaluation, V8's CPU samples, the service worker's fetches. */
const TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.execute", "disabled-by-default-v8.cpu_profiler", "blink", "loading", "ServiceWorker", "blink.user_timing", "toplevel"];
const FIRST_OPEN_BUDGET = 3000;
const OFFLINE_OPEN_BUDGET = 1000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function report(title: string, runs: OpenTiming[], budget: number): void {
  console.log(`\n${title}`);
  for (const r of runs) console.log("  " + describeOpen(r));
  const m = median(runs.map((r) => r.interactive));
  console.log(`  median interactive ${m.toFixed(0)} ms, budget ${budget} ms: ${m <= budget ? "met" : "MISSED"}; worst ${Math.max(...runs.map((r) => r.interactive)).toFixed(0)} ms; ` +
    `median screen shown ${median(runs.map((r) => r.shown)).toFixed(0)} ms, key sent ${median(runs.map((r) => r.keySent ?? NaN)).toFixed(0)} ms, input delay ${median(runs.map((r) => r.inputDelay ?? NaN)).toFixed(0)} ms; load average now ${loadavg()[0].toFixed(1)}`);
}

describe.skipIf(!haveChromium)("open budgets (throttled through CDP)", () => {
  let srv: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    srv = await startServer();
    browser = await launchChromium();
    console.log(`fieldsyncd ${srv.url}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; ${RUNS} runs each`);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const firstOpen = async (t: Throttle) => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    try {
      const page = await context.newPage();
      const cdp = await throttle(context, page, t);
      return await measureOpen(page, srv.url + "/", "input[name=code]", { type: true, cdp });
    } finally {
      await context.close();
    }
  };

  it("first open on slow 4G, CPU 4×: the Enroll screen takes typing", async () => {
    const runs: OpenTiming[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await firstOpen(SLOW_4G));
    report("first open, slow 4G (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up), CPU 4×, empty cache:", runs, FIRST_OPEN_BUDGET);
    const strict = await firstOpen(SLOW_4G_DEVTOOLS);
    report("first open, slow 4G as DevTools applies it (562.5 ms RTT, 1.44 Mbit/s down), CPU 4×, empty cache (one run):", [strict], FIRST_OPEN_BUDGET);
  }, 300_000);

  it("repeat open offline from the service worker, CPU 4×: Today takes input", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    try {
      let page = await context.newPage();
      await enrollOnPage(page, srv, srv.url, demoUser(srv, "rep").user_id);
      await controlled(page);
      await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");
      await context.setOffline(true);
      const runs: OpenTiming[] = [];
      for (let i = 0; i < RUNS; i++) {
        await page.close();
        page = await context.newPage();
        const cdp = await throttle(context, page, { cpu: SLOW_4G.cpu });
        // Shown: Today drawn from the saved index before the SDK loads (the snapshot), or the live one.
        // TRACE=<dir>: a Chromium trace of each open (chrome://tracing, Perfetto, or test/trace-summary.ts).
        if (TRACE) await browser.startTracing(page, { path: join(TRACE, `offline-open-${i + 1}.json`), categories: TRACE_CATEGORIES });
        runs.push(await measureOpen(page, srv.url + "/", "[data-testid=today-snapshot], [data-testid=today]", { live: "[data-testid=today]", cdp }));
        if (TRACE) await browser.stopTracing();
      }
      report("repeat open, offline (context.setOffline), from the service worker, CPU 4×, enrolled (Today from the demo's data):", runs, OFFLINE_OPEN_BUDGET);
    } finally {
      await context.close();
    }
  }, 300_000);

  // AB=<distA>:<distB>: two builds of the app (say main's and this branch's dist, built beforehand), each
  // served by its own fieldsyncd; the repeat open offline alternates between them, run by run (SW_COLD=1: each
  // open with the service worker stopped first).
  it.skipIf(!process.env.AB)("repeat open offline, two builds alternating (AB=<distA>:<distB>)", async () => {
    const dirs = process.env.AB!.split(":");
    const sides: { name: string; srv: TestServer; page?: Page; context?: BrowserContext; runs: OpenTiming[] }[] = [];
    try {
      for (const d of dirs) sides.push({ name: d, srv: await startServerOnWebDir(d), runs: [] });
      for (const s of sides) {
        s.context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
        s.page = await s.context.newPage();
        await enrollOnPage(s.page, s.srv, s.srv.url, demoUser(s.srv, "rep").user_id);
        await controlled(s.page);
        await s.page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");
        await s.context.setOffline(true);
      }
      console.log(`load average at start ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
      for (let i = 0; i < RUNS; i++) {
        for (const s of i % 2 ? [...sides].reverse() : sides) {
          await s.page!.close();
          s.page = await s.context!.newPage();
          const cdp = await throttle(s.context!, s.page, { cpu: SLOW_4G.cpu });
          // SW_COLD=1: the service worker stopped before the open, as after hours unused (the browser stops an idle
          // worker within a minute); otherwise it is still running from the open before, seconds earlier.
          if (process.env.SW_COLD) await cdp.send("ServiceWorker.enable").then(() => cdp.send("ServiceWorker.stopAllWorkers"));
          if (TRACE) await browser.startTracing(s.page, { path: join(TRACE, `ab-${sides.indexOf(s) ? "B" : "A"}-${i + 1}.json`), categories: TRACE_CATEGORIES });
          s.runs.push(await measureOpen(s.page, s.srv.url + "/", "[data-testid=today-snapshot], [data-testid=today]", { live: "[data-testid=today]", cdp }));
          if (TRACE) await browser.stopTracing();
        }
      }
      console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
      for (const s of sides) {
        report(`repeat open offline, CPU 4×, build ${s.name}:`, s.runs, OFFLINE_OPEN_BUDGET);
        const xs = s.runs.map((r) => r.interactive);
        console.log(`  worst ${Math.max(...xs).toFixed(0)} ms; live screen median ${median(s.runs.map((r) => r.live ?? NaN)).toFixed(0)} ms`);
      }
    } finally {
      for (const s of sides) {
        await s.context?.close();
        await s.srv.stop();
      }
    }
  }, 900_000);

  it("Today from a store of 10k records: a scan, the saved index, the index kept up to date (CPU unthrottled, then 4×)", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const page = await context.newPage();
      await enrollOnPage(page, srv, srv.url, demoUser(srv, "rep").user_id);
      await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");
      const n = await page.evaluate(() => (window as any).fieldsyncDev.seed(10_000));
      type Run = { ms: number; source: string; records: number; sincePageStart: number; phases: { build: number } };
      const today = () => page.waitForFunction(() => ((window as any).fieldsyncToday?.records ?? 0) >= 10_000).then(() => page.evaluate(() => (window as any).fieldsyncToday as Run));
      for (const cpu of [1, 4]) {
        const cdp = await throttle(context, page, { cpu });
        const runs: Run[] = [];
        for (let i = 0; i < 3; i++) { // the scan: what every Today after a write or a pull did before the index followed the writes
          await page.evaluate(() => (window as any).fieldsyncDev.dropTodayIndex());
          await page.reload();
          runs.push(await today());
        }
        for (let i = 0; i < 3; i++) { // a new open: the saved index
          await page.reload();
          runs.push(await today());
        }
        for (let i = 0; i < 3; i++) { // after a write (two more rows), Today again: the index in memory
          await page.evaluate(() => (window as any).fieldsyncDev.seed(2));
          await page.evaluate(() => ((window as any).fieldsyncToday = undefined, (location.hash = "#/customers")));
          await page.waitForSelector("[data-testid=today]", { state: "detached" });
          await page.evaluate(() => (location.hash = "#/today"));
          runs.push(await today());
        }
        console.log(`\nToday with ${n}+ records, CPU ${cpu}×, ms from Today's read to its DOM committed (a scan or the saved index is read from the store's open on):`);
        for (const source of ["store", "index", "memory"]) {
          const r = runs.filter((x) => x.source === source);
          const build = source === "memory" ? "" : `; the build itself (begun when the store opened) ${r.map((x) => x.phases.build.toFixed(1)).join(", ")} ms`;
          console.log(`  from the ${source}: ${r.map((x) => x.ms.toFixed(1)).join(", ")} (${r.map((x) => x.sincePageStart.toFixed(0)).join(", ")} ms since the page started${build})`);
        }
        await cdp.detach();
      }
    } finally {
      await context.close();
    }
  }, 300_000);
});
