import { describe, expect, it } from "vitest";
import { dictionaries, pickLang } from "../src/i18n";

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
});
