// No proto names on screen: every record type, field and enum value of
// records.proto has words in both languages; a cited record shows as words
// (no field, enum or wire-time text); the app's dates and times are the
// ones Intl writes for en and zh-CN; an alert's facts are worded.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  file_fieldsync_v1_records, QuoteSchema, StockLevelSchema, SurgerySupportSchema, VisitKind, VisitSchema,
} from "@fieldsync/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { alertWords, dictionaries, formatAgo, formatDate, formatTime, setLang, violationWords, type Lang } from "../src/i18n";
import { recordRows } from "../src/manager/recordtext";
import { enumWords, fieldWords, typeWords } from "../src/words";

/** What must never reach the screen: enum value names, proto field names, wire timestamps. */
export const LEAKS = [/[A-Z][A-Z0-9]*_[A-Z0-9_]{2,}/, /_UNSPECIFIED/, /\b[a-z]+_[a-z_]+\b/, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/, /fieldsync\.v1\./];

beforeAll(() => {
  vi.stubGlobal("localStorage", { getItem: () => null, setItem: () => undefined });
  vi.stubGlobal("document", { documentElement: {} });
});
afterAll(() => {
  setLang("en");
  vi.unstubAllGlobals();
});

describe("words for records.proto", () => {
  for (const lang of ["en", "zh-CN"] as Lang[]) {
    it(`names every record type, field and enum value in ${lang}`, () => {
      setLang(lang);
      const missing: string[] = [];
      for (const m of file_fieldsync_v1_records.messages) {
        if (!typeWords(m.typeName)) missing.push(m.typeName);
        for (const f of m.fields) if (!fieldWords(f.name) || !fieldWords(f.localName)) missing.push(`${m.name}.${f.name}`);
      }
      for (const e of file_fieldsync_v1_records.enums) {
        for (const v of e.values) if (v.number !== 0 && !enumWords(v.name)) missing.push(v.name);
      }
      expect(missing).toEqual([]);
      expect(enumWords("VISIT_KIND_UNSPECIFIED")).toBe("");
    });
  }

  it("shows a cited record as words only, in both languages", () => {
    const when = new Date(2026, 10, 30, 14, 5);
    const names = new Map([["cust-1", "瑞金医院"], ["rep-1", "Li Wei"]]);
    const records = [
      [VisitSchema, create(VisitSchema, {
        customerId: "cust-1", ownerUserId: "rep-1", regionId: "region-unknown", kind: VisitKind.CLINICAL_DIRECTOR, status: 2,
        visitTime: timestampFromDate(when), actionTags: ["first_contact", "technical_demo"], notes: "术后复查", highValue: true,
        coreProblemSolved: "耗材供应", nextAppointmentTime: timestampFromDate(when),
      })],
      [SurgerySupportSchema, create(SurgerySupportSchema, { hospitalId: "cust-1", surgeryTime: timestampFromDate(when), consumableModels: ["XK-200"], photosComplete: true, status: 2 })],
      [QuoteSchema, create(QuoteSchema, { customerId: "cust-1", totalCents: 123456n, currency: "CNY", complete: true, technicalParameters: [{ name: "压力", value: "2.2" }] })],
      [StockLevelSchema, create(StockLevelSchema, { terminalId: "cust-1", productId: "XK-200", onHand: 3n, safetyStock: 20n, agreementPriceCents: 9900n, currency: "CNY" })],
    ] as const;
    for (const lang of ["en", "zh-CN"] as Lang[]) {
      setLang(lang);
      for (const [schema, msg] of records) {
        const rows = recordRows(schema, msg, names);
        expect(rows.length, schema.typeName).toBeGreaterThan(2);
        for (const [k, v] of rows) for (const leak of LEAKS) expect(`${k}: ${v}`, `${schema.typeName} in ${lang}`).not.toMatch(leak);
      }
      const visit = Object.fromEntries(recordRows(VisitSchema, records[0][1], names));
      expect(visit[fieldWords("customer_id")]).toBe("瑞金医院");
      expect(visit[fieldWords("kind")]).toBe(lang === "en" ? "Clinical director" : "临床主任");
      expect(visit[fieldWords("visit_time")]).toBe(formatTime(when, lang));
      expect(visit[fieldWords("action_tags")]).toBe(lang === "en" ? "First contact, Technical demo" : "首次接触、技术演示");
      expect(visit[fieldWords("region_id")]).toBeUndefined(); // an id with no name is left out
      const quote = Object.fromEntries(recordRows(QuoteSchema, records[2][1], names));
      expect(quote[fieldWords("total_cents")]).toBe(new Intl.NumberFormat(lang, { style: "currency", currency: "CNY" }).format(1234.56));
    }
  });
});

