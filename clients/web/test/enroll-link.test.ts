import { describe, expect, it } from "vitest";
import { codeFromLink } from "../src/hooks";

describe("codeFromLink", () => {
  it("takes the code from the admin's QR link, the page's address, or a bare code", () => {
    for (const [raw, want] of [
      ["http://127.0.0.1:8080/#/enroll?code=ABCD-1234", "ABCD-1234"],
      ["https://app.example.com/fieldsync/#/enroll?code=a%2Bb%20c", "a+b c"],
      ["#/enroll?code=XYZ&x=1", "XYZ"],
      ["  ABCD-1234 \n", "ABCD-1234"],
      ["#/enroll?other=1", ""],
    ] as const) expect(codeFromLink(raw), raw).toBe(want);
  });
});
