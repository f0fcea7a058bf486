import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Client, CommitmentSchema, CommitmentState, openIndexedDBStorage, OpportunityStage, VisitSchema } from "@fieldsync/client";
import { describe, expect, it } from "vitest";
import { computeToday, loadData, loadTodayInputs, todayInputsFromData, type TodayInputs } from "../src/data";
import { seed } from "../src/dev/seed";

const H = 3_600_000;
const now = new Date(2026, 11, 1, 10, 0); // local 10:00
const at = (hours: number) => now.getTime() + hours * H;

function inputs(over: Partial<TodayInputs>): TodayInputs {
  return { commitments: [], visits: [], opportunities: [], stock: [], alertsUnacknowledged: 0, customerNames: new Map(), records: 0, ...over };
}

describe("computeToday", () => {
  const open = CommitmentState.OPEN;
  const cases: { name: string; in: Partial<TodayInputs>; follow?: string[]; upcoming?: string[]; opps?: string[]; stock?: string[] }[] = [
    { name: "an open commitment overdue since yesterday is a follow-up", in: { commitments: [{ id: "c1", customerId: "x", description: "", due: at(-20), state: open }] }, follow: ["c1"] },
    { name: "an open commitment due later today is a follow-up", in: { commitments: [{ id: "c1", customerId: "x", description: "", due: at(5), state: open }] }, follow: ["c1"] },
    { name: "a commitment due tomorrow comes up", in: { commitments: [{ id: "c1", customerId: "x", description: "", due: at(24), state: open }] }, upcoming: ["c1"] },
    { name: "a commitment due in 10 days is not shown", in: { commitments: [{ id: "c1", customerId: "x", description: "", due: at(240), state: open }] } },
    { name: "a done or cancelled commitment is not shown", in: { commitments: [
      { id: "c1", customerId: "x", description: "", due: at(-1), state: CommitmentState.DONE },
      { id: "c2", customerId: "x", description: "", due: at(-1), state: CommitmentState.CANCELLED }] } },
    { name: "a commitment with no due time is not shown", in: { commitments: [{ id: "c1", customerId: "x", description: "", state: open }] } },
    { name: "follow-ups are in time order, appointments among them", in: {
      commitments: [{ id: "c1", customerId: "x", description: "", due: at(3), state: open }],
      visits: [{ id: "v1", customerId: "x", followUp: "", next: at(1) }, { id: "v2", customerId: "x", followUp: "", next: at(-9) }] }, follow: ["v2", "v1", "c1"] },
    { name: "an appointment yesterday is not shown; in three days it comes up", in: {
      visits: [{ id: "v1", customerId: "x", followUp: "", next: at(-24) }, { id: "v2", customerId: "x", followUp: "", next: at(72) }] }, upcoming: ["v2"] },
    { name: "open opportunities past their next action are overdue; won, lost and future ones are not", in: { opportunities: [
      { id: "o1", customerId: "x", title: "", stage: OpportunityStage.PROPOSAL, due: at(-1) },
      { id: "o2", customerId: "x", title: "", stage: OpportunityStage.WON, due: at(-1) },
      { id: "o3", customerId: "x", title: "", stage: OpportunityStage.LOST, due: at(-1) },
      { id: "o4", customerId: "x", title: "", stage: OpportunityStage.LEAD, due: at(1) },
      { id: "o5", customerId: "x", title: "", stage: OpportunityStage.LEAD, due: at(-100) }] }, opps: ["o5", "o1"] },
    { name: "stock below safety stock is an alert, the largest shortfall first; at safety stock it is not", in: { stock: [
      { id: "s1", terminalId: "t", productId: "p", onHand: 19, safety: 20 },
      { id: "s2", terminalId: "t", productId: "p", onHand: 20, safety: 20 },
      { id: "s3", terminalId: "t", productId: "p", onHand: 0, safety: 20 }] }, stock: ["s3", "s1"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = computeToday(inputs(c.in), now);
      expect(got.followUps.map((i) => i.id)).toEqual(c.follow ?? []);
      expect(got.upcoming.map((i) => i.id)).toEqual(c.upcoming ?? []);
      expect(got.overdueOpportunities.map((i) => i.id)).toEqual(c.opps ?? []);
      expect(got.stockAlerts.map((i) => i.id)).toEqual(c.stock ?? []);
    });
  }
});

describe("loadTodayInputs", () => {
  it("reads from the store's bytes what decoding the whole records gives, pending local edits included", async () => {
    const storage = await openIndexedDBStorage("today-inputs");
    expect(await seed(storage, 500, now.getTime())).toBe(500);
    const client = await Client.open({ storage });
    // Local edits on top of the synced rows, and new records: before 1970, no due time, unicode.
    await client.put("c-local-1", create(CommitmentSchema, { customerId: "seed-c1", description: "带样品 ✓", dueTime: timestampFromMs(-86_400_500), state: CommitmentState.OPEN }));
    await client.put("c-local-2", create(CommitmentSchema, { customerId: "seed-c2", description: "no due" }));
    const visit = (await client.list(VisitSchema))[0];
    await client.put(visit.id, create(VisitSchema, { followUpCommitments: "edited" }), ["follow_up_commitments"]);
    const fast = await loadTodayInputs(storage);
    const slow = todayInputsFromData(await loadData(client));
    expect(fast.commitments.find((c) => c.id === "c-local-1")).toEqual({ id: "c-local-1", customerId: "seed-c1", description: "带样品 ✓", due: -86_400_500, state: CommitmentState.OPEN });
    expect(fast.visits.find((v) => v.id === visit.id)?.followUp).toBe("edited");
    expect(fast).toEqual(slow);
    expect(computeToday(fast, now)).toEqual(computeToday(slow, now));
    client.close();
  });
});
