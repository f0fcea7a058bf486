import { describe, expect, it } from "vitest";
import { crc32c } from "../src/crc32c.js";

const text = (s: string) => new TextEncoder().encode(s);

// Known vectors: RFC 3720 (iSCSI) appendix B.4 and the common check value.
const vectors: { name: string; data: Uint8Array; want: number }[] = [
  { name: "empty", data: new Uint8Array(0), want: 0x00000000 },
  { name: "check value 123456789", data: text("123456789"), want: 0xe3069283 },
  { name: "a", data: text("a"), want: 0xc1d04330 },
  { name: "32 zero bytes", data: new Uint8Array(32), want: 0x8a9136aa },
  { name: "32 0xff bytes", data: new Uint8Array(32).fill(0xff), want: 0x62a8ab43 },
  { name: "32 ascending bytes", data: Uint8Array.from({ length: 32 }, (_, i) => i), want: 0x46dd794e },
  { name: "32 descending bytes", data: Uint8Array.from({ length: 32 }, (_, i) => 31 - i), want: 0x113fdb5c },
  { name: "fox", data: text("The quick brown fox jumps over the lazy dog"), want: 0x22620404 },
];

describe("crc32c", () => {
  it.each(vectors)("$name", ({ data, want }) => {
    expect(crc32c(data)).toBe(want);
  });

  it("continues over pieces as over the whole", () => {
    const data = text("The quick brown fox jumps over the lazy dog");
    for (let cut = 0; cut <= data.length; cut++) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(0x22620404);
    }
  });
});
