// The web app in a real browser: Debian's Chromium driven by playwright-core
// (no browser download), the app built by vite (npm test builds dist/ first),
// a real fieldsyncd --demo behind a small same-origin server that serves
// dist/ and forwards /fieldsync.v1.* and /photos/v1/ to it. Skipped, saying why, where there
// is no Chromium (`make test-web` installs it with apt-get when missing).
import "fake-indexeddb/auto";
import { create } from "@bufbuild/protobuf";
import {
  Client, CommitmentSchema, CommitmentState, openIndexedDBStorage, PhotoState, SurgerySupportSchema, VisitSchema, type Record as WireRecord,
} from "@fieldsync/client";
import { nodeTransport } from "@fieldsync/client/node";
import { createConnectTransport } from "@connectrpc/connect-node";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawText, showsChinese } from "./journey-lib.js";
import { jpeg } from "./photos.js";
import { startServer, type TestServer } from "./server.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ROOT = resolve(import.meta.dirname, "..");
const DIST = join(ROOT, "dist");
const ARTEFACTS = join(ROOT, "artefacts");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`web app browser test skipped: no Chromium at ${CHROMIUM} (make test-web installs Debian's with apt-get; or set CHROMIUM)`);

/** What reaches fieldsyncd through the same-origin server, by RPC path. */
const calls = new Map<string, number>();
/** Set to serve sw.js as a new version (its cache name changed), as a new deploy would. */
let swSuffix = "";

/**
 * Serves dist/ (any other path: index.html) and forwards /fieldsync.v1.* and the raw chunk route
 * (/photos/v1/) to the server: one origin for both, as a deployment behind one host would be.
 */
function sameOrigin(upstream: URL): Promise<Server> {
  const types: Record<string, string> = {
    ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json",
  };
  const srv = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path.startsWith("/fieldsync.v1.") || path.startsWith("/photos/v1/")) {
      const key = path.startsWith("/photos/v1/uploads/") ? `${req.method} /photos/v1/uploads/` : path;
      calls.set(key, (calls.get(key) ?? 0) + 1);
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
      return;
    }
    let file = join(DIST, path === "/" ? "index.html" : path);
    if (!file.startsWith(DIST) || !existsSync(file)) file = join(DIST, "index.html");
    let body = readFileSync(file);
    if (path === "/sw.js" && swSuffix) body = Buffer.from(body.toString().replace(/const VERSION = "(\w+)"/, `const VERSION = "$1${swSuffix}"`));
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" }).end(body);
  });
  return new Promise((done) => srv.listen(0, "127.0.0.1", () => done(srv)));
}

