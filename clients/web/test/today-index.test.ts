// The Today index kept up to date as records are stored (src/todayindex.ts):
// whatever the writes, Today from the index is Today from a scan of the store.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AlertSchema, Client, CommitmentSchema, CommitmentState, OpportunitySchema, OpportunityStage, openIndexedDBStorage, StockLevelSchema, VisitSchema,
  type Storage,
} from "@fieldsync/client";
import { beforeEach, describe, expect, it } from "vitest";
import { computeToday, loadTodayInputs, type TodayInputs } from "../src/data";
import { seed } from "../src/dev/seed";
import { COMMITMENT_OPEN, COMMITMENT_UNSPECIFIED, OPPORTUNITY_LOST, OPPORTUNITY_WON, savedTodayInputs } from "../src/todaycore";
import { todayIndexOf, withTodayIndex } from "../src/todayindex";

const H = 3_600_000;
const now = new Date(2026, 11, 1, 10, 0);
/** The index cuts its windows at this test's now, not at the machine's clock. */
const clock = () => now.getTime();

/** A localStorage for Node (the index is saved there in the browser). */
class MemoryStorage {
  private m = new Map<string, string>();
  getItem(k: string) { return this.m.get(k) ?? null; }
  setItem(k: string, v: string) { this.m.set(k, v); }
  removeItem(k: string) { this.m.delete(k); }
}

let dbs = 0;
beforeEach(() => {
  (globalThis as { localStorage?: unknown }).localStorage = new MemoryStorage();
});

/** What Today shows and counts from inputs. */
const shown = (inp: TodayInputs) => ({ today: computeToday(inp, now), records: inp.records, names: inp.customerNames });

async function expectSame(wrapped: Storage, raw: Storage) {
  const got = await todayIndexOf(wrapped)!.inputs(now.getTime());
  expect(shown(got.inputs)).toEqual(shown(await loadTodayInputs(raw)));
  return got.source;
}

