import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Client, RecordStatus, VisitKind, VisitSchema, type ClientOptions, type StoreTx, type Visit } from "../src/index.js";
import { validate, violationText } from "../src/validate.js";
import { nodeTransport } from "../src/node.js";
import type { PullRequest } from "../src/gen/fieldsync/v1/sync_pb.js";
import { memoryStorage } from "./helpers.js";
import { startServer, type TestServer } from "./server.js";

let srv: TestServer;
const logger = { debug: (m: string, ...d: unknown[]) => console.log(m, ...d) };

beforeAll(async () => {
  srv = await startServer();
});

afterAll(async () => {
  await srv?.stop();
});

function rep() {
  const u = srv.creds.users.find((x) => x.role === "rep");
  if (!u) throw new Error("no demo rep");
  return u;
}

/** Enrolls another device of a user with a code the admin issues. */
async function enrollDevice(userId: string, opts: Partial<ClientOptions> = {}): Promise<Client> {
  const admin = createClient(AdminService, createConnectTransport({
    baseUrl: srv.url,
    interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
  }));
  const { enrollmentCode } = await admin.issueEnrollmentCode({ userId });
  return Client.enroll({ storage: await memoryStorage(), server: srv.url, enrollmentCode, deviceName: "tablet", platform: "node", transport: nodeTransport(), ...opts });
}

/** A StoreTx's methods bound to it, to override some. */
function bindAll(tx: StoreTx): StoreTx {
  const out: Record<string, unknown> = {};
  for (let o = tx; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) if (k !== "constructor" && typeof (tx as unknown as Record<string, unknown>)[k] === "function" && !(k in out)) out[k] = ((tx as unknown as Record<string, (...a: unknown[]) => unknown>)[k]).bind(tx);
  }
  return out as unknown as StoreTx;
}

