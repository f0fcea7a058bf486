import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Client, VisitSchema } from "../src/index.js";
import { memoryStorage } from "./helpers.js";
import { startServer, type TestServer } from "./server.js";

/**
 * Convergence through faults, against the real server: devices of one user
 * make random edits and sync in random order while their requests are
 * dropped before reaching the server, cut after it answered, or sent twice.
 * Once every device has synced in turn, all hold the same records, equal to
 * what a new device pulls.
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.stop();
});

type Fault = "none" | "drop" | "cut" | "twice";

/** A transport whose next calls suffer the queued faults. */
function faulty(queue: Fault[]): Interceptor {
  return (next) => async (req) => {
    const f = queue.shift() ?? "none";
    if (f === "drop") throw new ConnectError("dropped before the server", Code.Unavailable);
    if (f === "twice") await next(req);
    const res = await next(req);
    if (f === "cut") throw new ConnectError("answer cut", Code.Unavailable);
    return res;
  };
}

async function device(userId: string, faults: Fault[]): Promise<Client> {
  const admin = createClient(AdminService, createConnectTransport({
    baseUrl: srv.url,
    useBinaryFormat: true,
    interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
  }));
  const { enrollmentCode } = await admin.issueEnrollmentCode({ userId });
  return Client.enroll({
    storage: await memoryStorage(), server: srv.url, enrollmentCode, deviceName: "prop", backoffMs: { min: 1, max: 4 },
    transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [...interceptors, faulty(faults)] }),
  });
}

const op = fc.oneof(
  fc.record({ kind: fc.constant("notes" as const), dev: fc.nat(2), rec: fc.nat(2), text: fc.constantFrom("a", "b", "c", "") }),
  fc.record({ kind: fc.constant("tag" as const), dev: fc.nat(2), rec: fc.nat(2), text: fc.constantFrom("t1", "t2", "t3") }),
  fc.record({ kind: fc.constant("delete" as const), dev: fc.nat(2), rec: fc.nat(2) }),
  fc.record({ kind: fc.constant("sync" as const), dev: fc.nat(2), faults: fc.array(fc.constantFrom<Fault>("none", "drop", "cut", "twice"), { maxLength: 4 }) }),
);

async function snapshot(c: Client, ids: string[]) {
  const out: Record<string, unknown> = {};
  for (const id of ids) {
    const v = await c.get(VisitSchema, id);
    out[id] = v ? { notes: v.notes, tags: [...v.actionTags].sort() } : null;
  }
  return out;
}

describe("convergence", () => {
  it("devices of one user converge through dropped, cut and duplicated requests", async () => {
    const userId = srv.creds.users.find((u) => u.role === "rep")!.user_id;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        run++;
        const faults: Fault[][] = [[], [], []];
        const devs = await Promise.all(faults.map((f) => device(userId, f)));
        const ids = [0, 1, 2].map((i) => `r${run}x${i}x${Date.now().toString(36)}`);
        for (const o of ops) {
          const c = devs[o.dev];
          if (o.kind === "notes") await c.put(ids[o.rec], create(VisitSchema, { notes: o.text }), ["notes"]);
          else if (o.kind === "tag") await c.put(ids[o.rec], create(VisitSchema, { actionTags: [o.text] }), ["action_tags"]);
          else if (o.kind === "delete") await c.delete("fieldsync.v1.Visit", ids[o.rec]);
          else {
            faults[o.dev].push(...o.faults);
            await c.sync();
          }
        }
        for (const f of faults) f.length = 0;
        for (const c of devs) await c.sync(); // everything reaches the server
        for (const c of devs) await c.sync(); // and every device pulls it
        const fresh = await device(userId, []);
        await fresh.sync();
        const want = await snapshot(fresh, ids);
        for (const c of devs) {
          expect(await snapshot(c, ids)).toEqual(want);
          expect((await c.status()).outboxDepth).toBe(0);
        }
      }),
      { numRuns: Number(process.env.FIELDSYNC_PROPERTY_RUNS ?? 20) },
    );
  });
});
