// The field screens' JavaScript budget (issue 14): at most 150 KB gzipped.
// Counts every chunk of the build (npm test builds first) except those only
// loaded on demand: the managers' screens and the test seeding.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const ASSETS = resolve(import.meta.dirname, "../dist/assets");
const LAZY = /^(manager|seed)-/;

describe.skipIf(!existsSync(ASSETS))("the build", () => {
  it("ships at most 150 KB of gzipped JavaScript for the field screens", () => {
    const js = readdirSync(ASSETS).filter((f) => f.endsWith(".js"));
    const field = js.filter((f) => !LAZY.test(f));
    expect(js.some((f) => f.startsWith("manager-"))).toBe(true); // the managers' screens are their own chunk
    const gz = (f: string) => gzipSync(readFileSync(join(ASSETS, f)), { level: 9 }).length;
    const total = field.reduce((n, f) => n + gz(f), 0);
    console.log(`field screens: ${(total / 1000).toFixed(1)} KB gzipped JS (${field.map((f) => `${f} ${(gz(f) / 1000).toFixed(1)}`).join(", ")})`);
    expect(total).toBeLessThanOrEqual(150_000);
  });

  it("leaves RE2 out (the SDK matches buf.validate's patterns as JavaScript regular expressions)", () => {
    const js = readdirSync(ASSETS).filter((f) => f.endsWith(".js"));
    expect(js.some((f) => f.startsWith("validate-"))).toBe(true);
    for (const f of js) expect(readFileSync(join(ASSETS, f), "utf8"), f).not.toContain("invalid nested repetition operator"); // one of RE2's parse errors
  });
});