describe.skipIf(!haveChromium)("the web app in Chromium against fieldsyncd --demo", () => {
  let srv: TestServer;
  let web: Server;
  let origin: string;
  let browser: Browser;

  /** A one-time enrollment code for the demo user, from the admin API (as `fieldsync admin enroll-code` gets one). */
  const enrollmentCode = async (userId: string): Promise<string> => {
    const res = await fetch(`${srv.url}/fieldsync.v1.AdminService/IssueEnrollmentCode`, {
      method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${srv.creds.admin_token}` }, body: JSON.stringify({ userId }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { enrollmentCode: string }).enrollmentCode;
  };
  const rep = () => srv.creds.users.find((u) => u.role === "rep")!;
  const user = (role: string) => srv.creds.users.find((u) => u.role === role)!;

  /** Enrolls the page's device through the Enroll screen and waits for Today. */
  const enrollOnPage = async (page: Page, userId = rep().user_id) => {
    await page.goto(origin + "/");
    await page.fill("input[name=code]", await enrollmentCode(userId));
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
  };
  const bar = (page: Page, attr: string) => page.getAttribute("[data-testid=syncbar]", `data-${attr}`);
  /** The director's region and, in its PHI drill-down, the rep's days (as the managers' dashboard reads them). */
  const repPhiDays = async () => {
    const director = user("regional_director");
    const call = async (method: string, body: object) => {
      const res = await fetch(`${srv.url}/fieldsync.v1.${method}`, {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${director.device_token}` }, body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    const regionId = (await call("IdentityService/WhoAmI", {})).regionId as string;
    const drill = await call("DashboardService/GetPhiDrilldown", { scopeKind: "SCOPE_KIND_REGION", scopeId: regionId });
    const child = ((drill.children ?? []) as { scopeId: string; days?: { date: string; eventCount?: string; index?: number }[] }[]).find((c) => c.scopeId === rep().user_id);
    return { regionId, days: child?.days ?? [] };
  };
  const eventsOn = (days: { date: string; eventCount?: string }[], date: string) => Number(days.find((d) => d.date === date)?.eventCount ?? 0);

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) execFileSync("npx", ["vite", "build"], { cwd: ROOT, stdio: "inherit" });
    srv = await startServer();
    web = await sameOrigin(new URL(srv.url));
    origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    mkdirSync(ARTEFACTS, { recursive: true });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => web?.close(done));
    await srv?.stop();
  });

  it("journey 1: a rep enrolls, logs a surgery support with three photos and a visit offline, reopens the app offline, and both arrive once when online", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    const logs: string[] = [];
    context.on("console", (m) => logs.push(m.text()));
    let page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page);
    // The service worker controls the page (the shell is cached) and the first sync brought the demo customers.
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
    });
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");

    // What the director's dashboard shows of the rep before: the rep's PHI events by day.
    const phiBefore = await repPhiDays();

    // Offline from here: nothing reaches the server.
    await context.setOffline(true);
    const before = new Map(calls);

    // Surgery support: hospital, a consumable, three staged photos; a reload mid-form (served by the worker) keeps the draft.
    await page.goto(origin + "/#/new");
    await page.click("[data-form=surgery]");
    await page.waitForSelector("[data-testid=form-surgery] option[value=demo-ruijin]", { state: "attached" });
    await page.selectOption("select[name=hospital_id]", "demo-ruijin");
    await page.fill("[data-testid=add-item]", "journey-stent");
    await page.click("[data-testid=add-item] + button");
    await page.fill("textarea[name=usage_feedback]", "smooth placement");
    const stages = ["pre_op_photo", "intra_op_photo", "post_op_count_photo"];
    for (const [i, slot] of stages.entries()) {
      await page.setInputFiles(`input[data-slot=${slot}]`, { name: `${slot}.jpg`, mimeType: "image/jpeg", buffer: jpeg(30_000 + i * 1000, i + 1) });
      await page.waitForSelector(`label.photo.ok[data-slot=${slot}]`);
    }
    await page.reload();
    await page.waitForSelector("[data-testid=form-surgery] option[value=demo-ruijin]", { state: "attached" });
    expect(await page.inputValue("textarea[name=usage_feedback]")).toBe("smooth placement");
    expect(await page.inputValue("select[name=hospital_id]")).toBe("demo-ruijin");
    expect(await page.locator("label.photo.ok").count()).toBe(3);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");

    // A clinical-director visit: submitting without its three mandatory fields shows the SDK's protovalidate messages.
    await page.goto(origin + "/#/new");
    await page.click("[data-form=visit]");
    await page.waitForSelector("[data-testid=form-visit] option[value=demo-ruijin]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-ruijin");
    await page.selectOption("select[name=kind]", "2");
    await page.fill("textarea[name=notes]", "journey visit");
    const outboxBefore = await bar(page, "outbox");
    await page.click("button[type=submit]");
    // Offline, the validation chunk (loaded lazily, not with Today) comes from the service worker's cache and refuses it.
    await page.waitForSelector("[data-testid=violations]");
    expect(await page.locator("[data-testid=violations] li").evaluateAll((ls) => ls.map((l) => [l.getAttribute("data-rule"), l.textContent]))).toEqual([
      ["visit.core_problem_solved.required", "Core problem solved: is required for a clinical-director visit"],
      ["visit.follow_up_commitments.required", "Follow-up commitments: is required for a clinical-director visit"],
      ["visit.next_appointment_time.required", "Next appointment: is required for a clinical-director visit"],
      ["visit.action_tags.required", "Action value: is required for a clinical-director visit"],
    ]);
    expect(await bar(page, "outbox")).toBe(outboxBefore); // nothing of the refused visit was queued
    // Free text with a terminal escape is refused by text.proto's predefined rule, which the web
    // build's stub of validate.proto must still let the SDK's registry resolve.
    await page.fill("textarea[name=core_problem_solved]", "screw \u001b[2J loosening");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=violations] li[data-rule=printable_text]");
    expect(await bar(page, "outbox")).toBe(outboxBefore);
    await page.fill("textarea[name=core_problem_solved]", "screw loosening explained");
    await page.fill("textarea[name=follow_up_commitments]", "bring the XK-300 samples");
    await page.fill("input[name=next_appointment_time]", "2030-01-02T10:00");
    await page.check("[data-field=action_tags] input[value=technical_demo]");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    expect(Number(await bar(page, "photos"))).toBe(3);
    expect(Number(await bar(page, "outbox"))).toBeGreaterThanOrEqual(2);
    expect(await bar(page, "online")).toBe("false");
    const offlineCalls = [...calls].filter(([k, n]) => n !== (before.get(k) ?? 0));
    expect(offlineCalls).toEqual([]);

    // The app is killed and opened again, still offline: the worker serves it, the store still holds everything.
    await page.close();
    page = await context.newPage();
    await page.goto(origin + "/");
    await page.waitForSelector("[data-testid=today]");
    expect(Number(await bar(page, "photos"))).toBe(3);
    await page.screenshot({ path: join(ARTEFACTS, "journey1-reopened-offline.png"), fullPage: true });

    // Online: the app syncs by itself; the surgery shows photos_complete once the server has all three.
    await context.setOffline(false);
    await page.waitForFunction(() => {
      const b = document.querySelector("[data-testid=syncbar]");
      return b?.getAttribute("data-outbox") === "0" && b.getAttribute("data-photos") === "0";
    }, undefined, { timeout: 90_000 });
    await page.waitForSelector("[data-testid=recent-surgery] .tag.ok", { timeout: 60_000 });
    await page.screenshot({ path: join(ARTEFACTS, "journey1-synced.png"), fullPage: true });
    expect(calls.get("/fieldsync.v1.MediaService/CreateUpload")).toBe(3);
    expect(calls.get("/fieldsync.v1.MediaService/CompleteUpload")).toBe(3);
    // The chunks went as raw PUTs, not through the PutChunk fallback.
    expect(calls.get("PUT /photos/v1/uploads/")).toBeGreaterThanOrEqual(3);
    expect(calls.get("/fieldsync.v1.MediaService/PutChunk")).toBeUndefined();

    // Another device of the rep sees each record once, the surgery's three photos AVAILABLE and photos_complete.
    const pulled: WireRecord[] = [];
    const other = await Client.enroll({
      storage: await openIndexedDBStorage("journey-check"), server: srv.url, enrollmentCode: await enrollmentCode(rep().user_id), deviceName: "check", platform: "node",
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [...interceptors, (next) => async (req) => {
        const res = await next(req);
        if (!res.stream && req.method.name === "Pull") pulled.push(...(res.message as unknown as { records: WireRecord[] }).records);
        return res;
      }] }),
    });
    await other.sync();
    const surgeries = (await other.list(SurgerySupportSchema)).filter((r) => r.value.consumableModels.includes("journey-stent"));
    expect(surgeries).toHaveLength(1);
    expect(surgeries[0].value).toMatchObject({ hospitalId: "demo-ruijin", usageFeedback: "smooth placement", photosComplete: true });
    const wire = pulled.filter((r) => r.id === surgeries[0].id).at(-1)!;
    expect(wire.photos.map((p) => p.state)).toEqual([PhotoState.AVAILABLE, PhotoState.AVAILABLE, PhotoState.AVAILABLE]);
    const visits = (await other.list(VisitSchema)).filter((r) => r.value.notes === "journey visit");
    expect(visits).toHaveLength(1);
    expect(visits[0].value).toMatchObject({ customerId: "demo-ruijin", kind: 2, coreProblemSolved: "screw loosening explained", actionTags: ["technical_demo"] });
    other.close();
    await context.close();

    // The director's dashboard shows it: once the insights consumer has read the change stream, the rep's PHI
    // day counts the surgery and the visit; the director, in the browser, drills from the region into the rep.
    let phiAfter = await repPhiDays();
    let day = "";
    for (const deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 250))) {
      day = phiAfter.days.map((d) => d.date).find((date) => eventsOn(phiAfter.days, date) >= eventsOn(phiBefore.days, date) + 2) ?? "";
      if (day || Date.now() > deadline) break;
      phiAfter = await repPhiDays();
    }
    expect(day, `the rep's PHI never counted the two records: before ${JSON.stringify(phiBefore.days)}, after ${JSON.stringify(phiAfter.days)}`).not.toBe("");
    const dayIndex = phiAfter.days.find((d) => d.date === day)!.index ?? 0;
    const boss = await browser.newContext({ viewport: { width: 1000, height: 1100 }, locale: "en-US" });
    const dash = await boss.newPage();
    dash.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(dash, user("regional_director").user_id);
    await dash.goto(origin + "/#/manager");
    await dash.waitForSelector(`[data-testid=phi][data-level=region][data-id="${phiAfter.regionId}"] [data-testid=phi-children]`);
    const repRow = dash.locator("[data-testid=phi-child]", { hasText: rep().name });
    await expect.poll(() => repRow.count()).toBe(1);
    await repRow.locator("a").click();
    await dash.waitForSelector(`[data-testid=phi][data-level=rep][data-id="${rep().user_id}"] [data-testid=phi-table]`);
    const row = dash.locator(`[data-testid=phi-table] tbody tr[data-date="${day}"]`);
    expect(await row.count()).toBe(1);
    expect(await row.locator("td").nth(1).textContent()).toBe(String(Math.round(dayIndex * 10) / 10)); // as the screen rounds it
    await dash.screenshot({ path: join(ARTEFACTS, "journey1-director.png"), fullPage: true });
    await boss.close();
  }, 300_000);

  it("renders Today from a store of 10k records (measured, not asserted)", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await enrollOnPage(page);
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");
    const n = await page.evaluate(() => (window as any).fieldsyncDev.seed(10_000));
    expect(n).toBe(10_000);
    // Three opens reading the store (the Today index dropped first), then three served by the index.
    const runs: { ms: number; sincePageStart: number; source: string; phases: Record<string, number> }[] = [];
    for (let i = 0; i < 6; i++) {
      if (i < 3) await page.evaluate(() => (window as any).fieldsyncDev.dropTodayIndex());
      await page.reload();
      await page.waitForFunction(() => ((window as any).fieldsyncToday?.records ?? 0) >= 10_000);
      runs.push(await page.evaluate(() => (window as any).fieldsyncToday));
    }
    expect(runs.map((r) => r.source)).toEqual(["store", "store", "store", "index", "index", "index"]);
    console.log("where a full load goes (ms):", JSON.stringify(await page.evaluate(() => (window as any).fieldsyncDev.profile())));
    for (const source of ["store", "index"]) {
      const r = runs.filter((x) => x.source === source);
      console.log(`Today with ${n}+ records from the ${source}: ${r.map((x) => x.ms.toFixed(1)).join(", ")} ms from its read to the DOM committed ` +
        `(${r.map((x) => x.sincePageStart.toFixed(0)).join(", ")} ms since the page started; phases ${JSON.stringify(r.map((x) => x.phases))})`);
    }
    expect(await page.locator("[data-list=followups] li").count()).toBeGreaterThan(0);
    expect(await page.locator("[data-list=stock] li").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTEFACTS, "today-10k.png"), fullPage: false });
    await context.close();
  }, 180_000);

  it("updates to a new version when the user asks, keeping one cached shell", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(origin + "/");
    await page.waitForSelector("input[name=code]");
    const controlled = () => page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
      return caches.keys();
    });
    const first = await controlled();
    expect(first).toHaveLength(1);
    swSuffix = "-next";
    try {
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
      await page.waitForSelector(".banner button");
      await Promise.all([page.waitForEvent("load"), page.click(".banner button")]);
      await page.waitForSelector("input[name=code]");
      const after = await controlled();
      expect(after).toEqual([first[0] + "-next"]);
      expect(await page.locator(".banner button").count()).toBe(0);
    } finally {
      swSuffix = "";
      await context.close();
    }
  }, 120_000);

  /** Waits until the sync bar shows nothing waiting, online. */
  const settled = (page: Page) => page.waitForFunction(() => {
    const b = document.querySelector("[data-testid=syncbar]");
    return b?.getAttribute("data-online") === "true" && b.getAttribute("data-outbox") === "0" && b.getAttribute("data-photos") === "0";
  }, undefined, { timeout: 60_000 });

  it("a rep's brief, one-tap sample shipment and alerts; in Chinese", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "zh-CN" });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, user("rep").user_id);
    expect(await page.textContent("h1")).toBe("今日");
    await page.waitForSelector("header .who"); // WhoAmI told the app who uses it
    // Today in Chinese: the three lists first, the sync bar; no enum or field name, no wire timestamp anywhere.
    await settled(page);
    expect(await page.locator("[data-testid=today] h2").allTextContents()).toEqual(expect.arrayContaining([
      expect.stringContaining("今日待跟进"), expect.stringContaining("逾期商机"), expect.stringContaining("库存预警"),
    ]));
    expect(await page.textContent("[data-testid=syncbar]")).toMatch(/在线|同步中/);
    expect(await page.textContent("[data-testid=syncbar]")).toMatch(/上次同步 (刚刚|\d+分钟前)/);
    expect(await rawText(page)).toEqual([]);
    await page.screenshot({ path: join(ARTEFACTS, "today-zh.png"), fullPage: true });
    // A rep's forms: no diagnosis or quote (store staff write those).
    await page.goto(origin + "/#/new");
    expect(await page.locator("[data-form]").evaluateAll((bs) => bs.map((b) => b.getAttribute("data-form")))).toEqual(["visit", "surgery", "commitment", "feedback"]);
    // A visit with a follow-up commitment, then the customer's brief shows it. Made a clinical-director visit first,
    // it is refused with the validation messages in Chinese, worded by the app from the rule ids, not the server's English.
    await page.click("[data-form=visit]");
    await page.waitForSelector("[data-testid=form-visit] option[value=demo-ruijin]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-ruijin");
    await page.selectOption("select[name=kind]", "2");
    await page.fill("textarea[name=core_problem_solved]", "x".repeat(4001));
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=violations]");
    expect(await page.locator("[data-testid=violations] li").allTextContents()).toEqual([
      "后续承诺: 临床主任拜访必填", "下次预约时间: 临床主任拜访必填", "行动价值: 临床主任拜访必填", "本次解决的核心问题: 最多 4000 个字符",
    ]);
    expect(await page.textContent("[data-testid=violations]")).not.toMatch(/[a-z]{3}/); // no English left
    expect(await rawText(page)).toEqual([]);
    await page.screenshot({ path: join(ARTEFACTS, "violations-zh.png"), fullPage: true });
    await page.fill("textarea[name=core_problem_solved]", "");
    await page.selectOption("select[name=kind]", "1");
    await page.fill("textarea[name=follow_up_commitments]", "send the XK-300 brochure");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await page.goto(origin + "/#/customer/demo-ruijin");
    await page.waitForSelector("[data-testid=brief] li");
    expect(await page.textContent("[data-testid=brief]")).toContain("send the XK-300 brochure");
    await page.screenshot({ path: join(ARTEFACTS, "brief-zh.png"), fullPage: true });
    // B3: one tap pre-fills the shipment from the customer; requesting it syncs.
    await page.click("[data-testid=brief] .actions button");
    await page.waitForSelector("[data-testid=form-shipment]");
    expect(await page.inputValue("input[name=recipient_name]")).toBe("Dr. Zhou");
    expect(await page.inputValue("textarea[name=recipient_address]")).toBe("197 Ruijin Er Rd, Shanghai");
    await page.fill("[data-testid=add-item]", "XK-200 bone screw");
    await page.click("[data-testid=add-item] + button");
    await page.screenshot({ path: join(ARTEFACTS, "shipment-zh.png"), fullPage: true });
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    // B4: the demo's alert, acknowledged.
    await page.goto(origin + "/#/alerts");
    await page.waitForSelector("[data-testid=alert] button");
    // Worded in Chinese by the app from each alert's kind and facts (Alert.params), not the server's English title and body.
    const alertTexts = await page.locator("[data-testid=alert]").evaluateAll((ls) => ls.map((l) => [
      l.getAttribute("data-kind"), l.querySelector("[data-testid=alert-title]")?.textContent ?? "", l.querySelector("[data-testid=alert-body]")?.textContent ?? "",
    ]));
    expect(alertTexts.length).toBeGreaterThan(0);
    for (const [kind, title, body] of alertTexts) {
      expect(title, `alert of kind ${kind}`).toMatch(/[\u4e00-\u9fff]/);
      expect(`${title} ${body}`, `alert of kind ${kind}`).not.toMatch(/Replenish|Rebate rule|Conflicting|on hand|Open a quote|\{\w+\}/);
    }
    console.log("the rep's alerts in Chinese:", JSON.stringify(alertTexts));
    await page.click("[data-testid=alert] button");
    await page.waitForSelector("[data-testid=alert] .tag.ok");
    await settled(page);
    expect((await page.getAttribute("[data-testid=syncbar]", "class"))).toContain("up");
    expect(await showsChinese(page, "[data-testid=alert] .muted")).toBe(true); // the kind and how long ago, in Chinese
    expect(await rawText(page)).toEqual([]);
    await page.screenshot({ path: join(ARTEFACTS, "alerts-zh.png"), fullPage: true });
    await page.goto(origin + "/#/sync");
    await page.waitForSelector("[data-testid=conflicts]", { state: "attached" });
    expect(await page.textContent("main")).not.toContain("被服务器拒绝的修改 "); // the heading only: nothing refused
    expect(await rawText(page)).toEqual([]);
    await page.screenshot({ path: join(ARTEFACTS, "sync-zh.png"), fullPage: true });
    await context.close();
  }, 180_000);

  it("store staff: a diagnosis with photos, a quote citing one with its 7 technical fields", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-US" });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, user("store_staff").user_id);
    await settled(page);
    await page.goto(origin + "/#/new");
    await page.click("[data-form=diagnosis]");
    await page.waitForSelector("[data-testid=form-diagnosis] option[value=demo-huang]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huang");
    await page.fill("input[name=vehicle_model]", "BYD Han");
    await page.fill("textarea[name=conclusion]", "worn front pads");
    await page.setInputFiles("input[data-slot=photos]", [
      { name: "a.jpg", mimeType: "image/jpeg", buffer: jpeg(20_000, 11) },
      { name: "b.jpg", mimeType: "image/jpeg", buffer: jpeg(21_000, 12) },
    ]);
    await page.waitForFunction(() => document.querySelector("[data-testid=form-diagnosis]")?.textContent?.includes("(2)"));
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await page.goto(origin + "/#/new");
    await page.click("[data-form=quote]");
    await page.waitForSelector("[data-testid=form-quote] option[value=demo-huang]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huang");
    const diag = await page.locator("select[name=diagnosis_id] option").nth(1).getAttribute("value");
    await page.selectOption("select[name=diagnosis_id]", diag!);
    // Submitting without a cited photo: the SDK's message.
    await page.click("button[type=submit]");
    expect(await page.textContent("[data-testid=violations] li[data-rule='quote.diagnosis_photo_sha256s.required_on_submit']")).toBe("Diagnosis photos cited: is required to submit");
    await page.locator("[data-field=cited] input").first().check();
    const rows = page.locator("fieldset .row");
    for (let i = 0; i < 7; i++) {
      await rows.nth(i).locator("input").nth(0).fill(`param ${i + 1}`);
      if (i < 6) await rows.nth(i).locator("input").nth(1).fill(`value ${i + 1}`);
    }
    expect(await page.textContent("[data-testid=tech-count]")).toBe("6 of 7 technical fields filled");
    await rows.nth(6).locator("input").nth(1).fill("value 7");
    expect(await page.textContent("[data-testid=tech-count]")).toBe("7 of 7 technical fields filled");
    await page.fill("input[name=total]", "860");
    await page.screenshot({ path: join(ARTEFACTS, "quote.png"), fullPage: true });
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await settled(page);
    await page.goto(origin + "/#/sync");
    await page.waitForSelector("[data-testid=conflicts]", { state: "attached" });
    expect(await page.locator("main li").count()).toBe(2); // the photo queue: both diagnosis photos, nothing refused or lost
    await context.close();
  }, 180_000);

  it("a rep's offline edit that lost a merge shows what was lost, and why", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-US" });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, user("rep").user_id);
    await page.goto(origin + "/#/new");
    await page.click("[data-form=commitment]");
    await page.waitForSelector("[data-testid=form-commitment] option[value=demo-huashan]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huashan");
    await page.fill("textarea[name=description]", "quote the XK-300 price");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await settled(page);

    // The rep's other device (a laptop) has it too.
    const laptop = await Client.enroll({
      storage: await openIndexedDBStorage("laptop"), server: srv.url, enrollmentCode: await enrollmentCode(user("rep").user_id),
      deviceName: "laptop", platform: "node", transport: nodeTransport(),
    });
    await laptop.sync();
    const c = (await laptop.list(CommitmentSchema)).find((r) => r.value.description === "quote the XK-300 price")!;
    expect(c).toBeDefined();

    // Offline, the phone marks it done; later the laptop cancels it online: the later edit wins.
    await context.setOffline(true);
    await page.goto(origin + "/#/customer/demo-huashan");
    await page.click(`[data-testid=open-commitments] li[data-id="${c.id}"] [data-action=done]`);
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-outbox") === "1");
    await new Promise((r) => setTimeout(r, 20)); // the laptop's edit is the later one
    await laptop.put(c.id, create(CommitmentSchema, { state: CommitmentState.CANCELLED }), ["state"]);
    await laptop.sync();
    laptop.close();

    await context.setOffline(false);
    await page.waitForSelector("[data-testid=syncbar] a.warn", { timeout: 60_000 });
    expect(await page.textContent("[data-testid=syncbar] a.warn")).toBe("1 lost in merge");
    await page.click("[data-testid=syncbar] a.warn");
    await page.waitForSelector("[data-testid=conflicts] li");
    expect(await page.textContent("[data-testid=conflicts] li")).toContain("State: yours “Done” lost to “Cancelled” (a newer edit won)");
    await page.screenshot({ path: join(ARTEFACTS, "conflict.png"), fullPage: true });
    await context.close();
  }, 180_000);
});
