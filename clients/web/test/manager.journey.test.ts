// Journey 4 (issue 14) in a real browser: Debian's Chromium driven by
// playwright-core against a real fieldsyncd --demo. Two reps push visits
// through the SDK (one on time and three late for Li Wei, one on time for
// Zhang Min) and Li Wei an operation log, so the region has real PHI today.
// PHI days are commit days, so a three-day fall cannot be made of real
// records in a test, and the A3 sweep runs every 10 minutes: the managera3
// fixture writes the region's three earlier days and, later, creates the
// director's short grant and runs the real sweep (see its doc). The
// director opens PHI, sees the region falling, drills into the rep, opens
// A3, reads the rep's operation log under the grant; after the grant's
// expiry the log is closed and the admin's audit lists the read; then the
// admin screens (enrollment QR, the insights configuration refused on the
// page and by the server). Journey 2: A1 in the store manager's inbox with
// both photos side by side, A6 with the shared photo, A2 with both prices.
import "fake-indexeddb/auto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Client, DiagnosisSchema, DeviceOperationLogSchema, OperationKind, openIndexedDBStorage, QueueState, RecordStatus, VisitKind, VisitSchema } from "@fieldsync/client";
import { nodeTransport } from "@fieldsync/client/node";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawText } from "./journey-lib.js";
import { goBuild, startServer, type TestServer } from "./server.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ROOT = resolve(import.meta.dirname, "..");
const DIST = join(ROOT, "dist");
const ARTEFACTS = join(ROOT, "artefacts");
const haveChromium = existsSync(CHROMIUM);
const GRANT_SECONDS = 40;

