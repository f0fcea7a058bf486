// The descriptors precomputed at build time (build/predesc.ts, the vite
// transform precomputedDescriptors) must boot exactly what fileDesc("<base64>")
// boots: the same FileDescriptorProto, message for message (prototype, own
// fields, unknown fields: what presence and options read), and the same
// descriptors. Checked for every generated file the app bundles.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { fileDesc } from "@bufbuild/protobuf/codegenv2";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { FILE_DESC, precomputedArgs, precomputeDescriptors } from "../build/predesc.js";
// @ts-expect-error: plain JavaScript (a vite virtual module's source), no declarations
import { predesc } from "../build/predesc-runtime.js";

const here = import.meta.dirname;
const ROOTS = [
  resolve(here, "../../ts/dist/gen"),
  resolve(here, "../node_modules/@bufbuild/protobuf/dist/esm/wkt/gen"),
  resolve(here, "../../ts/node_modules/@bufbuild/cel-spec/dist/esm/gen"),
  resolve(here, "../../ts/node_modules/@bufbuild/protovalidate/dist/esm/gen"),
];

function pbFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? pbFiles(p) : p.endsWith("_pb.js") ? [p] : [];
  });
}

/** Every own key, value and prototype of a and b alike (messages, lists, bytes, unknown fields). */
function sameTree(a: unknown, b: unknown, path = "root"): void {
  if (typeof a !== "object" || a === null) {
    expect(b, path).toStrictEqual(a);
    return;
  }
  expect(typeof b, path).toBe("object");
  if (a instanceof Uint8Array) {
    expect(b instanceof Uint8Array && Buffer.from(b).equals(Buffer.from(a)), path).toBe(true);
    return;
  }
  expect(Array.isArray(b), path).toBe(Array.isArray(a));
  expect(Object.getPrototypeOf(b), `${path}: prototype`).toBe(Object.getPrototypeOf(a));
  expect(Object.keys(b as object).sort(), `${path}: own keys`).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) sameTree((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
}

/** What the app reads of a file's descriptors. */
function summary(f: DescFile) {
  const msg = (m: DescFile["messages"][number]): unknown => ({
    t: m.typeName,
    fields: m.fields.map((x) => [x.name, x.number, x.fieldKind, x.jsonName, x.localName, x.presence, x.oneof?.name, x.fieldKind === "scalar" ? x.scalar : undefined]),
    nested: m.nestedMessages.map(msg),
    enums: m.nestedEnums.map((e) => [e.typeName, e.values.map((v) => [v.name, v.number])]),
  });
  return {
    name: f.name, edition: f.edition, deps: f.dependencies.map((d) => d.name),
    messages: f.messages.map(msg),
    enums: f.enums.map((e) => [e.typeName, e.values.map((v) => [v.name, v.number])]),
    services: f.services.map((s) => [s.typeName, s.methods.map((m) => [m.name, m.methodKind, m.input.typeName, m.output.typeName])]),
    extensions: f.extensions.map((e) => [e.typeName, e.number]),
  };
}

describe("descriptors precomputed at build time", () => {
  const files = ROOTS.flatMap(pbFiles).filter((p) => readFileSync(p, "utf8").includes('fileDesc("'));

  it("cover the generated files the app bundles", () => {
    expect(files.some((p) => p.endsWith("records_pb.js"))).toBe(true);
    expect(files.some((p) => p.endsWith("timestamp_pb.js"))).toBe(true);
    expect(files.length).toBeGreaterThan(15);
  });

  it.each(files.map((p) => [p.replace(/^.*\/(gen\/)/, ""), p]))("boot what fileDesc boots: %s", async (_, path) => {
    const src = readFileSync(path, "utf8");
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const booted = Object.values(mod).filter((v): v is DescFile => (v as DescFile)?.kind === "file");
    const calls = [...src.matchAll(FILE_DESC)];
    expect(calls.length).toBeGreaterThan(0);
    for (const [, b64] of calls) {
      const name = fromB64Name(b64);
      const orig = booted.find((f) => f.proto.name === name);
      expect(orig, `the module exports ${name}`).toBeDefined();
      const deps = orig!.dependencies;
      const want = fileDesc(b64, deps);
      const [build, types] = new Function(`return [${precomputedArgs(b64)}]`)() as [unknown, string[]];
      const got = predesc(build, types, deps) as DescFile;
      expect(Buffer.from(toBinary(FileDescriptorProtoSchema, got.proto)).equals(Buffer.from(toBinary(FileDescriptorProtoSchema, want.proto)))).toBe(true);
      sameTree(want.proto, got.proto);
      expect(summary(got)).toEqual(summary(want));
    }
  });

  it("replace every fileDesc call of a file, and nothing else", () => {
    const src = readFileSync(files.find((p) => p.endsWith("records_pb.js"))!, "utf8");
    const out = precomputeDescriptors(src, "__pre");
    expect(out).not.toMatch(FILE_DESC);
    expect(out.match(/__pre\(\(m,u\)=>/g)?.length).toBe([...src.matchAll(FILE_DESC)].length);
    expect(out.replace(/__pre\(\(m,u\)=>.*?,\["google\.protobuf\.[^\]]*\]/g, "X")).toBe(src.replace(FILE_DESC, "X"));
  });
});

function fromB64Name(b64: string): string {
  // FileDescriptorProto field 1 (name): tag 0x0a, a length, the bytes.
  const b = base64Decode(b64);
  expect(b[0]).toBe(0x0a);
  let len = 0, shift = 0, i = 1;
  for (;; i++) {
    len |= (b[i] & 0x7f) << shift;
    shift += 7;
    if (!(b[i] & 0x80)) break;
  }
  return new TextDecoder().decode(b.subarray(i + 1, i + 1 + len));
}
