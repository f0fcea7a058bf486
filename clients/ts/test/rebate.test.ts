import { readFileSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { QuoteSchema, RebateRuleSchema, rebate, type RebateRuleRecord } from "../src/index.js";

// The shared case table the Go SDK's records.Rebate runs too
// (records/rebate_test.go): both must give the same answer to each case.
interface Cases {
  rules: Record<string, JsonValue>;
  cases: {
    name: string;
    rules: string[];
    quote: JsonValue;
    at: string;
    want: {
      earnedCents: string;
      ruleId: string;
      tier: number;
      nextTier: number;
      nextMin: string;
      nextNeeded: string;
      nextExtraCents: string;
    };
  }[];
}

const table = JSON.parse(readFileSync(new URL("../../../testdata/rebate/cases.json", import.meta.url), "utf8")) as Cases;

describe("rebate (testdata/rebate/cases.json)", () => {
  it("has the shared cases", () => {
    expect(table.cases.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of table.cases) {
    it(c.name, () => {
      const rules: RebateRuleRecord[] = c.rules.map((id) => ({ id, rule: fromJson(RebateRuleSchema, table.rules[id]!) }));
      const got = rebate(fromJson(QuoteSchema, c.quote), rules, fromJson(TimestampSchema, c.at));
      expect(got).toEqual({
        earnedCents: BigInt(c.want.earnedCents),
        ruleId: c.want.ruleId,
        tier: c.want.tier,
        nextTier: c.want.nextTier,
        nextMin: BigInt(c.want.nextMin),
        nextNeeded: BigInt(c.want.nextNeeded),
        nextExtraCents: BigInt(c.want.nextExtraCents),
      });
    });
  }
});
