// Descriptors precomputed at build time: the build-time half. Generated
// protobuf-es files boot each file's descriptor with fileDesc("<base64>"):
// decoding a FileDescriptorProto from binary through reflection, most of
// the SDK chunk's evaluation at an open (CPU profile through CDP). Here the
// same FileDescriptorProto, decoded once at build time, is written as code
// that makes the identical messages directly (predesc-runtime.js).
import { fromBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** A generated file's fileDesc("<base64>" call, up to the base64's closing quote. */
export const FILE_DESC = /\bfileDesc\("([A-Za-z0-9+/=]+)"/g;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The arguments replacing fileDesc("<b64>": a builder (m, u) => the
 * FileDescriptorProto, and the message types it names by index.
 */
export function precomputedArgs(b64: string): string {
  const root = fromBinary(FileDescriptorProtoSchema, base64Decode(b64));
  const types: string[] = [];
  const typeIndex = (name: string) => {
    let i = types.indexOf(name);
    if (i < 0) i = types.push(name) - 1;
    return i;
  };
  const key = (k: string) => (IDENT.test(k) ? k : JSON.stringify(k));
  const value = (v: unknown): string => {
    switch (typeof v) {
      case "string": return JSON.stringify(v);
      case "number": return Object.is(v, -0) ? "-0" : Number.isFinite(v) ? String(v) : v !== v ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      case "boolean": return String(v);
      case "bigint": return `${v}n`;
      case "object": {
        if (v === null) throw new Error("predesc: null in a descriptor");
        if (v instanceof Uint8Array) return `u(${JSON.stringify(Buffer.from(v).toString("latin1"))})`;
        if (Array.isArray(v)) return `[${v.map(value).join(",")}]`;
        const o = v as Record<string, unknown>;
        if (typeof o.$typeName === "string") return message(o);
        return `{${Object.keys(o).map((k) => `${key(k)}:${value(o[k])}`).join(",")}}`;
      }
      default: throw new Error(`predesc: a ${typeof v} in a descriptor`);
    }
  };
  // A message: create(schema) (prototype, $typeName, empty lists and maps) and its own fields
  // as decoding set them (an empty list is create's own).
  const message = (msg: Record<string, unknown>): string => {
    const fields = Object.keys(msg).filter((k) => k !== "$typeName" && !(Array.isArray(msg[k]) && (msg[k] as unknown[]).length === 0 && k !== "$unknown"));
    return `m(${typeIndex(msg.$typeName as string)},{${fields.map((k) => `${key(k)}:${value(msg[k])}`).join(",")}})`;
  };
  const body = message(root as unknown as Record<string, unknown>);
  return `(m,u)=>${body},${JSON.stringify(types)}`;
}

/** code with every fileDesc("<base64>", deps) replaced by fn(<precomputed>, deps). */
export function precomputeDescriptors(code: string, fn: string): string {
  return code.replace(FILE_DESC, (_, b64: string) => `${fn}(${precomputedArgs(b64)}`);
}