describe.skipIf(!haveChromium)("journey 4: a director's PHI drill-down and A3 intervention in Chromium against fieldsyncd --demo", () => {
  let srv: TestServer;
  let origin: string;
  let browser: Browser;
  let fixture: string;

  const user = (role: string) => srv.creds.users.find((u) => u.role === role)!;
  const rpc = async (token: string, method: string, body: object) => {
    const res = await fetch(`${srv.url}/fieldsync.v1.${method}`, {
      method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const enrollmentCode = async (userId: string) => ((await rpc(srv.creds.admin_token, "AdminService/IssueEnrollmentCode", { userId })).body.enrollmentCode as string);
  const enrollOnPage = async (page: Page, userId: string) => {
    await page.goto(origin + "/");
    await page.fill("input[name=code]", await enrollmentCode(userId));
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=today]");
  };
  /** A rep's device in Node (the SDK), enrolled with a fresh code. */
  const repDevice = async (userId: string, name: string) => Client.enroll({
    storage: await openIndexedDBStorage(name), server: srv.url, enrollmentCode: await enrollmentCode(userId), deviceName: name, platform: "node", transport: nodeTransport(),
  });
  const runFixture = (args: string[]) => execFileSync(fixture, [
    "--db", join(srv.dir, "data", "fieldsync.db"), "--tenant", srv.creds.tenant_id, ...args,
  ], { encoding: "utf8" });

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) execFileSync("npx", ["vite", "build"], { cwd: ROOT, stdio: "inherit" });
    srv = await startServer(); // builds fieldsyncd with dist/ embedded: the app is served as in production, with its CSP
    fixture = join(srv.dir, "managera3");
    goBuild(fixture, "./clients/web/test/managera3");
    origin = srv.url;
    mkdirSync(ARTEFACTS, { recursive: true });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  it("opens PHI, drills into the falling region's rep, reads an operation log under the A3 grant; after expiry the log is closed and the audit lists the read", async () => {
    const director = user("regional_director");
    const [li, zhang] = srv.creds.users.filter((u) => u.role === "rep");
    const regionId = ((await rpc(director.device_token, "IdentityService/WhoAmI", {})).body.regionId as string);
    expect(regionId).toBeTruthy();

    // Real PHI today: Li Wei one visit on time and three late (abnormal), Zhang Min one on time; Li Wei's operation log.
    const now = Date.now();
    const visit = (customerId: string, at: number, notes: string) => create(VisitSchema, {
      status: RecordStatus.SUBMITTED, customerId, visitTime: timestampFromMs(at), kind: VisitKind.ROUTINE, notes,
    });
    const liDev = await repDevice(li.user_id, "li");
    await liDev.put(liDev.newId(), visit("demo-ruijin", now, "on time"));
    for (const i of [1, 2, 3]) await liDev.put(liDev.newId(), visit("demo-huashan", now - (48 + i) * 3600_000, `late ${i}`));
    await liDev.put(liDev.newId(), create(DeviceOperationLogSchema, {
      formRecordType: "fieldsync.v1.Visit", entries: [{ kind: OperationKind.REQUIRED_SKIPPED, field: "core_problem_solved", count: 2, time: timestampFromMs(now) }],
    }));
    const zhangDev = await repDevice(zhang.user_id, "zhang");
    await zhangDev.put(zhangDev.newId(), visit("demo-zhongshan", now, "on time"));
    for (const d of [liDev, zhangDev]) {
      await d.sync();
      expect((await d.status()).outboxDepth).toBe(0);
      expect(await d.rejections()).toEqual([]);
      d.close();
    }
    // The insights consumer reads the change stream: wait until today's region PHI counts all five visits.
    for (;;) {
      const res = await rpc(director.device_token, "DashboardService/GetPhiDrilldown", { scopeKind: "SCOPE_KIND_REGION", scopeId: regionId });
      expect(res.status).toBe(200);
      const days = ((res.body.parent as { days?: { eventCount?: string; hasKeyAction?: boolean }[] }).days ?? []);
      if (days.some((d) => d.hasKeyAction && Number(d.eventCount) >= 5)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    runFixture(["--history", "--region", regionId]);

    // The director (in Chinese) opens PHI: their region, falling, with its reps below; drills into Li Wei.
    const context = await browser.newContext({ viewport: { width: 1000, height: 1100 }, locale: "zh-CN" });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    await enrollOnPage(page, director.user_id);
    await page.goto(origin + "/#/manager");
    await page.waitForSelector(`[data-testid=phi][data-level=region][data-id="${regionId}"] [data-testid=phi-children]`);
    expect(await page.locator("[data-testid=phi-index-chart] canvas").count()).toBeGreaterThan(0); // uPlot drew
    expect(await page.locator("[data-testid=phi-table] tbody tr").count()).toBe(4); // three earlier days and today
    expect(await page.textContent("[data-testid=phi-falling]")).toBe("下滑");
    expect(await page.textContent("[data-testid=phi] h1")).toContain("大区");
    expect(await rawText(page)).toEqual([]); // the table's and range's dates in Chinese, not 2026-12-01
    const liRow = page.locator("[data-testid=phi-child]", { hasText: li.name });
    await expect.poll(() => liRow.count()).toBe(1);
    expect(await page.locator("[data-testid=phi-child]", { hasText: zhang.name }).count()).toBe(1);
    await page.screenshot({ path: join(ARTEFACTS, "manager-phi-region.png"), fullPage: true });
    await liRow.locator("a").click();
    await page.waitForSelector(`[data-testid=phi][data-level=rep][data-id="${li.user_id}"] [data-testid=phi-table]`);
    expect(await page.textContent("[data-testid=phi] h1")).toContain(li.name);
    expect(await rawText(page)).toEqual([]);

    // A3: the real sweep raises the intervention over today's abnormal records, under a short grant.
    const grant = JSON.parse(runFixture(["--region", regionId, "--director", director.user_id, "--rep", li.user_id, "--grant", `${GRANT_SECONDS}s`])) as { grant_id: string; expire_ms: number };
    await page.goto(origin + "/#/manager/a3");
    await page.reload(); // the alert was written outside the daemon: the next open pulls it
    await page.waitForSelector("[data-testid=a3-alert] [data-testid=cited-record]", { timeout: 60_000 });
    expect(await page.locator("[data-testid=a3-alert] [data-testid=cited-record]").count()).toBe(3);
    await page.waitForSelector(`[data-testid=grant][data-subject="${li.user_id}"] [data-testid=grant-expiry]`);
    await expect.poll(() => page.textContent(`[data-testid=grant][data-subject="${li.user_id}"] b`)).toContain(li.name);
    await page.click(`[data-testid=grant][data-subject="${li.user_id}"] [data-testid=read-logs]`);
    await page.waitForSelector("[data-testid=oplog]");
    expect(await page.textContent("[data-testid=oplog]")).toContain("本次解决的核心问题"); // the skipped field, in words
    expect(await page.textContent("[data-testid=oplog]")).toContain("跳过必填项");
    expect(await page.textContent("[data-testid=a3-alert]")).toContain("管理介入");
    expect(await page.textContent("[data-testid=grant-expiry]")).toMatch(/有效至 \d+月\d+日 \d\d:\d\d（\d+(秒|分钟|小时)后）/);
    expect(await rawText(page)).toEqual([]); // the cited records' fields and values in words, no ALERT_KIND_ or ISO time
    await page.screenshot({ path: join(ARTEFACTS, "manager-a3-grant.png"), fullPage: true });

    // While the grant lasts: the inbox has the alert, its detail the three records; acknowledging syncs.
    await page.goto(origin + "/#/manager/alerts");
    await page.click("[data-testid=mgr-alert][data-kind='3'] a");
    await page.waitForSelector("[data-testid=alert-detail] [data-testid=cited-record]");
    expect(await page.locator("[data-testid=alert-detail] [data-testid=cited-record]").count()).toBe(3);
    expect(await page.textContent("[data-testid=alert-detail] [data-testid=cited-record]")).toContain("拜访时间");
    expect(await rawText(page)).toEqual([]);
    await page.click("[data-testid=alert-detail] button");
    await page.waitForFunction(() => document.querySelector("[data-testid=syncbar]")?.getAttribute("data-outbox") === "0" &&
      !!document.querySelector("[data-testid=alert-detail] .tag.ok"), undefined, { timeout: 60_000 });
    // The fleet: the reps' devices with their names.
    await page.goto(origin + "/#/manager/fleet");
    await page.waitForSelector("[data-testid=device]");
    await expect.poll(() => page.textContent("[data-testid=fleet] tbody")).toContain(li.name);
    // Every device named by its user's name (the server's), store staff and managers too, never an id; Li Wei's
    // device synced once (its SDK's first sync) and shows when, not "never"; no raw text on the screen.
    const people = new Set(srv.creds.users.map((u) => u.name));
    for (const who of await page.locator("[data-testid=device-user]").allTextContents()) expect(people, `fleet shows user "${who}"`).toContain(who);
    const liRowFleet = page.locator("[data-testid=device]", { hasText: li.name }).filter({ hasText: "node" }); // the SDK device above, not the demo's
    expect(await liRowFleet.count()).toBe(1);
    expect(await liRowFleet.locator("[data-testid=device-last-sync]").textContent()).toMatch(/刚刚|\d+分钟前/);
    expect(await page.locator("[data-testid=device-last-sync]", { hasText: "从未" }).count()).toBeLessThan(await page.locator("[data-testid=device]").count());
    expect(await rawText(page)).toEqual([]);
    // This browser's own device (platform web) reports the app's version with each sync.
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    expect(await page.locator("[data-testid=device]", { hasText: "web" }).first().textContent()).toContain(version);
    await page.screenshot({ path: join(ARTEFACTS, "manager-fleet.png"), fullPage: true });

    // After the grant's expiry: no grant in force, the log is closed (on screen and at the server).
    await new Promise((r) => setTimeout(r, Math.max(0, grant.expire_ms - Date.now()) + 1000));
    await page.reload();
    await page.goto(origin + "/#/manager/a3");
    await page.waitForSelector("[data-testid=no-grant]").catch(async (e) => {
      console.log("A3 screen after expiry:", page.url(), await page.textContent("body"));
      throw e;
    });
    expect(await page.locator("[data-testid=oplog]").count()).toBe(0);
    const denied = await rpc(director.device_token, "InsightsService/ListOperationLogs", { repUserId: li.user_id });
    expect(denied.status).toBe(403);
    await page.screenshot({ path: join(ARTEFACTS, "manager-a3-expired.png"), fullPage: true });

    // The admin's A3 screen lists the read in the audit.
    const admin = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
    const adminPage = await admin.newPage();
    await enrollOnPage(adminPage, user("admin").user_id);
    await adminPage.goto(origin + "/#/manager/a3");
    await adminPage.waitForSelector("[data-testid=audit-entry]");
    expect(await adminPage.getAttribute("[data-testid=audit-entry]", "data-grant")).toBe(grant.grant_id);
    await expect.poll(async () => adminPage.textContent("[data-testid=audit-entry]")).toContain(li.name);
    expect(await adminPage.textContent("[data-testid=audit-entry]")).toContain("1 logs");
    await adminPage.screenshot({ path: join(ARTEFACTS, "journey4-audit.png"), fullPage: true });

    // The admin screens: an enrollment code with its QR; the insights configuration refuses invalid values, the server's message shown.
    await adminPage.goto(origin + "/#/manager/admin");
    await adminPage.locator("[data-testid=users] tr", { hasText: zhang.name }).locator("button").click();
    await adminPage.waitForSelector("[data-testid=enroll-code] .qr svg");
    const form = adminPage.locator("[data-testid=config-form]");
    await form.locator("input[name='phi.targets.quality']").fill("1.5");
    expect(await form.locator("button").isDisabled()).toBe(true); // refused before it is sent
    await form.locator("input[name='phi.targets.quality']").fill("0.85");
    await form.locator("input[name='rules.grant_duration']").fill("0h0m0s"); // well-formed, but the server wants it positive
    await form.locator("button").click();
    await expect.poll(() => adminPage.textContent("[data-testid=config-msg]")).toContain("rule windows must be positive");
    await form.locator("input[name='rules.grant_duration']").fill("48h");
    await form.locator("button").click();
    await expect.poll(() => adminPage.textContent("[data-testid=config-msg]")).toBe("Saved.");
    const cfg = JSON.parse((await rpc(srv.creds.admin_token, "AdminService/GetInsightsConfig", {})).body.configJson as string);
    expect([cfg.phi.targets.quality, cfg.rules.grant_duration]).toEqual([0.85, "48h0m0s"]);
    await adminPage.screenshot({ path: join(ARTEFACTS, "manager-admin.png"), fullPage: true });
    await admin.close();
    await context.close();
  }, 300_000);

  it("journey 2: two diagnoses with different conclusions for one customer from two staff devices → the store manager's inbox shows A1 with both photos side by side; A6 with the shared photo; A2 with both prices", async () => {
    const staff = user("store_staff");
    const conclusions = ["front brake pads worn out", "brake discs warped"];
    const context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.log("page error:", e));
    // Two real JPEGs (drawn by Chromium), so the screenshot shows them.
    const photos = await page.evaluate((colors) => colors.map((c, i) => {
      const canvas = document.createElement("canvas");
      canvas.width = 240;
      canvas.height = 180;
      const g = canvas.getContext("2d")!;
      g.fillStyle = c;
      g.fillRect(0, 0, 240, 180);
      g.fillStyle = "#fff";
      g.font = "28px sans-serif";
      g.fillText(`photo ${i + 1}`, 60, 100);
      return canvas.toDataURL("image/jpeg", 0.8).split(",")[1];
    }), ["#8a3324", "#1f4e79"]);
    // Two devices diagnose Mr. Huang's car differently (A1); the second device also reuses the first photo for Ms. Lin (A6).
    const diagnoses = [
      { device: 0, customerId: "demo-huang", conclusion: conclusions[0], photo: 0 },
      { device: 1, customerId: "demo-huang", conclusion: conclusions[1], photo: 1 },
      { device: 1, customerId: "demo-lin", conclusion: "battery coolant leak", photo: 0 },
    ];
    for (const [i, { device, customerId, conclusion, photo }] of diagnoses.entries()) {
      const d = await repDevice(staff.user_id, `staff-${device}-${i}`);
      const id = d.newId();
      await d.addPhoto(DiagnosisSchema.typeName, id, "photos", Buffer.from(photos[photo], "base64"));
      await d.put(id, create(DiagnosisSchema, { status: RecordStatus.SUBMITTED, customerId, conclusion, faultSymptoms: "squeal when braking" }),
        ["status", "customer_id", "conclusion", "fault_symptoms"]);
      await d.sync();
      expect((await d.status()).outboxDepth).toBe(0);
      expect(await d.rejections()).toEqual([]);
      expect((await d.photos()).filter((p) => p.state !== QueueState.Done)).toEqual([]);
      d.close();
    }

    await enrollOnPage(page, user("store_manager").user_id);
    await page.goto(origin + "/#/manager/alerts");
    await page.waitForSelector("[data-testid=mgr-alert][data-kind='1'] a", { timeout: 60_000 });
    await page.click("[data-testid=mgr-alert][data-kind='1'] a");
    await page.waitForSelector("[data-testid=alert-detail] [data-testid=cited] [data-testid=cited-record]");
    const cards = page.locator("[data-testid=cited] [data-testid=cited-record]");
    expect(await cards.count()).toBe(2);
    expect((await cards.allTextContents()).map((t) => conclusions.find((c) => t.includes(c))).sort()).toEqual([...conclusions].sort());
    // Side by side: the two cards share a row.
    const [a, b] = [await cards.nth(0).boundingBox(), await cards.nth(1).boundingBox()];
    expect(a!.y).toBe(b!.y);
    // Each with its photo, fetched through GetMediaURL.
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>("[data-testid=cited] img[data-testid=cited-photo]")].filter((i) => i.complete && i.naturalWidth === 240).length === 2,
      undefined, { timeout: 30_000 });
    const srcs = await page.$$eval("[data-testid=cited] img", (imgs) => imgs.map((i) => (i as HTMLImageElement).src));
    expect(new Set(srcs).size).toBe(2);
    for (const src of srcs) expect((await fetch(src)).status, src).toBe(200); // the media link itself carries the permission
    await page.screenshot({ path: join(ARTEFACTS, "journey2-a1.png"), fullPage: true });

    // A6 in the same inbox: both records with the shared photo marked.
    await page.goto(origin + "/#/manager/alerts");
    await page.click("[data-testid=mgr-alert][data-kind='6'] a", { timeout: 60_000 });
    await page.waitForSelector("[data-testid=cited] [data-testid=cited-record]");
    expect(await page.locator("[data-testid=cited] [data-testid=cited-record]").count()).toBe(2);
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=cited] figure.shared img[data-testid=cited-photo]").length === 2, undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(ARTEFACTS, "manager-a6.png"), fullPage: true });

    // The store manager's PHI: their store, its people one level down, each a drill-down.
    await page.goto(origin + "/#/manager/phi");
    await page.waitForSelector("[data-testid=phi][data-level=store] [data-testid=phi-children]");
    const staffRow = page.locator("[data-testid=phi-child]", { hasText: staff.name });
    await expect.poll(() => staffRow.count()).toBe(1);
    await staffRow.locator("a").click();
    await page.waitForSelector(`[data-testid=phi][data-level=rep][data-id="${staff.user_id}"] [data-testid=phi-table]`);
    await page.screenshot({ path: join(ARTEFACTS, "manager-phi-store-person.png"), fullPage: true });
    await context.close();

    // A2 in the same inbox: the demo's stock below safety stock, historical purchase price beside agreement price.
    const repContext = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const repPage = await repContext.newPage();
    await enrollOnPage(repPage, srv.creds.users.find((u) => u.role === "rep")!.user_id);
    await repPage.goto(origin + "/#/manager/alerts");
    await repPage.click("[data-testid=mgr-alert][data-kind='2'] a", { timeout: 60_000 });
    await repPage.waitForSelector("[data-testid=stock] tbody tr");
    const cny = (n: number) => new Intl.NumberFormat("en", { style: "currency", currency: "CNY" }).format(n);
    await expect.poll(async () => repPage.locator("[data-testid=stock] tbody td").nth(1).textContent()).toBe("Ruijin Hospital"); // the terminal by its name
    expect(await repPage.locator("[data-testid=stock] tbody td").allTextContents()).toEqual(["XK-200 bone screw", "Ruijin Hospital", "12", "20", cny(1280), cny(1190)]);
    expect(await rawText(repPage)).toEqual([]);
    await repPage.screenshot({ path: join(ARTEFACTS, "manager-a2.png"), fullPage: true });
    await repContext.close();
  }, 180_000);
});