describe("dates and times", () => {
  it("writes dates and times as Intl does for en and zh-CN, the year only when it is not this year's", () => {
    const now = new Date(2026, 11, 1, 12, 0);
    for (const lang of ["en", "zh-CN"] as Lang[]) {
      for (const d of [new Date(2026, 11, 1, 9, 5), new Date(2026, 0, 31, 23, 59), new Date(2025, 5, 10, 0, 0), new Date(2027, 1, 3, 7, 30)]) {
        const year = d.getFullYear() !== now.getFullYear() ? { year: "numeric" as const } : {};
        const time = new Intl.DateTimeFormat(lang, { ...year, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
        const date = new Intl.DateTimeFormat(lang, { ...year, month: "short", day: "numeric" }).format(d);
        expect(formatTime(d, lang, now), `${lang} ${d}`).toBe(time);
        expect(formatDate(d, lang, now), `${lang} ${d}`).toBe(date);
      }
    }
  });

  it("writes how long ago as Intl.RelativeTimeFormat (short) does, just now within a minute, the date beyond a week", () => {
    const now = new Date(2026, 11, 1, 12, 0);
    const minute = 60_000, hour = 60 * minute, day = 24 * hour;
    for (const lang of ["en", "zh-CN"] as Lang[]) {
      const rtf = new Intl.RelativeTimeFormat(lang, { style: "short", numeric: "always" });
      for (const [delta, n, unit] of [
        [-5 * minute, -5, "minute"], [-59 * minute, -59, "minute"], [-2 * hour, -2, "hour"], [-23 * hour, -23, "hour"],
        [-1 * day, -1, "day"], [-3 * day - hour, -3, "day"], [10 * minute, 10, "minute"], [40_000, 40, "second"], [3 * hour, 3, "hour"], [2 * day, 2, "day"],
      ] as const) {
        expect(formatAgo(new Date(now.getTime() + delta), lang, now), `${lang} ${delta}`).toBe(rtf.format(n, unit));
      }
      expect(formatAgo(new Date(now.getTime() - 20_000), lang, now)).toBe(dictionaries[lang].justNow);
      const old = new Date(now.getTime() - 8 * day);
      expect(formatAgo(old, lang, now)).toBe(formatTime(old, lang, now));
    }
  });
});

describe("alerts and validation in words", () => {
  const p = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
  it("words an alert's facts: ids by name, visit tags, dates and wire times in the language", () => {
    setLang("zh-CN");
    const a8 = alertWords({ kind: 8, title: "x", body: "y", params: p({ user: "李伟", device: "iPhone", outbox: "4", since: "2026-11-30T09:05:00+08:00" }) });
    expect(a8.body).toContain(formatTime(new Date("2026-11-30T09:05:00+08:00"), "zh-CN"));
    expect(a8.body).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
    const a4 = alertWords({ kind: 4, title: "x", body: "y", params: p({ rep: "李伟", tag: "first_contact", weeks: "3" }) });
    expect(a4.body).toContain("首次接触");
    const a5 = alertWords({ kind: 5, title: "x", body: "y", params: p({ customer_id: "cust-1", date: "2026-11-02", visit_id: "v" }) }, new Map([["cust-1", "瑞金医院"]]));
    expect(a5.body).toContain("瑞金医院");
    expect(a5.body).toContain(formatDate(new Date(2026, 10, 2), "zh-CN"));
    const a9 = alertWords({ kind: 9, title: "x", body: "y", params: p({ device: "iPhone", platform: "ios", time: "2026-11-30T09:05:00+08:00", by: "王芳" }) });
    expect(a9.title).toContain("iPhone");
    expect(a9.body).toContain(formatTime(new Date("2026-11-30T09:05:00+08:00"), "zh-CN"));
    expect(a9.body).toContain("王芳");
    for (const w of [a8, a4, a5, a9]) for (const leak of LEAKS) expect(w.title + w.body).not.toMatch(leak);
  });

  it("never shows a rule's English message in Chinese", () => {
    setLang("zh-CN");
    expect(violationWords({ ruleId: "rebate_rule.tiers.rates_rise", value: "", message: "tiers must rise" })).toBe("填写有误");
    expect(violationWords({ ruleId: "string.max_len", value: "64", message: "m" })).toBe("最多 64 个字符");
    setLang("en");
    expect(violationWords({ ruleId: "rebate_rule.tiers.rates_rise", value: "", message: "tiers must rise" })).toBe("tiers must rise");
  });
});