describe("against fieldsyncd --demo", () => {
  it("syncs a visit made offline to the user's second device, converges after edits on both, and shows the conflict", async () => {
    const storageA = await memoryStorage();
    // Device A works offline first: no server at all.
    const offline = await Client.open({ storage: storageA });
    const id = offline.newId();
    await offline.put(id, create(VisitSchema, { kind: VisitKind.ROUTINE, notes: "made offline", actionTags: ["first_contact"] }));
    expect((await offline.status()).outboxDepth).toBe(1);

    const a = await Client.open({ storage: storageA, server: srv.url, token: rep().device_token, logger, unreachableAfterMs: 3000 });
    const first = await a.sync();
    expect(first.results.map((r) => [r.seq, r.recordId, r.outcome])).toEqual([[1, id, "applied"]]);
    expect((await a.status()).outboxDepth).toBe(0);
    expect(await a.identity()).toMatchObject({ userId: rep().user_id, deviceId: rep().device_id });

    // Device B: the same user, enrolled with a one-time code; its clock runs a second ahead.
    const b = await enrollDevice(rep().user_id, { now: () => Date.now() + 1000 });
    expect((await b.identity()).userId).toBe(rep().user_id);
    await b.sync();
    expect((await b.get(VisitSchema, id))?.notes).toBe("made offline");

    // Both edit the notes; A's edit is older. B syncs first, so A's value loses.
    await a.put(id, create(VisitSchema, { notes: "from A", actionTags: ["technical_demo"] }), ["notes", "action_tags"]);
    await b.put(id, create(VisitSchema, { notes: "from B" }), ["notes"]);
    await b.sync();
    const resA = await a.sync();
    expect(resA.results).toHaveLength(1);
    expect(resA.results[0]).toMatchObject({ outcome: "merged", lostFields: ["notes"] });
    await b.sync();

    const va = await a.get(VisitSchema, id);
    const vb = await b.get(VisitSchema, id);
    expect(va?.notes).toBe("from B");
    expect(vb?.notes).toBe("from B");
    expect(va?.actionTags.sort()).toEqual(["first_contact", "technical_demo"]); // set union keeps both
    expect(vb?.actionTags.sort()).toEqual(["first_contact", "technical_demo"]);
    expect(await a.list(VisitSchema)).toEqual(await b.list(VisitSchema));

    const conflicts = await a.conflicts();
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ recordId: id, field: "notes", reason: "older" });
    expect((conflicts[0].losing as Visit).notes).toBe("from A");
    expect((conflicts[0].winning as Visit).notes).toBe("from B");
    expect((await a.status()).conflicts).toBe(1);
  });

  it("surfaces a rejection with the reason validate gives on the device", async () => {
    // A device that does not check its writes (validate: false) leaves the server the judge.
    const c = await enrollDevice(rep().user_id, { validate: false });
    const v = create(VisitSchema, { status: RecordStatus.SUBMITTED, kind: VisitKind.CLINICAL_DIRECTOR, customerId: "c1", visitTime: timestampNow() });
    const local = violationText(validate(v));
    expect(local).not.toBe("");
    const id = c.newId();
    await c.put(id, v);
    const ok = c.newId();
    await c.put(ok, create(VisitSchema, { notes: "after the invalid one" }));
    const report = await c.sync();
    expect(report.results.map((r) => r.outcome)).toEqual(["rejected", "applied"]);
    const [rj] = await c.rejections();
    expect(rj.recordId).toBe(id);
    expect(rj.reason).toContain(local);
    expect(await c.get(VisitSchema, id)).toBeUndefined(); // the refused create is gone from the view
    expect((await c.get(VisitSchema, ok))?.notes).toBe("after the invalid one");
  });

  it("applies a push exactly once when its answer is lost", async () => {
    let drop = 1;
    const loseAnswer: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (req.method.name === "Push" && drop-- > 0) throw new ConnectError("answer lost", Code.Unavailable);
      return res;
    };
    const c = await enrollDevice(rep().user_id, {
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, interceptors: [...interceptors, loseAnswer], useBinaryFormat: true }),
      backoffMs: { min: 1, max: 5 },
    });
    const id = c.newId();
    await c.put(id, create(VisitSchema, { notes: "once" }));
    await c.put(id, create(VisitSchema, { actionTags: ["x1"] }), ["action_tags"]);
    const report = await c.sync();
    // The resent seqs were answered with their first results, not applied again.
    expect(report.results.map((r) => [r.seq, r.outcome])).toEqual([[1, "applied"], [2, "applied"]]);
    expect(await c.status()).toMatchObject({ outboxDepth: 0, online: true });
    const other = await enrollDevice(rep().user_id);
    await other.sync();
    expect(await other.get(VisitSchema, id)).toMatchObject({ notes: "once", actionTags: ["x1"] });
  });

  it("pipelines pull pages: only a sync's first pull is a receipt, and no page is stored after one that failed", async () => {
    const writer = await enrollDevice(rep().user_id);
    for (let i = 0; i < 7; i++) await writer.put(writer.newId(), create(VisitSchema, { notes: `pipelined ${i}` }));
    await writer.sync();
    const pulls: { cursor: string; ahead: boolean }[] = [];
    const seePulls: Interceptor = (next) => async (req) => {
      if (req.method.name === "Pull" && !req.stream) pulls.push({ cursor: (req.message as PullRequest).cursor, ahead: (req.message as PullRequest).ahead });
      return next(req);
    };
    const inner = await memoryStorage();
    let pages = 0;
    let failPage = 2; // the second page's transaction fails once, after its writes
    const storage = {
      ...inner, read: inner.read.bind(inner), close: inner.close.bind(inner),
      update: <T>(fn: (tx: StoreTx) => Promise<T>) => inner.update(async (tx) => {
        let wrote = false;
        const out = await fn({ ...bindAll(tx), putRow: (r) => ((wrote = true), tx.putRow(r)) });
        if (wrote && ++pages === failPage) throw new Error("disk full");
        return out;
      }),
    };
    const c = await enrollDevice(rep().user_id, {
      storage, pullLimit: 2,
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, interceptors: [...interceptors, seePulls], useBinaryFormat: true }),
    });
    await expect(c.sync()).rejects.toThrow("disk full");
    const after = await storage.read(async (tx) => ({ meta: await tx.meta(), rows: (await tx.allRows()).length }));
    expect(pulls[0]).toEqual({ cursor: "", ahead: false });
    expect(pulls.slice(1).every((p) => p.ahead)).toBe(true);
    expect(after.meta.cursor).toBe(pulls[1].cursor); // the first page and its cursor, nothing after
    expect(after.rows).toBe(2);
    failPage = 0;
    pulls.length = 0;
    const report = await c.sync();
    expect(pulls[0]).toEqual({ cursor: after.meta.cursor, ahead: false }); // the stored page's receipt
    expect(pulls.length).toBeGreaterThan(2);
    expect(pulls.slice(1).every((p) => p.ahead)).toBe(true);
    const mine = (await c.list(VisitSchema)).filter((v) => v.value.notes.startsWith("pipelined "));
    expect(mine).toHaveLength(7);
    expect(report.pulled + 2).toBe((await storage.read((tx) => tx.allRows())).length);
  });

  it("refuses another device's token on a bound store and sign-out with unsynced writes", async () => {
    const c = await enrollDevice(rep().user_id);
    await c.put(c.newId(), create(VisitSchema, { notes: "unsynced" }));
    await expect(c.signOut()).rejects.toMatchObject({ code: "unsynced" });
    expect((await c.status()).outboxDepth).toBe(1);
    await c.sync();
    await c.signOut();
    expect(await c.identity()).toEqual({ deviceId: "", userId: "", tenantId: "" });
  });

  it("watch pulls what another device pushes, pushes local writes at once, and reconnects a broken stream", async () => {
    let breakWatch = 1;
    const breakFirstStream: Interceptor = (next) => async (req) => {
      if (req.method.name === "Watch" && breakWatch-- > 0) throw new ConnectError("stream refused", Code.Unavailable);
      return next(req);
    };
    const a = await enrollDevice(rep().user_id);
    const b = await enrollDevice(rep().user_id, {
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, interceptors: [...interceptors, breakFirstStream], useBinaryFormat: true }),
      backoffMs: { min: 1, max: 5 },
    });
    const stop = new AbortController();
    const watching = b.watch({ signal: stop.signal });
    try {
      const id = a.newId();
      await a.put(id, create(VisitSchema, { notes: "poked" }));
      await a.sync();
      await vi.waitFor(async () => expect((await b.get(VisitSchema, id))?.notes).toBe("poked"), { timeout: 20_000, interval: 20 });

      const mine = b.newId();
      await b.put(mine, create(VisitSchema, { notes: "pushed by watch" }));
      await vi.waitFor(async () => expect((await b.status()).outboxDepth).toBe(0), { timeout: 20_000, interval: 20 });
      await a.sync();
      expect((await a.get(VisitSchema, mine))?.notes).toBe("pushed by watch");
      await vi.waitFor(() => expect(breakWatch).toBeLessThan(0), { timeout: 20_000, interval: 20 }); // the refused stream was reopened
    } finally {
      stop.abort();
      await watching;
    }
  }, 90_000); // three waits of up to 20 s each, on a machine that may be busy

  it("watch pushes a write made while its first sync pulls", async () => {
    let client: Client | undefined;
    let id = "";
    let hooked = false;
    // The write lands after the first sync pushed and before watch follows the stream.
    const writeDuringPull: Interceptor = (next) => async (req) => {
      if (req.method.name === "Pull" && !hooked && client) {
        hooked = true;
        id = client.newId();
        await client.put(id, create(VisitSchema, { notes: "written mid-pull" }));
      }
      return next(req);
    };
    client = await enrollDevice(rep().user_id, {
      transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, interceptors: [...interceptors, writeDuringPull], useBinaryFormat: true }),
    });
    const stop = new AbortController();
    const watching = client.watch({ signal: stop.signal });
    try {
      await vi.waitFor(async () => expect(hooked && (await client.status()).outboxDepth === 0).toBe(true), { timeout: 20_000, interval: 20 });
    } finally {
      stop.abort();
      await watching;
    }
    const other = await enrollDevice(rep().user_id);
    await other.sync();
    expect((await other.get(VisitSchema, id))?.notes).toBe("written mid-pull");
  });
});
