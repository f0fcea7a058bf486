import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { RecordStatus, VisitKind, VisitSchema } from "../src/index.js";
import { validate, violationText } from "../src/validate.js";

describe("validate", () => {
  it("names what a clinical-director visit misses, in the server's words", () => {
    const v = create(VisitSchema, {
      status: RecordStatus.SUBMITTED,
      kind: VisitKind.CLINICAL_DIRECTOR,
      customerId: "c1",
      visitTime: timestampNow(),
      ownerUserId: "x".repeat(65),
    });
    // syncengine.ViolationMessage(protovalidate.Validate(v)) of the same visit in Go.
    expect(violationText(validate(v))).toBe(
      "core_problem_solved is required once a clinical-director visit is submitted; " +
        "follow_up_commitments is required once a clinical-director visit is submitted; " +
        "next_appointment_time is required once a clinical-director visit is submitted; " +
        "action_tags needs at least one tag once a clinical-director visit is submitted; " +
        "owner_user_id: must be at most 64 characters",
    );
    expect(validate(v).map((x) => x.field)).toEqual(["", "", "", "", "owner_user_id"]);
    // The rule ids and, for a field's standard rule, its value: what an app words a message in its own language from.
    expect(validate(v).map((x) => [x.ruleId, x.value])).toEqual([
      ["visit.core_problem_solved.required", ""], ["visit.follow_up_commitments.required", ""], ["visit.next_appointment_time.required", ""],
      ["visit.action_tags.required", ""], ["string.max_len", "64"],
    ]);
  });

  it("passes a draft", () => {
    expect(validate(create(VisitSchema, { status: RecordStatus.DRAFT, kind: VisitKind.CLINICAL_DIRECTOR }))).toEqual([]);
  });
});
