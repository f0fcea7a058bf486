// The web app's open budgets, measured in Chromium throttled through the
// DevTools protocol (CDP): a first open over an emulated slow 4G network
// with the CPU slowed 4×, and a repeat open offline from the service worker.
// Used by `npm run bench` (test/perf.bench.ts: throttled, prints figures)
// and, unthrottled, by the smoke in test/journey-origin.test.ts.
import type { BrowserContext, CDPSession, Page } from "playwright-core";

/** Network and CPU conditions for a measured open. */
export interface Throttle {
  /** The network's: round trip added to every request (ms), bits per second down and up; none for CPU only (an offline open). */
  net?: { latencyMs: number; downBps: number; upBps: number };
  /** CPU slowdown factor (1: none). */
  cpu: number;
}

/** Lighthouse's "slow 4G" (its mobile default, simulated) on a mid-range phone: 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up, CPU 4× slower. */
export const SLOW_4G: Throttle = { net: { latencyMs: 150, downBps: 1.6e6, upBps: 750e3 }, cpu: 4 };

/** The same as Chrome DevTools applies it in Lighthouse's "devtools" mode (RTT × 3.75, throughput × 0.9): a stricter line. */
export const SLOW_4G_DEVTOOLS: Throttle = { net: { latencyMs: 562.5, downBps: 1.6e6 * 0.9, upBps: 750e3 * 0.9 }, cpu: 4 };

/**
 * What one open measured, in ms since the navigation started
 * (performance.timeOrigin): the navigation timing of the page, and the
 * marker — the screen's element (the Enroll code input, or Today) in the
 * DOM, then a key typed right after it appeared handled by the page
 * (interactive: the element is there and the main thread takes input).
 */
export interface OpenTiming {
  /** The document's last byte arrived. */
  responseEnd: number;
  domContentLoaded: number;
  load: number;
  /** First contentful paint, when the browser reported it. */
  fcp?: number;
  /** The screen's element is in the DOM. */
  shown: number;
  /** A key typed after it appeared was handled (the Enroll input: its value took the character). */
  interactive: number;
  /** When that key was sent (its keydown's timeStamp: the browser made the event), and how long the page took to handle it (keydown handled − sent). */
  keySent?: number;
  inputDelay?: number;
  /** The live screen is in the DOM (when asked for: Today drawn by the app, after the snapshot drawn before the SDK loaded). */
  live?: number;
  /** The last script or style arrived (from the network or the service worker). */
  assets: number;
  /** The page and its files the service worker's static routes served from its cache (its script not run for them). */
  routed?: number;
  /** Bytes transferred over the network (encoded), and the requests that did. */
  transferred: number;
  requests: number;
}

/** Marks in the page, before any of its scripts: when selector appears and when a key typed after is handled. */
function installMarker([selector, liveSelector]: [string, string | undefined]): void {
  const w = window as unknown as { __perf: { shown?: number; interactive?: number; fcp?: number; live?: number; keySent?: number; inputDelay?: number } };
  w.__perf = {};
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if (e.name === "first-contentful-paint") w.__perf.fcp = e.startTime;
  }).observe({ type: "paint", buffered: true });
  const seen = () => {
    if (w.__perf.shown === undefined && document.querySelector(selector)) w.__perf.shown = performance.now();
    if (liveSelector && w.__perf.live === undefined && document.querySelector(liveSelector)) w.__perf.live = performance.now();
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
  // Capture on window: the first key event the page handles; an input's value is checked by the caller.
  addEventListener("keydown", (e) => {
    if (w.__perf.shown !== undefined && w.__perf.keySent === undefined) {
      w.__perf.keySent = e.timeStamp;
      w.__perf.inputDelay = performance.now() - e.timeStamp;
    }
  }, true);
  addEventListener("keyup", () => {
    if (w.__perf.shown !== undefined && w.__perf.interactive === undefined) w.__perf.interactive = performance.now();
  }, true);
}

/** Throttles page's network and CPU through a CDP session; returns the session (detach to stop). */
export async function throttle(context: BrowserContext, page: Page, t: Throttle | null) {
  const cdp = await context.newCDPSession(page);
  if (t?.net) {
    // Not with context.setOffline: Playwright sets it through the same CDP command.
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false, latency: t.net.latencyMs, downloadThroughput: t.net.downBps / 8, uploadThroughput: t.net.upBps / 8,
    });
  }
  if (t) await cdp.send("Emulation.setCPUThrottlingRate", { rate: t.cpu });
  return cdp;
}

/**
 * Opens url in page (already throttled as wanted) and measures it: waits
 * for selector, types one character into it (or, for a screen with no
 * input, presses a key on the page) and reads the marks and the
 * navigation timing.
 */
