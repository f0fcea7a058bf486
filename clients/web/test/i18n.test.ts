import { describe, expect, it } from "vitest";
import { alertWords, dictionaries, formatTime, pickLang, violationWords } from "../src/i18n";

describe("i18n", () => {
  it("has every string in English and Chinese, with the same placeholders", () => {
    const { en, "zh-CN": zh } = dictionaries;
    const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(en[k], k).not.toBe("");
      expect(zh[k], k).not.toBe("");
      expect(holes(zh[k]), k).toEqual(holes(en[k]));
    }
  });

  it("formats a date and time short in each language, in local time (in the year it is)", () => {
    for (const [d, en, zh] of [
      [new Date(2026, 11, 1, 9, 5), "Dec 1, 09:05", "12月1日 09:05"],
      [new Date(2026, 0, 31, 23, 59), "Jan 31, 23:59", "1月31日 23:59"],
      [new Date(2027, 5, 10, 0, 0), "Jun 10, 00:00", "6月10日 00:00"],
    ] as const) {
      const thisYear = new Date(d.getFullYear(), 6, 1);
      expect(formatTime(d, "en", thisYear)).toBe(en);
      expect(formatTime(d, "zh-CN", thisYear)).toBe(zh);
    }
  });

  it("takes the user's choice, else the browser's language", () => {
    expect(pickLang(null, "zh-CN")).toBe("zh-CN");
    expect(pickLang(null, "zh-TW")).toBe("zh-CN");
    expect(pickLang(null, "en-GB")).toBe("en");
    expect(pickLang(null, "de")).toBe("en");
    expect(pickLang(null, undefined)).toBe("en");
    expect(pickLang("en", "zh-CN")).toBe("en");
    expect(pickLang("zh-CN", "en-US")).toBe("zh-CN");
    expect(pickLang("fr", "zh")).toBe("zh-CN");
  });

  it("words alerts from their kind and facts, and the server's text only without them", () => {
    const p = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
    expect(alertWords({ kind: 2, title: "x", body: "y", params: p({ terminal: "Ruijin", product: "XK-200", on_hand: "12", safety_stock: "20" }) }))
      .toEqual({ title: "Replenish XK-200 at Ruijin", body: "12 on hand, below the safety stock of 20." });
    expect(alertWords({ kind: 2, title: "x", body: "y", params: p({ terminal: "Ruijin", products: "3" }) })).toEqual({ title: "Replenish 3 products at Ruijin", body: "" });
    expect(alertWords({ kind: 6, title: "x", body: "y", params: p({ sha256: "ab", records: "2" }) })).toEqual({ title: "The same photo is attached to 2 records", body: "" });
    expect(alertWords({ kind: 7, title: "server title", body: "server body", params: [] })).toEqual({ title: "server title", body: "server body" });
    const a9 = alertWords({ kind: 9, title: "x", body: "y", params: p({ device: "Pixel 8", platform: "android", time: "2026-11-30T09:05:00Z", by: "Ada" }) });
    expect(a9.title).toBe("“Pixel 8” was enrolled as you");
    expect(a9.body).toMatch(/^android, .+, code from Ada\. Not yours\? Tell your admin\.$/);
    expect(a9.body).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });

  it("words validation messages from the rule id and the rule's value", () => {
    expect(violationWords({ ruleId: "visit.core_problem_solved.required", value: "", message: "m" })).toBe("is required for a clinical-director visit");
    expect(violationWords({ ruleId: "quote.diagnosis_id.required_on_submit", value: "", message: "m" })).toBe("is required to submit");
    expect(violationWords({ ruleId: "sample_shipment.items.required_on_request", value: "", message: "m" })).toBe("is required to request the shipment");
    expect(violationWords({ ruleId: "string.max_len", value: "64", message: "m" })).toBe("must be at most 64 characters");
    expect(violationWords({ ruleId: "repeated.max_items", value: "20", message: "m" })).toBe("must have at most 20 items");
    expect(violationWords({ ruleId: "int64.gte", value: "0", message: "m" })).toBe("must be at least 0");
    expect(violationWords({ ruleId: "printable_name", value: "true", message: "m" })).toBe("must have a visible character and no control characters");
    expect(violationWords({ ruleId: "printable_text", value: "true", message: "m" })).toBe("must have no control characters other than tabs and line breaks");
    expect(violationWords({ ruleId: "rebate_rule.tiers.rates_rise", value: "", message: "the server's words" })).toBe("the server's words");
  });
});
