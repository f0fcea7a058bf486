// The web app served by fieldsyncd itself (the dist/ that `npm test` built,
// embedded by go build), in Debian's Chromium: its headers (CSP, caching,
// gzip), journey 1 on the server's own origin (the service worker's scope
// and the strict CSP exercised for real: no violation), journey 3 (a rep's
// offline edit of a commitment against the regional director's online one:
// the rep sees which value won and what was lost), and a smoke of the open
// measurement `npm run bench` throttles. Skipped where there is no Chromium.
import "fake-indexeddb/auto";
import { create } from "@bufbuild/protobuf";
import {
  Client, CommitmentSchema, CommitmentState, openIndexedDBStorage, PhotoState, SurgerySupportSchema, VisitSchema, type Record as WireRecord,
} from "@fieldsync/client";
import { nodeTransport } from "@fieldsync/client/node";
import { createConnectTransport } from "@connectrpc/connect-node";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlled, demoUser, enrollmentCode, enrollOnPage, haveChromium, launchChromium, settled } from "./journey-lib.js";
import { measureOpen, throttle } from "./perf.js";
import { jpeg } from "./photos.js";
import { startServer, type TestServer } from "./server.js";

const ROOT = resolve(import.meta.dirname, "..");
const ARTEFACTS = join(ROOT, "artefacts");