export async function measureOpen(page: Page, url: string, selector: string, opts: { type?: boolean; live?: string; cdp?: CDPSession } = {}): Promise<OpenTiming> {
  await page.addInitScript(installMarker, [selector, opts.live] as [string, string | undefined]);
  await page.goto(url, { waitUntil: "commit" });
  if (opts.cdp && process.env.PERF_HARNESS !== "playwright") await keyThroughCDP(opts.cdp, selector, !!opts.type);
  else {
    // The marker's own mark, not page.waitForSelector: Playwright's selector engine runs in the page, on
    // the main thread it measures (180 ms of it in a CDP trace of an open at CPU 4×, between the screen
    // shown and the key).
    await page.waitForFunction(() => (window as unknown as { __perf: { shown?: number } }).__perf.shown !== undefined, undefined, { timeout: 60_000 });
    if (opts.type) {
      await page.evaluate((s) => (document.querySelector(s) as HTMLElement).focus(), selector);
      await page.keyboard.type("7");
    }
    else await page.keyboard.press("Shift");
  }
  await page.waitForFunction(() => (window as unknown as { __perf: { interactive?: number } }).__perf.interactive !== undefined, undefined, { timeout: 60_000 });
  if (opts.type && (await page.inputValue(selector)) !== "7") throw new Error(`${selector} did not take the typed key`);
  await page.waitForLoadState("load");
  if (opts.live) await page.waitForSelector(opts.live, { timeout: 60_000 });
  return page.evaluate(() => {
    const p = (window as unknown as { __perf: { shown: number; interactive: number; fcp?: number; live?: number; keySent?: number; inputDelay?: number } }).__perf;
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
    const all = [nav, ...res];
    return {
      responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, fcp: p.fcp,
      shown: p.shown, interactive: p.interactive, live: p.live, keySent: p.keySent, inputDelay: p.inputDelay,
      assets: Math.max(0, ...res.filter((e) => /\.(js|css)$/.test(e.name)).map((e) => e.responseEnd)),
      routed: all.filter((e) => (e as PerformanceResourceTiming & { workerMatchedSourceType?: string }).workerMatchedSourceType === "cache").length,
      transferred: all.reduce((n, e) => n + e.transferSize, 0),
      requests: all.filter((e) => e.transferSize > 0).length,
    };
  });
}

/**
 * Waits for the marker's shown mark and sends one key, through the page's
 * CDP session only: Runtime.evaluate of one property read every 10 ms, then
 * Input.dispatchKeyEvent. Playwright's waitForFunction would first evaluate
 * its injected script (~330 KB: 70–85 ms of the page's main thread at CPU 4×
 * in a CDP trace of an offline open, between the screen shown and the key)
 * and poll on animation frames; a user's key costs the page neither.
 * PERF_HARNESS=playwright measures the old way.
 */
async function keyThroughCDP(cdp: CDPSession, selector: string, type: boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await cdp.send("Runtime.evaluate", { expression: "window.__perf !== undefined && window.__perf.shown !== undefined", returnByValue: true }).catch(() => null);
    if (r?.result.value === true) break;
    if (Date.now() > deadline) throw new Error(`${selector} not shown within 60 s`);
    await new Promise((ok) => setTimeout(ok, 10));
  }
  if (type) {
    await cdp.send("Runtime.evaluate", { expression: `document.querySelector(${JSON.stringify(selector)}).focus()` });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyDown", key: "7", code: "Digit7", text: "7", unmodifiedText: "7", windowsVirtualKeyCode: 55 });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: "7", code: "Digit7", windowsVirtualKeyCode: 55 });
  } else {
    await cdp.send("Input.dispatchKeyEvent", { type: "rawKeyDown", key: "Shift", code: "ShiftLeft", windowsVirtualKeyCode: 16, location: 1 });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: "Shift", code: "ShiftLeft", windowsVirtualKeyCode: 16, location: 1 });
  }
}

/** One line of figures (ms, rounded) for the report. */
export function describeOpen(o: OpenTiming): string {
  const ms = (n: number | undefined) => (n === undefined ? "–" : n.toFixed(0));
  return `interactive ${ms(o.interactive)} ms (screen shown ${ms(o.shown)}; key sent ${ms(o.keySent)}, input delay ${ms(o.inputDelay)}${o.live === undefined ? "" : `; live screen ${ms(o.live)}`}; FCP ${ms(o.fcp)}; document ${ms(o.responseEnd)}; scripts in ${ms(o.assets)}; ` +
    `DOMContentLoaded ${ms(o.domContentLoaded)}; load ${ms(o.load)}); ${(o.transferred / 1024).toFixed(1)} KB over the network in ${o.requests} requests` +
    (o.routed ? `; ${o.routed} from the service worker's static routes` : "");
}
