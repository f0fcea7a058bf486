import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AnySchema, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { MediaService } from "../src/gen/fieldsync/v1/media_pb.js";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { IdentityService } from "../src/gen/fieldsync/v1/identity_pb.js";
import {
  Client,
  FieldsyncError,
  MutationOutcome,
  RecordStatus,
  SurgerySupportSchema,
  PhotoState,
  PhotoStatusSchema,
  RemovalReason,
  ResyncRequiredSchema,
  SequenceGapSchema,
  SyncService,
  VisitKind,
  VisitSchema,
  RecordSchema,
  type Mutation,
  type PullResponseSchema,
  type PushRequest,
  type Status,
} from "../src/index.js";

type VisitInit = MessageInitShape<typeof VisitSchema>;
type Page = MessageInitShape<typeof PullResponseSchema>;
import { fakeClient, memoryStorage } from "./helpers.js";
import { jpeg } from "./photos.js";

const visit = (v: VisitInit) => create(VisitSchema, v);
const VISIT = "fieldsync.v1.Visit";

/** A pulled record of a visit. */
function pulled(id: string, v: VisitInit, version: bigint, removed = RemovalReason.UNSPECIFIED) {
  return create(RecordSchema, {
    recordType: VISIT, id, version, hlc: version << 16n, removed,
    value: removed ? undefined : create(AnySchema, { typeUrl: "type.googleapis.com/" + VISIT, value: toBinary(VisitSchema, visit(v)) }),
  });
}

