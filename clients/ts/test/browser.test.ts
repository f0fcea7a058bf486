// The SDK in a real browser: Debian's Chromium driven by playwright-core, a
// page bundled with vite, a real fieldsyncd behind a small same-origin proxy
// (fieldsyncd has no CORS support). Skipped, saying why, where there is no
// Chromium (`make test-ts` installs it with apt-get when missing).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary } from "@bufbuild/protobuf";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Client, IdentityService, PhotoState, PushRequestSchema, QueueState, SurgerySupportSchema, VisitKind, VisitSchema, type Record as WireRecord } from "../src/index.js";
import { memoryStorage } from "./helpers.js";
import { startServer, type TestServer } from "./server.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTEFACTS = resolve(import.meta.dirname, "../artefacts");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (make test-ts installs Debian's with apt-get; or set CHROMIUM)`);

/** Counts what reaches fieldsyncd through the proxy, by RPC path. */
const calls = new Map<string, number>();
let putChunkBytes = 0; // PutChunk's bodies and raw chunks
/** The (device, seq) of every mutation pushed through the proxy, as "device/seq". */
const pushed: string[] = [];
/** Holds each Push this long before forwarding it, so syncs of two tabs overlap when nothing keeps them apart. */
let pushDelayMs = 0;

/** Serves the built page from dir and forwards /fieldsync.v1.* and the raw chunk route (/photos/v1/uploads/) to the server: one origin for both. */
function proxy(dir: string, upstream: URL): Promise<Server> {
  const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
  const srv = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const raw = path.startsWith("/photos/v1/uploads/");
    if (path.startsWith("/fieldsync.v1.") || raw) {
      const key = raw ? `${req.method} /photos/v1/uploads/` : path;
      calls.set(key, (calls.get(key) ?? 0) + 1);
      if (path.endsWith("/PutChunk") || raw) req.on("data", (b: Buffer) => (putChunkBytes += b.length));
      if (path.endsWith("/Push")) return void holdPush(req, res, upstream);
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
      return;
    }
    const file = join(dir, path === "/" ? "index.html" : path);
    if (!file.startsWith(dir) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  return new Promise((done) => srv.listen(0, "127.0.0.1", () => done(srv)));
}

/** Reads a Push (binary Connect, unary), notes its mutations' seqs under the bearer token, and forwards it after pushDelayMs. */
function holdPush(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
  const body: Buffer[] = [];
  req.on("data", (b: Buffer) => body.push(b));
  req.on("end", () => {
    const all = Buffer.concat(body);
    const device = (req.headers.authorization ?? "").slice(-8);
    for (const m of fromBinary(PushRequestSchema, all).mutations) pushed.push(`${device}/${m.seq}`);
    setTimeout(() => {
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      up.end(all);
    }, pushDelayMs);
  });
}

/** An admin client of srv. */
function adminOf(srv: TestServer) {
  return createClient(AdminService, createConnectTransport({
    baseUrl: srv.url, httpVersion: "1.1",
    interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
  }));
}

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

describe.skipIf(!haveChromium)("in Chromium against fieldsyncd --demo", () => {
  let srv: TestServer;
  let web: Server;
  let out: string;

  beforeAll(async () => {
    srv = await startServer();
    out = mkdtempSync(join(tmpdir(), "fieldsync-page-"));
    const { build } = await import("vite");
    await build({ root: resolve(import.meta.dirname, "browser"), logLevel: "warn", build: { outDir: out, emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 4096 } });
    web = await proxy(out, new URL(srv.url));
    mkdirSync(ARTEFACTS, { recursive: true });
  });

  afterAll(async () => {
    await new Promise((done) => web?.close(done));
    await srv?.stop();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it("keeps a record and a photo written offline across a reload, and syncs them exactly once when online", async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
    try {
      const rep = srv.creds.users.find((u) => u.role === "rep")!;
      const origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on("console", (m) => void (m.text().includes("ERR_INTERNET_DISCONNECTED") || console.log("page:", m.text())));
      page.on("pageerror", (e) => console.log("page error:", e));
      const fs = <T>(fn: string, ...args: unknown[]) => page.evaluate(([f, a]) => (window as any).fs[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
      await page.goto(`${origin}/?token=${rep.device_token}`);
      await page.waitForFunction(() => document.title === "ready");

      // Offline: the record and its photo are written locally; a sync cannot reach the server.
      await context.setOffline(true);
      const id = await fs<string>("newId");
      const sha = await fs<string>("write", id, "stent-browser");
      expect(await fs("status")).toMatchObject({ outboxDepth: 2, photoQueue: 1, photoBytesPending: 40_000 });
      await expect(fs("sync")).rejects.toThrow(/no answer from/) // FieldsyncError "unreachable";
      await page.screenshot({ path: join(ARTEFACTS, "1-offline.png") });
      expect([...calls.keys()].filter((k) => !k.endsWith("/WhoAmI"))).toEqual([]);

      // Reload: the page comes back (served while the API stays cut) with the writes kept in IndexedDB.
      await page.route("**/fieldsync.v1.*/**", (r) => r.abort("internetdisconnected"));
      await context.setOffline(false);
      await page.reload();
      await page.waitForFunction(() => document.title === "ready");
      expect(await fs("status")).toMatchObject({ outboxDepth: 2, photoQueue: 1 });
      expect(await fs("photos")).toEqual([{ sha256: sha, state: QueueState.Queued, offset: 0, size: 40_000 }]);
      await page.screenshot({ path: join(ARTEFACTS, "2-reloaded.png") });

      // Online: one sync pushes both changes and uploads the photo; a second has nothing to send.
      await page.unroute("**/fieldsync.v1.*/**");
      const first = await fs<{ results: { outcome: string }[] }>("sync");
      expect(first.results.map((r) => r.outcome)).toEqual(["applied", "applied"]);
      expect(await fs("photos")).toEqual([{ sha256: sha, state: QueueState.Done, offset: 40_000, size: 40_000 }]);
      expect((await fs<{ sent: number }[]>("progress")).at(-1)).toMatchObject({ sha256: sha, sent: 40_000, size: 40_000, done: 1 });
      const second = await fs<{ results: unknown[] }>("sync");
      expect(second.results).toEqual([]);
      expect(await fs("status")).toMatchObject({ outboxDepth: 0, photoQueue: 0, online: true });
      await page.screenshot({ path: join(ARTEFACTS, "3-synced.png") });
      expect(calls.get("/fieldsync.v1.MediaService/CreateUpload")).toBe(1);
      expect(calls.get("/fieldsync.v1.MediaService/CompleteUpload")).toBe(1);
      // 40,000 bytes in 16 KiB chunks, each once, as raw PUTs (no protobuf envelope: exactly the photo's bytes)
      expect(calls.get("PUT /photos/v1/uploads/")).toBe(3);
      expect(calls.get("/fieldsync.v1.MediaService/PutChunk")).toBeUndefined();
      expect(putChunkBytes).toBe(40_000);

      // Another device of the user sees the record once, with the photo stored.
      const pulled: WireRecord[] = [];
      const admin = adminOf(srv);
      const { enrollmentCode } = await admin.issueEnrollmentCode({ userId: rep.user_id });
      const other = await Client.enroll({
        storage: await memoryStorage(), server: srv.url, enrollmentCode, deviceName: "laptop", platform: "node",
        transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [...interceptors, (next) => async (req) => {
          const res = await next(req);
          if (!res.stream && req.method.name === "Pull") pulled.push(...(res.message as unknown as { records: WireRecord[] }).records);
          return res;
        }] }),
      });
      await other.sync();
      const got = await other.get(SurgerySupportSchema, id);
      expect(got?.consumableModels).toEqual(["stent-browser"]);
      expect(got?.preOpPhoto?.sha256).toBe(sha);
      const rec = [...pulled].reverse().find((r) => r.id === id)!;
      expect(rec.photos.map((p) => [p.sha256, p.state])).toEqual([[sha, PhotoState.AVAILABLE]]);
      expect((await other.list(SurgerySupportSchema)).filter((r) => r.id === id)).toHaveLength(1);
      other.close();
    } finally {
      await browser.close();
    }
  }, 120_000);
  it("two tabs on one store push their offline writes exactly once and both see every record", async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      // A new device of the rep, used by both tabs of one origin (one IndexedDB store).
      const rep = srv.creds.users.find((u) => u.role === "rep")!;
      const { enrollmentCode } = await adminOf(srv).issueEnrollmentCode({ userId: rep.user_id });
      const identity = createClient(IdentityService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
      const { deviceToken } = await identity.enroll({ enrollmentCode, deviceName: "two tabs", platform: "web" });
      const device = deviceToken.slice(-8);
      const origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
      const context = await browser.newContext();
      const tabs = [await context.newPage(), await context.newPage()];
      const fs = tabs.map((page) => {
        page.on("pageerror", (e) => console.log("page error:", e));
        return <T>(fn: string, ...args: unknown[]) => page.evaluate(([f, a]) => (window as any).fs[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
      });
      for (const page of tabs) {
        await page.goto(`${origin}/?db=two-tabs&token=${deviceToken}`);
        await page.waitForFunction(() => document.title === "ready");
      }

      // Offline, both tabs write at once: 10 records each, interleaved in the one store.
      await context.setOffline(true);
      const ids = await Promise.all(fs.map(async (f, t) => {
        const mine: string[] = [];
        for (let i = 0; i < 10; i++) {
          const id = await f<string>("newId");
          await f("put", id, `tab${t}-${i}`);
          mine.push(id);
        }
        return mine;
      }));
      const all = ids.flat().sort();
      expect(new Set(all).size).toBe(20);
      for (const f of fs) expect(await f("status")).toMatchObject({ outboxDepth: 20 });

      // Online, both sync at once; each Push is held so the two syncs overlap unless the lock keeps them apart.
      await context.setOffline(false);
      pushDelayMs = 300;
      const reports = await Promise.all(fs.map((f) => f<{ results: { seq: number; outcome: string }[] }>("sync")));
      pushDelayMs = 0;

      // The server got seqs 1..20 of the device, each once, and applied each.
      const mine = pushed.filter((p) => p.startsWith(device + "/"));
      expect(mine.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${device}/${i + 1}`).sort());
      const results = reports.flatMap((r) => r.results);
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(results.every((r) => r.outcome === "applied")).toBe(true);

      // Both tabs see all 20 records, synced, and an empty outbox; a reload reads the same store.
      await tabs[1].reload();
      await tabs[1].waitForFunction(() => document.title === "ready");
      for (const f of fs) {
        expect(await f("status")).toMatchObject({ outboxDepth: 0, rejections: 0 });
        const local = (await f<{ id: string; models: string[]; pending: boolean }[]>("list")).filter((r) => all.includes(r.id));
        expect(local.map((r) => r.id).sort()).toEqual(all);
        expect(local.every((r) => !r.pending && r.models.length === 1)).toBe(true);
      }

      // Another device of the rep pulls each record once, with the value its tab wrote.
      const { enrollmentCode: code2 } = await adminOf(srv).issueEnrollmentCode({ userId: rep.user_id });
      const other = await Client.enroll({
        storage: await memoryStorage(), server: srv.url, enrollmentCode: code2, deviceName: "checker", platform: "node",
        transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors }),
      });
      await other.sync();
      const got = (await other.list(SurgerySupportSchema)).filter((r) => all.includes(r.id));
      expect(got.map((r) => r.id).sort()).toEqual(all);
      for (const [t, mineIds] of ids.entries()) {
        for (const [i, id] of mineIds.entries()) expect(got.find((r) => r.id === id)?.value.consumableModels).toEqual([`tab${t}-${i}`]);
      }
      other.close();
    } finally {
      await browser.close();
    }
  }, 120_000);
  it("stores a new device's initial sync in IndexedDB in chunks, each holding its records' bytes alone", async () => {
    // 200 visits from a device in Node; a new device of the same rep syncs them in the page, in pages of 50.
    const rep = srv.creds.users.find((u) => u.role === "rep")!;
    const enroll = async () => (await adminOf(srv).issueEnrollmentCode({ userId: rep.user_id })).enrollmentCode;
    const writer = await Client.enroll({
      storage: await memoryStorage(), server: srv.url, enrollmentCode: await enroll(), deviceName: "writer", platform: "node",
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors }),
    });
    for (let i = 0; i < 200; i++) await writer.put(writer.newId(), create(VisitSchema, { customerId: `hospital-${i % 7}`, kind: VisitKind.ROUTINE, notes: `visit ${i}` }));
    await writer.sync();
    const held = (await writer.list(VisitSchema)).length;
    writer.close();
    const identity = createClient(IdentityService, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
    const { deviceToken } = await identity.enroll({ enrollmentCode: await enroll(), deviceName: "smoke", platform: "web" });

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => console.log("page error:", e));
      const fs = <T>(fn: string, ...args: unknown[]) => page.evaluate(([f, a]) => (window as any).fs[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
      await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/?db=smoke&pullLimit=50&token=${deviceToken}`);
      await page.waitForFunction(() => document.title === "ready");
      const report = await fs<{ pulled: number }>("sync");
      const stats = await fs<{ rows: number; buffers: number; exact: boolean }>("rows");
      expect(report.pulled).toBeGreaterThanOrEqual(200);
      expect(stats.rows).toBe(report.pulled);
      expect(stats.rows).toBeGreaterThanOrEqual(held);
      // Each stored chunk's buffer holds its rows' bytes and nothing else (not a pulled page's response).
      expect(stats.exact).toBe(true);
      expect(stats.buffers).toBeLessThan(stats.rows / 10); // chunks of rows (one or more per type), not a value per row
    } finally {
      await browser.close();
    }
  }, 120_000);
});
