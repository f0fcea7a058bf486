import { describe, expect, it } from "vitest";
import { reenrollQuestion } from "../src/screens/revoked";

describe("the revoked screen's Enroll again", () => {
  it("asks before deleting unless the device is known to hold nothing unsent", () => {
    for (const [s, want] of [
      [null, "any changes and photos it has not sent"], // the store's status not read yet: counts unknown
      [{ outboxDepth: 0, photoQueue: 0 }, null],
      [{ outboxDepth: 1, photoQueue: 0 }, "1 unsent changes and 0 unsent photos"],
      [{ outboxDepth: 0, photoQueue: 3 }, "0 unsent changes and 3 unsent photos"],
      [{ outboxDepth: 2, photoQueue: 2 }, "2 unsent changes and 2 unsent photos"],
    ] as const) {
      const got = reenrollQuestion(s);
      if (want === null) expect(got, JSON.stringify(s)).toBeNull();
      else expect(got, JSON.stringify(s)).toContain(want);
    }
  });
});
