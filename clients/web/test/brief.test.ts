import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CommitmentSchema, CommitmentState, VisitSchema, type LocalRecord } from "@fieldsync/client";
import { describe, expect, it } from "vitest";
import { customerBrief, type Data } from "../src/data";

const rec = <T>(id: string, value: T): LocalRecord<any> => ({ type: "", id, value, version: 1n, pending: false });
const visit = (id: string, customerId: string, hour: number, followUp = "") =>
  rec(id, create(VisitSchema, { customerId, visitTime: timestampFromMs(hour * 3_600_000), followUpCommitments: followUp }));
const commitment = (id: string, customerId: string, visitId: string, description: string, state = CommitmentState.OPEN) =>
  rec(id, create(CommitmentSchema, { customerId, visitId, description, state }));

function data(over: Partial<Data>): Data {
  return { customers: [], visits: [], commitments: [], opportunities: [], stock: [], alerts: [], surgeries: [], diagnoses: [], quotes: [], materials: [], shipments: [], ...over };
}

describe("customerBrief (B1)", () => {
  it("shows the key commitments of the customer's last 3 contacts, newest first, and the other open ones apart", () => {
    const d = data({
      visits: [
        visit("v1", "c", 1, "oldest promise"), visit("v4", "c", 4, "newest promise"), visit("v2", "c", 2), visit("v3", "c", 3, "middle promise"),
        visit("other", "d", 5, "another customer's"),
      ],
      commitments: [
        commitment("k4", "c", "v4", "send samples"),
        commitment("k1", "c", "v1", "old but open"),
        commitment("k1done", "c", "v1", "old and done", CommitmentState.DONE),
        commitment("kd", "d", "other", "not this customer"),
      ],
    });
    const b = customerBrief(d, "c");
    expect(b.lastVisits.map((v) => v.id)).toEqual(["v4", "v3", "v2"]);
    expect(b.keyCommitments.map((k) => [k.visitId, k.text, k.commitmentId ?? ""])).toEqual([
      ["v4", "newest promise", ""], ["v4", "send samples", "k4"], ["v3", "middle promise", ""],
    ]);
    expect(b.otherOpen.map((k) => k.id)).toEqual(["k1"]);
  });

  it("is empty for a customer never contacted", () => {
    expect(customerBrief(data({ visits: [visit("v", "d", 1, "x")] }), "c")).toEqual({ lastVisits: [], keyCommitments: [], otherOpen: [] });
  });
});