describe("the Today index", () => {
  it("Today's SDK-free core reads records.proto's enum numbers", () => {
    expect([COMMITMENT_UNSPECIFIED, COMMITMENT_OPEN, OPPORTUNITY_WON, OPPORTUNITY_LOST])
      .toEqual([CommitmentState.UNSPECIFIED, CommitmentState.OPEN, OpportunityStage.WON, OpportunityStage.LOST]);
  });

  it("follows local writes, edits, deletes and other types' writes without scanning the store", async () => {
    const name = `today-index-${dbs++}`;
    const raw = await openIndexedDBStorage(name);
    const storage = withTodayIndex(raw, clock);
    expect(await seed(storage, 600, now.getTime())).toBe(600);
    expect(await expectSame(storage, raw)).toBe("store"); // built at open (a scan of the empty store), then followed the seed's writes
    expect(await expectSame(storage, raw)).toBe("memory");
    const client = await Client.open({ storage });
    const at = (h: number) => timestampFromMs(now.getTime() + h * H);
    await client.put("c-new", create(CommitmentSchema, { customerId: "seed-c1", description: "带样品", dueTime: at(2), state: CommitmentState.OPEN }));
    await client.put("o-new", create(OpportunitySchema, { customerId: "seed-c2", title: "late", stage: OpportunityStage.LEAD, nextActionDueTime: at(-5) }));
    await client.put("s-new", create(StockLevelSchema, { terminalId: "seed-c3", productId: "P", onHand: 1n, safetyStock: 9n }));
    await client.put("a-new", create(AlertSchema, { title: "new alert" }));
    expect(await expectSame(storage, raw)).toBe("memory");
    // Edits that take records off Today, and back; an acknowledgement; a delete.
    await client.put("c-new", create(CommitmentSchema, { state: CommitmentState.DONE }), ["state"]);
    await client.put("o-new", create(OpportunitySchema, { stage: OpportunityStage.WON }), ["stage"]);
    await client.put("s-new", create(StockLevelSchema, { onHand: 20n }), ["on_hand"]);
    await client.put("a-new", create(AlertSchema, { acknowledgedTime: at(0) }), ["acknowledged_time"]);
    const visit = (await client.list(VisitSchema))[0];
    await client.put(visit.id, create(VisitSchema, { nextAppointmentTime: at(1), followUpCommitments: "today!" }), ["next_appointment_time", "follow_up_commitments"]);
    const gone = (await client.list(CommitmentSchema)).find((c) => c.value.state === CommitmentState.OPEN)!;
    await client.delete(CommitmentSchema.typeName, gone.id);
    expect(await expectSame(storage, raw)).toBe("memory");
    expect(computeToday((await todayIndexOf(storage)!.inputs(now.getTime())).inputs, now).followUps.some((i) => i.id === visit.id)).toBe(true);
    client.close();
  });

  it("is saved under the store's state key: the next open reads it back, a store that moved on is scanned", async () => {
    const name = `today-index-${dbs++}`;
    const first = withTodayIndex(await openIndexedDBStorage(name), clock);
    await seed(first, 300, now.getTime());
    await todayIndexOf(first)!.inputs();
    await new Promise((r) => setTimeout(r, 100)); // the save
    first.close();

    const raw = await openIndexedDBStorage(name);
    expect(shown(savedTodayInputs()!)).toEqual(shown(await loadTodayInputs(raw))); // what the snapshot draws before the SDK loads
    const again = withTodayIndex(raw, clock);
    expect(await expectSame(again, raw)).toBe("index");
    // Another tab writes to the store: it tells this one, which reads that tab's saved index.
    const other = withTodayIndex(await openIndexedDBStorage(name), clock);
    const client = await Client.open({ storage: other });
    await client.put("c-tab", create(CommitmentSchema, { customerId: "seed-c1", description: "from the other tab", dueTime: timestampFromMs(now.getTime()), state: CommitmentState.OPEN }));
    client.close(); // saves its index
    await new Promise((r) => setTimeout(r, 50)); // the message
    expect(await expectSame(again, raw)).toBe("index");
    again.close();

    // A write the saved index never saw (the page died before the save): the next open scans.
    const third = await openIndexedDBStorage(name);
    const c3 = await Client.open({ storage: third });
    await c3.put("c-unsaved", create(CommitmentSchema, { customerId: "seed-c1", description: "unsaved", dueTime: timestampFromMs(now.getTime()), state: CommitmentState.OPEN }));
    c3.close();
    const raw4 = await openIndexedDBStorage(name);
    const fourth = withTodayIndex(raw4, clock);
    expect(await expectSame(fourth, raw4)).toBe("store");
    fourth.close();
  });

  it("writes racing the build are counted once", async () => {
    const name = `today-index-${dbs++}`;
    const raw0 = await openIndexedDBStorage(name);
    await seed(raw0, 400, now.getTime());
    raw0.close();
    (globalThis as { localStorage?: unknown }).localStorage = new MemoryStorage(); // no saved index: the build scans
    const raw = await openIndexedDBStorage(name);
    const storage = withTodayIndex(raw, clock); // its build starts now
    const client = await Client.open({ storage });
    await Promise.all([0, 1, 2, 3].map((i) =>
      client.put(`c-race-${i}`, create(CommitmentSchema, { customerId: "seed-c1", description: `race ${i}`, dueTime: timestampFromMs(now.getTime() + i), state: CommitmentState.OPEN }))));
    const src = await expectSame(storage, raw);
    expect(src === "store" || src === "memory").toBe(true);
    client.close();
    storage.close();
  });

  it("a sign-out empties it", async () => {
    const name = `today-index-${dbs++}`;
    const raw = await openIndexedDBStorage(name);
    const storage = withTodayIndex(raw, clock);
    await seed(storage, 200, now.getTime());
    await storage.update((tx) => tx.clear());
    expect(await expectSame(storage, raw)).toBe("store"); // the build at open
    expect(await expectSame(storage, raw)).toBe("memory");
    expect((await todayIndexOf(storage)!.inputs()).inputs.records).toBe(0);
    storage.close();
  });
});