/** Collects the page's CSP violations (securitypolicyviolation events, before any of its scripts). */
function watchCSP(): void {
  const w = window as unknown as { __csp: string[] };
  w.__csp = [];
  addEventListener("securitypolicyviolation", (e: SecurityPolicyViolationEvent) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`), true);
}
const violations = (page: Page) => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);

describe.skipIf(!haveChromium)("the web app served by fieldsyncd, in Chromium", () => {
  let srv: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, "dist", "index.html"))) execFileSync("npx", ["vite", "build"], { cwd: ROOT, stdio: "inherit" });
    srv = await startServer(); // go build embeds dist/
    mkdirSync(ARTEFACTS, { recursive: true });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const newContext = async (locale = "en-US"): Promise<BrowserContext> => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, locale });
    await context.addInitScript(watchCSP);
    return context;
  };

  it("answers the app with its CSP, revalidated pages and immutable, gzipped assets", async () => {
    const page = await fetch(srv.url + "/", { headers: { "accept-encoding": "gzip" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self';");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const html = await page.text();
    const asset = /href="\.\/(assets\/sdk-[\w-]+\.js)"/.exec(html)?.[1]; // one the page preloads, over the server's 1 KB gzip floor
    expect(asset).toBeDefined();
    const js = await fetch(`${srv.url}/${asset}`, { headers: { "accept-encoding": "gzip" } });
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    const sw = await fetch(srv.url + "/sw.js");
    expect(sw.headers.get("cache-control")).toBe("no-cache");
    expect(sw.headers.get("content-type")).toContain("text/javascript");
  });

  it("journey 1 on fieldsyncd's origin: enroll, a surgery support with three photos and a visit offline, reopened offline, both arrive once online", async () => {
    const context = await newContext();
    let page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, srv, srv.url, demoUser(srv, "rep").user_id);
    await controlled(page);
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.scope)).toBe(srv.url + "/");
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-online") === "true");

    await context.setOffline(true);
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=surgery]");
    await page.waitForSelector("[data-testid=form-surgery] option[value=demo-ruijin]", { state: "attached" });
    await page.selectOption("select[name=hospital_id]", "demo-ruijin");
    await page.fill("[data-testid=add-item]", "origin-stent");
    await page.click("[data-testid=add-item] + button");
    await page.fill("textarea[name=usage_feedback]", "served by fieldsyncd");
    for (const [i, slot] of ["pre_op_photo", "intra_op_photo", "post_op_count_photo"].entries()) {
      await page.setInputFiles(`input[data-slot=${slot}]`, { name: `${slot}.jpg`, mimeType: "image/jpeg", buffer: jpeg(25_000 + i * 1000, 40 + i) });
      await page.waitForSelector(`label.photo.ok[data-slot=${slot}]`);
    }
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=visit]");
    await page.waitForSelector("[data-testid=form-visit] option[value=demo-ruijin]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-ruijin");
    await page.fill("textarea[name=notes]", "origin visit");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    expect(await page.getAttribute("[data-testid=syncbar]", "data-photos")).toBe("3");

    // Killed and opened again, offline: the worker serves the app from fieldsyncd's origin.
    await page.close();
    page = await context.newPage();
    await page.goto(srv.url + "/");
    await page.waitForSelector("[data-testid=today]");
    expect(await page.getAttribute("[data-testid=syncbar]", "data-photos")).toBe("3");

    await context.setOffline(false);
    await page.waitForFunction(() => {
      const b = document.querySelector("[data-testid=syncbar]");
      return b?.getAttribute("data-outbox") === "0" && b.getAttribute("data-photos") === "0";
    }, undefined, { timeout: 90_000 });
    await page.waitForSelector("[data-testid=recent-surgery] .tag.ok", { timeout: 60_000 });
    expect(await violations(page)).toEqual([]);
    await page.screenshot({ path: join(ARTEFACTS, "origin-journey1-synced.png"), fullPage: true });

    // Another device of the rep: each record once, the three photos AVAILABLE, photos_complete.
    const pulled: WireRecord[] = [];
    const other = await Client.enroll({
      storage: await openIndexedDBStorage("origin-journey-check"), server: srv.url, enrollmentCode: await enrollmentCode(srv, demoUser(srv, "rep").user_id),
      deviceName: "check", platform: "node",
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [...interceptors, (next) => async (req) => {
        const res = await next(req);
        if (!res.stream && req.method.name === "Pull") pulled.push(...(res.message as unknown as { records: WireRecord[] }).records);
        return res;
      }] }),
    });
    await other.sync();
    const surgeries = (await other.list(SurgerySupportSchema)).filter((r) => r.value.consumableModels.includes("origin-stent"));
    expect(surgeries).toHaveLength(1);
    expect(surgeries[0].value).toMatchObject({ usageFeedback: "served by fieldsyncd", photosComplete: true });
    const wire = pulled.filter((r) => r.id === surgeries[0].id).at(-1)!;
    expect(wire.photos.map((p) => p.state)).toEqual([PhotoState.AVAILABLE, PhotoState.AVAILABLE, PhotoState.AVAILABLE]);
    expect((await other.list(VisitSchema)).filter((r) => r.value.notes === "origin visit")).toHaveLength(1);
    other.close();
    await context.close();
  }, 240_000);

  it("journey 3: a rep's offline edit of a commitment loses to the regional director's later online edit; the rep's screen shows which value won and what was lost", async () => {
    const context = await newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, srv, srv.url, demoUser(srv, "rep").user_id);
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=commitment]");
    await page.waitForSelector("[data-testid=form-commitment] option[value=demo-huashan]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huashan");
    await page.fill("textarea[name=description]", "deliver the XK-300 demo kit");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await settled(page);

    // The rep's regional director (who may edit the region's records), on the managers' side, online.
    const director = await Client.enroll({
      storage: await openIndexedDBStorage("origin-director"), server: srv.url, enrollmentCode: await enrollmentCode(srv, demoUser(srv, "regional_director").user_id),
      deviceName: "director's laptop", platform: "node", transport: nodeTransport(),
    });
    // The sync bar may read "0 to send" for a moment before the saved commitment reaches the
    // outbox, so the director syncs until it has arrived (30 s at most).
    let c: Awaited<ReturnType<typeof director.list<typeof CommitmentSchema>>>[number] | undefined;
    for (const until = Date.now() + 30_000; !c && Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
      await director.sync();
      c = (await director.list(CommitmentSchema)).find((r) => r.value.description === "deliver the XK-300 demo kit");
    }
    expect(c).toBeDefined();

    // Offline, the rep marks it done; then the director, online, cancels it and says why.
    await context.setOffline(true);
    await page.goto(srv.url + "/#/customer/demo-huashan");
    await page.click(`[data-testid=open-commitments] li[data-id="${c!.id}"] [data-action=done]`);
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-outbox") === "1");
    await new Promise((r) => setTimeout(r, 20)); // the director's edit is the later one
    await director.put(c!.id, create(CommitmentSchema, { state: CommitmentState.CANCELLED, description: "deliver the XK-300 demo kit — cancelled: the customer postponed" }), ["state", "description"]);
    await director.sync();
    director.close();

    // Online again: the rep's device syncs, the bar says an edit lost, the Sync tab says which value won and what was lost.
    await context.setOffline(false);
    await page.waitForSelector("[data-testid=syncbar] a.warn", { timeout: 60_000 });
    expect(await page.textContent("[data-testid=syncbar] a.warn")).toBe("1 lost in merge");
    await page.click("[data-testid=syncbar] a.warn");
    await page.waitForSelector("[data-testid=conflicts] li");
    const line = await page.textContent("[data-testid=conflicts] li");
    expect(await page.getAttribute("[data-testid=conflicts] li [data-record]", "data-record")).toBe(c!.id);
    expect(line).toContain("State: yours “Done” lost to “Cancelled” (a newer edit won)");
    await page.screenshot({ path: join(ARTEFACTS, "origin-journey3-conflict.png"), fullPage: true });
    // The customer's brief shows the winning value: no longer an open commitment.
    await page.goto(srv.url + "/#/customer/demo-huashan");
    await page.waitForSelector("[data-testid=brief]");
    expect(await page.locator(`[data-testid=open-commitments] li[data-id="${c!.id}"]`).count()).toBe(0);
    expect(await violations(page)).toEqual([]);
    // The watch sees what the CSP refuses: an inline script.
    await page.evaluate(() => document.head.append(Object.assign(document.createElement("script"), { textContent: "window.inlineRan = true" })));
    await page.waitForFunction(() => (window as unknown as { __csp: string[] }).__csp.length > 0);
    expect(await page.evaluate(() => (window as unknown as { inlineRan?: boolean }).inlineRan)).toBeUndefined();
    await context.close();
  }, 180_000);

  it("a revoked device: the rep is told, keeps a copy of the unsent change, and enrolls again only after confirming what is lost", async () => {
    const context = await newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, srv, srv.url, demoUser(srv, "rep").user_id);
    await settled(page);
    await page.waitForFunction(() => JSON.parse(localStorage.getItem("fieldsync.profile") ?? "null")?.deviceId);
    const deviceId = await page.evaluate(() => JSON.parse(localStorage.getItem("fieldsync.profile")!).deviceId as string);

    // Offline, a commitment waits to be sent; meanwhile the admin revokes the device.
    await context.setOffline(true);
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=commitment]");
    await page.waitForSelector("[data-testid=form-commitment] option[value=demo-huashan]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huashan");
    await page.fill("textarea[name=description]", "written on a revoked phone");
    await page.click("button[type=submit]");
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-outbox") === "1");
    const res = await fetch(`${srv.url}/fieldsync.v1.AdminService/RevokeDevice`, {
      method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${srv.creds.admin_token}` }, body: JSON.stringify({ deviceId }),
    });
    expect(res.status).toBe(200);

    // Online: the server refuses the token; the app says so and what is still on the device.
    await context.setOffline(false);
    await page.waitForSelector("[data-testid=revoked][data-state=known]", { timeout: 60_000 });
    expect(await page.getAttribute("[data-testid=revoked]", "data-unsent")).toBe("1");
    expect(await page.textContent("[data-testid=revoked]")).toContain("1 changes and 0 photos were not sent");
    await page.screenshot({ path: join(ARTEFACTS, "origin-revoked.png"), fullPage: true });
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-action=save-unsent]")]);
    const saved = JSON.parse(await (await download.createReadStream()).toArray().then((b) => Buffer.concat(b).toString()));
    expect(saved.deviceId).toBe(deviceId);
    expect(saved.changes).toHaveLength(1);
    expect(saved.changes[0].type).toBe("fieldsync.v1.Commitment");
    expect(Buffer.from(saved.changes[0].valueBase64, "base64").toString()).toContain("written on a revoked phone");

    // Enrolling again: refused until confirmed (the dialog names what is lost), then the Enroll screen.
    const dialogs: string[] = [];
    page.once("dialog", (d) => (dialogs.push(d.message()), void d.dismiss()));
    await page.click("[data-action=re-enroll]");
    expect(dialogs[0]).toContain("1 unsent changes");
    expect(await page.locator("[data-testid=revoked]").count()).toBe(1);
    page.once("dialog", (d) => void d.accept());
    await page.click("[data-action=re-enroll]");
    await page.waitForSelector("input[name=code]");
    await context.close();
  }, 180_000);

  it("store staff offline: the quote form shows the cited diagnosis photos as thumbnails from the device store", async () => {
    const context = await newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, srv, srv.url, demoUser(srv, "store_staff").user_id);
    await settled(page);
    await context.setOffline(true); // the photos stay in the device store
    const photo = (color: string) => page.evaluate(async (fill) => {
      const c = Object.assign(document.createElement("canvas"), { width: 160, height: 120 });
      const g = c.getContext("2d")!;
      g.fillStyle = fill;
      g.fillRect(0, 0, 160, 120);
      g.fillStyle = "#fff";
      g.fillRect(40, 30, 80, 60);
      const b = await new Promise<Blob>((r) => c.toBlob((x) => r(x!), "image/jpeg", 0.9));
      return Array.from(new Uint8Array(await b.arrayBuffer()));
    }, color);
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=diagnosis]");
    await page.waitForSelector("[data-testid=form-diagnosis] option[value=demo-huang]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huang");
    await page.fill("textarea[name=conclusion]", "cracked brake disc");
    await page.setInputFiles("input[data-slot=photos]", [
      { name: "a.jpg", mimeType: "image/jpeg", buffer: Buffer.from(await photo("#b03a2e")) },
      { name: "b.jpg", mimeType: "image/jpeg", buffer: Buffer.from(await photo("#1f618d")) },
    ]);
    await page.waitForFunction(() => document.querySelector("[data-testid=form-diagnosis]")?.textContent?.includes("(2)"));
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
    await page.goto(srv.url + "/#/new");
    await page.click("[data-form=quote]");
    await page.waitForSelector("[data-testid=form-quote] option[value=demo-huang]", { state: "attached" });
    await page.selectOption("select[name=customer_id]", "demo-huang");
    const diag = await page.locator("select[name=diagnosis_id] option", { hasText: "cracked brake disc" }).getAttribute("value");
    await page.selectOption("select[name=diagnosis_id]", diag!);
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>("[data-field=cited] img")].filter((i) => i.complete && i.naturalWidth > 0).length === 2);
    expect(await page.locator("[data-field=cited] img").evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src.slice(0, 5)))).toEqual(["blob:", "blob:"]);
    await page.locator("[data-field=cited] input").first().check();
    await page.screenshot({ path: join(ARTEFACTS, "origin-quote-thumbnails.png"), fullPage: true });
    expect(await violations(page)).toEqual([]);
    await context.close();
  }, 180_000);

  it("smoke of the budget bench: a first open's figures through a CDP session (unthrottled)", async () => {
    const context = await newContext();
    const page = await context.newPage();
    const cdp = await throttle(context, page, { cpu: 1 });
    const o = await measureOpen(page, srv.url + "/", "input[name=code]", { type: true, cdp }); // the key through CDP, typed into the input
    for (const v of [o.responseEnd, o.domContentLoaded, o.shown, o.interactive, o.keySent!, o.inputDelay! + 1]) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(o.interactive).toBeGreaterThanOrEqual(o.shown);
    expect(o.keySent).toBeGreaterThanOrEqual(o.shown);
    expect(o.transferred).toBeGreaterThan(0);
    await context.close();
  }, 60_000);
});
