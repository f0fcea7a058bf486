// The SDK in a real browser: Debian's Chromium driven by playwright-core, a
// page bundled with vite, a real fieldsyncd behind a small same-origin proxy
// (fieldsyncd has no CORS support). Skipped, saying why, where there is no
// Chromium (`make test-ts` installs it with apt-get when missing).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Client, PhotoState, QueueState, SurgerySupportSchema, type Record as WireRecord } from "../src/index.js";
import { memoryStorage } from "./helpers.js";
import { startServer, type TestServer } from "./server.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTEFACTS = resolve(import.meta.dirname, "../artefacts");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (make test-ts installs Debian's with apt-get; or set CHROMIUM)`);

/** Counts what reaches fieldsyncd through the proxy, by RPC path. */
const calls = new Map<string, number>();
let putChunkBytes = 0;

/** Serves the built page from dir and forwards /fieldsync.v1.* to the server: one origin for both. */
function proxy(dir: string, upstream: URL): Promise<Server> {
  const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
  const srv = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path.startsWith("/fieldsync.v1.")) {
      calls.set(path, (calls.get(path) ?? 0) + 1);
      if (path.endsWith("/PutChunk")) req.on("data", (b: Buffer) => (putChunkBytes += b.length));
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
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
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
      expect(calls.get("/fieldsync.v1.MediaService/PutChunk")).toBe(3); // 40,000 bytes in 16 KiB chunks, each once
      expect(putChunkBytes).toBeGreaterThan(40_000);

      // Another device of the user sees the record once, with the photo stored.
      const pulled: WireRecord[] = [];
      const admin = createClient(AdminService, createConnectTransport({
        baseUrl: srv.url, httpVersion: "1.1",
        interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
      }));
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
});
