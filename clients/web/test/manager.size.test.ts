// The managers' screens load as their own chunk (issue 14: the field
// screens' 150 KB budget must not carry them): their generated services
// (dashboard, admin, insights), uPlot and the QR encoder are in the manager
// chunk and in no chunk the field screens load. Prints the chunk's
// gzipped size. Runs on the build npm test makes first.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const ASSETS = resolve(import.meta.dirname, "../dist/assets");
const GEN = resolve(import.meta.dirname, "../../ts/dist/gen/fieldsync/v1");

/**
 * A generated file's proto file name, which its embedded descriptor carries
 * as text (the build turns the descriptors' base64 into Latin-1 literals):
 * present wherever the file is bundled.
 */
const descriptorMark = (file: string) => {
  expect(readFileSync(join(GEN, file), "utf8")).toContain("fileDesc(");
  return `fieldsync/v1/${file.replace(/_pb\.js$/, "")}.proto`;
};

describe.skipIf(!existsSync(ASSETS) || !existsSync(GEN))("the managers' chunk", () => {
  it("holds the managers' services, uPlot and the QR encoder, which no field chunk carries", () => {
    const js = readdirSync(ASSETS).filter((f) => f.endsWith(".js"));
    const manager = js.filter((f) => f.startsWith("manager-"));
    const field = js.filter((f) => !/^(manager|seed)-/.test(f));
    expect(manager).toHaveLength(1);
    const text = (f: string) => readFileSync(join(ASSETS, f), "utf8");
    const marks = {
      dashboard: descriptorMark("dashboard_pb.js"), admin: descriptorMark("admin_pb.js"), insights: descriptorMark("insights_pb.js"),
      uPlot: "u-legend", qrcode: "createSvgTag",
    };
    for (const [what, mark] of Object.entries(marks)) {
      expect(text(manager[0]).includes(mark), `${what} in the manager chunk`).toBe(true);
      for (const f of field) expect(text(f).includes(mark), `${what} in field chunk ${f}`).toBe(false);
    }
    const gz = (f: string) => gzipSync(readFileSync(join(ASSETS, f)), { level: 9 }).length;
    const css = readdirSync(ASSETS).filter((f) => f.startsWith("manager-") && f.endsWith(".css"));
    console.log(`managers' chunk: ${(gz(manager[0]) / 1000).toFixed(1)} KB gzipped JS` + (css.length ? ` + ${(gz(css[0]) / 1000).toFixed(1)} KB CSS` : ""));
  });
});