/** Routes: WhoAmI answers, push applies everything (or runs onPush), pull serves pages. */
function routes(h: { onPush?: (req: PushRequest) => unknown; pages?: (cursor: string) => Page | Promise<Page>; acks?: string[] }) {
  return (r: ConnectRouter) => {
    r.service(IdentityService, { whoAmI: () => ({ deviceId: "d1", userId: "u1", tenantId: "t1" }) });
    r.service(SyncService, {
      push: (req) => h.onPush?.(req) ?? applyAll(req.mutations),
      pull: (req) => h.pages?.(req.cursor) ?? { nextCursor: req.cursor || "c0" },
      ack: (req) => {
        h.acks?.push(req.cursor);
        return {};
      },
      // A stream that stays quiet until the client closes it.
      async *watch(_req, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
    });
  };
}

function applyAll(ms: Mutation[]) {
  return {
    results: ms.map((m) => ({ seq: m.seq, recordId: m.recordId, outcome: MutationOutcome.APPLIED, appliedHlc: m.hlc })),
    lastSeq: ms[ms.length - 1].seq,
    serverHlc: 1n,
  };
}

describe("local writes", () => {
  it("give each change the next seq and a rising HLC, and show it at once", async () => {
    const c = await Client.open({ storage: await memoryStorage() });
    const id = c.newId();
    await c.put(id, visit({ notes: "first", kind: VisitKind.ROUTINE, actionTags: ["a"] }));
    await c.put(id, visit({ notes: "second", actionTags: ["b"] }), ["notes", "action_tags"]);
    await c.put(id, visit({}), ["kind"]); // a named field unset in the value is cleared
    const v = await c.get(VisitSchema, id);
    expect(v).toMatchObject({ notes: "second", kind: VisitKind.UNSPECIFIED, actionTags: ["a", "b"] }); // set union
    const s = await c.status();
    expect(s.outboxDepth).toBe(3);
    expect(s.oldestPending).toBeInstanceOf(Date);
    const list = await c.list(VisitSchema);
    expect(list.map((r) => [r.id, r.pending, r.version])).toEqual([[id, true, 0n]]);
  });

  it("refuses bad ids, unknown fields, empty values and a type change", async () => {
    const c = await Client.open({ storage: await memoryStorage() });
    await expect(c.put("bad id!", visit({ notes: "x" }))).rejects.toMatchObject({ code: "invalid_id" });
    await expect(c.put("v1", visit({ notes: "x" }), ["nope"])).rejects.toMatchObject({ code: "unknown_field" });
    await expect(c.put("v1", visit({}))).rejects.toMatchObject({ code: "no_fields" });
    await c.put("v1", visit({ notes: "x" }));
    await expect(c.delete("fieldsync.v1.Customer", "v1")).rejects.toMatchObject({ code: "type_mismatch" });
    await expect(c.delete("fieldsync.v1.Nope", "v1")).rejects.toMatchObject({ code: "not_record_type" });
    expect((await c.status()).outboxDepth).toBe(1); // nothing of the refused writes was kept
  });

  it("refuse, offline, a write that leaves the record breaking its rules, and queue nothing of it", async () => {
    const c = await Client.open({ storage: await memoryStorage() }); // no server: offline
    const id = c.newId();
    await c.put(id, visit({ kind: VisitKind.CLINICAL_DIRECTOR, customerId: "c1", visitTime: timestampFromMs(Date.now()), status: RecordStatus.DRAFT }));
    // Submitting a clinical-director visit without its three mandatory fields and a tag.
    const err = await c.put(id, visit({ status: RecordStatus.SUBMITTED }), ["status"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FieldsyncError);
    expect(err).toMatchObject({ code: "invalid" });
    expect((err as FieldsyncError).violations.map((v) => v.ruleId)).toEqual([
      "visit.core_problem_solved.required", "visit.follow_up_commitments.required", "visit.next_appointment_time.required", "visit.action_tags.required",
    ]);
    expect((err as FieldsyncError).message).toContain("core_problem_solved is required once a clinical-director visit is submitted");
    expect((await c.status()).outboxDepth).toBe(1); // only the draft
    expect((await c.get(VisitSchema, id))?.status).toBe(RecordStatus.DRAFT);
    // A field's own rule, on a new record: nothing of it is stored.
    const other = c.newId();
    await expect(c.put(other, visit({ ownerUserId: "x".repeat(65) }))).rejects.toMatchObject({ code: "invalid", violations: [{ field: "owner_user_id" }] });
    expect(await c.get(VisitSchema, other)).toBeUndefined();
    // Filled in, it is taken.
    await c.put(id, visit({ status: RecordStatus.SUBMITTED, coreProblemSolved: "x", followUpCommitments: "y", nextAppointmentTime: timestampFromMs(Date.now() + 86_400_000), actionTags: ["a"] }),
      ["status", "core_problem_solved", "follow_up_commitments", "next_appointment_time", "action_tags"]);
    expect((await c.status()).outboxDepth).toBe(2);
    // With validate: false the write is queued, for the server to judge.
    const lax = await Client.open({ storage: await memoryStorage(), validate: false });
    await lax.put(other, visit({ ownerUserId: "x".repeat(65) }));
    expect((await lax.status()).outboxDepth).toBe(1);
  });

  it("refuse a photo on a record that breaks its rules, queueing neither", async () => {
    const storage = await memoryStorage();
    const lax = await Client.open({ storage, validate: false });
    await lax.put("s1", create(SurgerySupportSchema, { status: RecordStatus.SUBMITTED, hospitalId: "h1" })); // no time, models, photos
    const c = await Client.open({ storage });
    await expect(c.addPhoto("fieldsync.v1.SurgerySupport", "s1", "pre_op_photo", jpeg(1000, 1))).rejects.toMatchObject({ code: "invalid" });
    expect((await c.status()).outboxDepth).toBe(1);
    expect(await c.photos()).toEqual([]);
  });

  it("binds the store to its first token", async () => {
    const storage = await memoryStorage();
    await Client.open({ storage, token: "one" });
    await expect(Client.open({ storage, token: "two" })).rejects.toMatchObject({ code: "wrong_device" });
    await Client.open({ storage, token: "one" });
  });

  it("tells subscribers about writes", async () => {
    const c = await Client.open({ storage: await memoryStorage() });
    const seen: Status[] = [];
    const got = new Promise<void>((resolve) =>
      c.subscribe((s) => {
        seen.push(s);
        if (s.outboxDepth === 1) resolve();
      }),
    );
    await c.put(c.newId(), visit({ notes: "x" }));
    await got;
    expect(seen.at(-1)?.outboxDepth).toBe(1);
  });

  it("tells subscribers about a write before the write resolves and before a watch pushes it", async () => {
    // A screen that shows "nothing to send" must not read 0 after a save
    // returned: the status counting the write comes first, and the one
    // after the push's answer comes after it.
    const pushed: number[] = [];
    const c = await fakeClient(routes({ onPush: (req) => void pushed.push(req.mutations.length) }));
    await c.sync();
    const depths: number[] = [];
    c.subscribe((s) => depths.push(s.outboxDepth));
    await vi.waitFor(() => expect(depths.length).toBeGreaterThan(0));
    const stop = new AbortController();
    const watching = c.watch({ signal: stop.signal, idleTimeoutMs: 3_600_000 });
    for (let i = 0; i < 5; i++) {
      const before = depths.length;
      await c.put(c.newId(), visit({ notes: `n${i}` }));
      expect(depths.slice(before).some((d) => d > 0), `write ${i}: statuses ${depths.slice(before)}`).toBe(true);
      await vi.waitFor(() => expect(depths.at(-1)).toBe(0));
    }
    stop.abort();
    await watching;
    expect(pushed.reduce((a, b) => a + b, 0)).toBe(5);
  });
});

describe("push", () => {
  it("resends from the server's expected seq after a gap", async () => {
    const sent: bigint[][] = [];
    const c = await fakeClient(routes({
      onPush: (req) => {
        sent.push(req.mutations.map((m) => m.seq));
        if (sent.length === 1) {
          // The server applied seqs 1 and 2 before (their answers were lost).
          throw new ConnectError("gap", Code.Aborted, undefined, [{ desc: SequenceGapSchema, value: { expectedSeq: 3n, receivedSeq: 1n } }]);
        }
        return undefined;
      },
    }));
    for (const n of ["a", "b", "c"]) await c.put(c.newId(), visit({ notes: n }));
    const report = await c.sync();
    expect(sent).toEqual([[1n, 2n, 3n], [3n]]);
    expect(report.results.map((r) => r.seq)).toEqual([3]);
    expect((await c.status()).outboxDepth).toBe(0);
  });

  it("pushes in batches in seq order, then what was written meanwhile, in the same sync", async () => {
    const sent: bigint[][] = [];
    let c: Client;
    c = await fakeClient(routes({
      onPush: async (req) => {
        sent.push(req.mutations.map((m) => m.seq));
        if (sent.length === 2) await c.put("late", visit({ notes: "written during the push" })); // seq 6
        return applyAll(req.mutations);
      },
    }), { batchSize: 2 });
    for (const n of ["a", "b", "c", "d", "e"]) await c.put(c.newId(), visit({ notes: n }));
    const report = await c.sync();
    expect(sent).toEqual([[1n, 2n], [3n, 4n], [5n], [6n]]);
    expect(report.results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await c.status()).outboxDepth).toBe(0);
  });

  it("reports the device's status with each push and pull, as the Go SDK does", async () => {
    let now = Date.UTC(2026, 0, 1, 12);
    const pushes: PushRequest["status"][] = [];
    const pulls: PushRequest["status"][] = [];
    const c = await fakeClient((r) => {
      r.service(IdentityService, { whoAmI: () => ({ deviceId: "d1", userId: "u1", tenantId: "t1" }) });
      r.service(SyncService, {
        push: (req) => (pushes.push(req.status), applyAll(req.mutations)),
        pull: (req) => (pulls.push(req.status), { nextCursor: "c1" }),
        ack: () => ({}),
      });
    }, { batchSize: 2, now: () => now, appVersion: "2.4 beta\n" });
    for (const n of ["a", "b", "c"]) {
      await c.put(c.newId(), visit({ notes: n }));
      now += 1500;
    }
    await c.sync();
    expect(pushes.map((s) => [s?.outboxDepth, s?.oldestUnsyncedAge?.seconds, s?.oldestUnsyncedAge?.nanos])).toEqual([[1, 1n, 500_000_000], [0, undefined, undefined]]);
    expect(pushes[0]).toMatchObject({ appVersion: "2.4_beta_", sdkVersion: "0.1.0", photosWaiting: 0 });
    expect(pushes[0]?.lastSyncTime).toBeUndefined();
    expect(pulls[0]?.outboxDepth).toBe(0);
    now += 60_000;
    await c.sync();
    expect(timestampMs(pulls[1]!.lastSyncTime!)).toBe(now - 60_000);
  });

  it("renumbers after the server's last seq when it lost acknowledged seqs", async () => {
    const sent: bigint[][] = [];
    let restored = false; // the server was restored from a backup older than seqs 1 and 2
    const c = await fakeClient(routes({
      onPush: (req) => {
        sent.push(req.mutations.map((m) => m.seq));
        if (restored) {
          restored = false;
          throw new ConnectError("gap", Code.Aborted, undefined, [{ desc: SequenceGapSchema, value: { expectedSeq: 1n, receivedSeq: 3n } }]);
        }
        return undefined;
      },
    }));
    await c.put("v1", visit({ notes: "a" }));
    await c.put("v1", visit({ notes: "b" }));
    await c.sync(); // seqs 1, 2 applied and pulled
    await c.put("v2", visit({ notes: "c" })); // seq 3
    sent.length = 0;
    restored = true;
    await c.sync();
    expect(sent).toEqual([[3n], [1n]]);
    await c.put("v3", visit({ notes: "d" }));
    sent.length = 0;
    await c.sync();
    expect(sent).toEqual([[2n]]); // next_seq follows the renumbered entries
  });

  it("stores merge losses, conflicts and rejections, and surfaces each result", async () => {
    const hlcs: bigint[] = [];
    const c = await fakeClient(routes({
      onPush: (req) => req.mutations.length === 1 ? (hlcs.push(req.mutations[0].hlc), applyAll(req.mutations)) : ({
        results: [
          { seq: req.mutations[0].seq, recordId: req.mutations[0].recordId, outcome: MutationOutcome.MERGED, lostFields: ["notes"], appliedHlc: req.mutations[0].hlc,
            conflicts: [{ id: 7n, recordType: VISIT, recordId: req.mutations[0].recordId, field: "notes", reason: "older",
              losingValue: create(AnySchema, { typeUrl: "type.googleapis.com/" + VISIT, value: toBinary(VisitSchema, visit({ notes: "mine" })) }),
              winningValue: create(AnySchema, { typeUrl: "type.googleapis.com/" + VISIT, value: toBinary(VisitSchema, visit({ notes: "theirs" })) }) }] },
          { seq: req.mutations[1].seq, recordId: req.mutations[1].recordId, outcome: MutationOutcome.REJECTED, reason: "notes: too long" },
        ],
        lastSeq: 2n,
        serverHlc: 99n << 16n,
      }),
    }));
    const streamed: string[] = [];
    c.onResult((r) => streamed.push(`${r.seq}:${r.outcome}`));
    await c.put("v1", visit({ notes: "mine", kind: VisitKind.ROUTINE }));
    await c.put("v2", visit({ notes: "bad" }));
    await c.sync();
    expect(streamed).toEqual(["1:merged", "2:rejected"]);
    const [cf] = await c.conflicts();
    expect(cf).toMatchObject({ id: 7n, field: "notes", reason: "older", losing: { notes: "mine" }, winning: { notes: "theirs" } });
    const [rj] = await c.rejections();
    expect(rj).toMatchObject({ seq: 2, recordId: "v2", reason: "notes: too long", value: { notes: "bad" } });
    expect(await c.get(VisitSchema, "v2")).toBeUndefined();
    expect(await c.status()).toMatchObject({ outboxDepth: 0, conflicts: 1, rejections: 1 });
    // The server's clock joined the device's: the next write is stamped after it.
    await c.put("v3", visit({ notes: "later" }));
    await c.sync();
    expect(hlcs).toHaveLength(1);
    expect(hlcs[0] > 99n << 16n).toBe(true);
  });
});

describe("pull", () => {
  it("keeps the server's photo states of each pulled record, and asks the server for a photo's URL", async () => {
    const [a, b] = ["a".repeat(64), "b".repeat(64)];
    const rec = pulled("v1", { notes: "x" }, 1n);
    rec.photos = [create(PhotoStatusSchema, { sha256: b, state: PhotoState.PENDING }), create(PhotoStatusSchema, { sha256: a, state: PhotoState.AVAILABLE })];
    const asked: string[] = [];
    const c = await fakeClient((r) => {
      routes({ pages: () => ({ records: [rec], nextCursor: "c1" }) })(r);
      r.service(MediaService, { getMediaURL: (req) => (asked.push(req.sha256), { url: `https://media.example/${req.sha256}`, expireTime: timestampFromMs(Date.UTC(2026, 0, 1)) }) });
    });
    expect(await c.recordPhotos("v1")).toEqual([]);
    await c.sync();
    expect(await c.recordPhotos("v1")).toEqual([{ sha256: a, available: true }, { sha256: b, available: false }]);
    await c.put("v1", visit({ notes: "edited" }), ["notes"]); // a local edit keeps them
    expect(await c.recordPhotos("v1")).toHaveLength(2);
    expect(await c.photoUrl(a)).toEqual({ url: `https://media.example/${a}`, expires: new Date(Date.UTC(2026, 0, 1)) });
    expect(asked).toEqual([a]);
  });

  it("stores pages with their cursor, removes records and acks the last page", async () => {
    const acks: string[] = [];
    const pages: Record<string, Page> = {
      "": { records: [pulled("v1", { notes: "one" }, 1n), pulled("v2", { notes: "two" }, 2n)], nextCursor: "p1", hasMore: true },
      p1: { records: [pulled("v2", {}, 3n, RemovalReason.OUT_OF_SCOPE)], nextCursor: "p2" },
      p2: { nextCursor: "p2" },
    };
    const c = await fakeClient(routes({ pages: (cur) => pages[cur], acks }));
    const report = await c.sync();
    expect(report.pulled).toBe(3);
    expect((await c.list(VisitSchema)).map((r) => [r.id, r.value.notes, r.version])).toEqual([["v1", "one", 1n]]);
    await c.waitAcked(); // sent in the background
    expect(acks).toEqual(["p2"]);
    expect(await c.status()).toMatchObject({ cursor: "p2", online: true });
    expect((await c.status()).lastSync).toBeInstanceOf(Date);
    await c.sync(); // nothing new: the cursor sent is the receipt, no ack
    expect(acks).toEqual(["p2"]);
  });

  it("sends the last page's receipt in the background: sync resolves first, the next pull waits for it", async () => {
    let answer: () => void = () => undefined;
    const acked: string[] = [];
    const pulls: string[] = [];
    let cursor = "";
    const c = await fakeClient((r) => {
      r.service(IdentityService, { whoAmI: () => ({ deviceId: "d1", userId: "u1", tenantId: "t1" }) });
      r.service(SyncService, {
        push: (req) => applyAll(req.mutations),
        pull: (req) => {
          pulls.push(req.cursor);
          cursor = cursor === "" ? "p1" : "p2";
          return { records: [pulled(cursor, { notes: cursor }, cursor === "p1" ? 1n : 2n)], nextCursor: cursor };
        },
        ack: async (req) => {
          await new Promise<void>((done) => (answer = done));
          acked.push(req.cursor);
          return {};
        },
      });
    });
    await c.sync(); // resolves while its receipt waits for an answer
    expect(acked).toEqual([]);
    let waited = false;
    const waiting = c.waitAcked().then(() => (waited = true));
    const second = c.sync();
    await new Promise((r) => setTimeout(r, 20));
    expect(pulls).toEqual([""]); // the next pull waits for the receipt in flight
    expect(waited).toBe(false);
    answer();
    await waiting;
    expect(acked).toEqual(["p1"]);
    await second;
    expect(pulls).toEqual(["", "p1"]);
    answer();
    await c.waitAcked();
    expect(acked).toEqual(["p1", "p2"]);
  });

  it("rebases pending local edits over the pulled state", async () => {
    let c: Client | undefined;
    let pulls = 0;
    c = await fakeClient(routes({
      pages: async () => {
        if (++pulls === 1) return { records: [pulled("v1", { notes: "server", customerId: "c1" }, 1n)], nextCursor: "p1" };
        if (pulls > 2) return { nextCursor: "p2" };
        // The user edits v1 while the second pull is on its way: the edit is pending when the page lands.
        await c!.put("v1", visit({ notes: "local" }), ["notes"]);
        return { records: [pulled("v1", { notes: "server 2", customerId: "c2" }, 2n)], nextCursor: "p2" };
      },
    }));
    await c.sync();
    await c.sync();
    const [rec] = await c.list(VisitSchema);
    expect(rec).toMatchObject({ id: "v1", version: 2n, pending: true, value: { notes: "local", customerId: "c2" } });
    await c.sync(); // pushed; the next page (none here) would confirm it
    expect((await c.status()).outboxDepth).toBe(0);
  });

  it("starts over on ResyncRequired, keeping pending edits and dropping what left the scope", async () => {
    let resyncs = 0;
    const c = await fakeClient(routes({
      pages: (cur) => {
        if (cur === "old") {
          resyncs++;
          throw new ConnectError("cursor too old", Code.FailedPrecondition, undefined, [{ desc: ResyncRequiredSchema, value: { reason: "compacted" } }]);
        }
        if (cur === "") return resyncs ? { records: [pulled("v1", { notes: "kept" }, 5n)], nextCursor: "new" } : { records: [pulled("v1", { notes: "a" }, 1n), pulled("v2", { notes: "gone" }, 2n)], nextCursor: "old" };
        return { nextCursor: cur };
      },
    }));
    await c.sync();
    expect((await c.list(VisitSchema)).map((r) => r.id)).toEqual(["v1", "v2"]);
    const report = await c.sync();
    expect(report.resynced).toBe(true);
    expect((await c.list(VisitSchema)).map((r) => [r.id, r.value.notes])).toEqual([["v1", "kept"]]);
    expect((await c.status()).cursor).toBe("new");
  });
});

describe("network events", () => {
  it("mark the status offline at once and make a watch sync when back online", async () => {
    const network = new EventTarget();
    let pulls = 0;
    const c = await fakeClient(routes({ pages: (cur) => (pulls++, { nextCursor: cur || "c1" }) }), { network });
    await c.sync();
    const seen: boolean[] = [];
    c.subscribe((s) => seen.push(s.online));
    network.dispatchEvent(new Event("offline"));
    await vi.waitFor(() => expect(seen.at(-1)).toBe(false));
    const stop = new AbortController();
    const watching = c.watch({ signal: stop.signal, idleTimeoutMs: 3_600_000 });
    await vi.waitFor(() => expect(pulls).toBe(2)); // watch's first sync
    network.dispatchEvent(new Event("online"));
    await vi.waitFor(() => expect(pulls).toBe(3));
    stop.abort();
    await watching;
  });
});

describe("two tabs on one store", () => {
  it("stamp later writes after the other tab's, whatever their clocks say", async () => {
    const storage = await memoryStorage();
    const ahead = await Client.open({ storage, now: () => Date.now() + 3_600_000 });
    const behind = await Client.open({ storage });
    await ahead.put("v1", visit({ notes: "first" }));
    await behind.put("v1", visit({ notes: "second" }));
    const hlcs = (await storage.read((tx) => tx.outbox())).map((e) => e.hlc);
    expect(hlcs[1] > hlcs[0]).toBe(true);
    expect((await behind.get(VisitSchema, "v1"))?.notes).toBe("second");
  });

  it("never sync at once, holding the store's Web Lock", async () => {
    let held = Promise.resolve();
    const names: string[] = [];
    const locks = {
      request<T>(name: string, fn: () => Promise<T>): Promise<T> {
        names.push(name);
        const run = held.then(fn);
        held = run.then(() => undefined, () => undefined);
        return run;
      },
    };
    let inFlight = 0;
    let most = 0;
    const storage = await memoryStorage();
    const server = routes({
      onPush: async (req) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return applyAll(req.mutations);
      },
    });
    const tab1 = await fakeClient(server, { storage, locks, lockName: "fieldsync-sync:test" });
    const tab2 = await fakeClient(server, { storage, locks, lockName: "fieldsync-sync:test" });
    await tab1.put("v1", visit({ notes: "a" }));
    await tab2.put("v2", visit({ notes: "b" }));
    const [r1, r2] = await Promise.all([tab1.sync(), tab2.sync()]);
    expect(most).toBe(1);
    expect([...r1.results, ...r2.results].map((r) => r.seq).sort()).toEqual([1, 2]); // each seq pushed once
    expect(names).toEqual(["fieldsync-sync:test", "fieldsync-sync:test"]);
  });
});

describe("watch", () => {
  it("returns when aborted just as its first sync ends", async () => {
    const stop = new AbortController();
    let streams = 0;
    const c = await fakeClient((r) => {
      routes({})(r);
      r.service(SyncService, {
        push: (req) => applyAll(req.mutations),
        pull: () => ({ nextCursor: "c1" }),
        ack: () => {
          stop.abort(); // the sync still completes: a failed ack is not an error
          return {};
        },
        async *watch(_req, ctx) {
          streams++;
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        },
      });
    });
    await c.watch({ signal: stop.signal });
    expect(streams).toBeLessThanOrEqual(1);
  });
});

describe("sign-out", () => {
  it("refuses to drop unsynced writes unless forced", async () => {
    const c = await Client.open({ storage: await memoryStorage(), token: "t" });
    await c.put("v1", visit({ notes: "x" }));
    await expect(c.signOut()).rejects.toMatchObject({ code: "unsynced" });
    expect(await c.get(VisitSchema, "v1")).toBeDefined();
    await c.signOut({ force: true });
    expect(await c.get(VisitSchema, "v1")).toBeUndefined();
    expect((await c.status()).outboxDepth).toBe(0);
  });
});
