import { createRegistry, fromBinary, getOption, hasOption, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectList, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { file_fieldsync_v1_records } from "./gen/fieldsync/v1/records_pb.js";
import { file_fieldsync_v1_text } from "./gen/fieldsync/v1/text_pb.js";
import { field as fieldExt, MergePolicy, record as recordExt } from "./gen/fieldsync/v1/options_pb.js";
import { FieldsyncError } from "./errors.js";

/**
 * The registry of the fieldsync record types the SDK knows, with the
 * predefined rules of text.proto (printable_name, printable_text): the
 * validator reads a field's use of them through it.
 */
export const registry = createRegistry(file_fieldsync_v1_records, file_fieldsync_v1_text);

/** Reports whether a message is marked as a synced record type. */
export function isRecord(desc: DescMessage): boolean {
  return hasOption(desc, recordExt) && getOption(desc, recordExt).record;
}

/** The full names of the synced record types the SDK knows, sorted. */
export function recordTypes(): string[] {
  const out: string[] = [];
  for (const t of registry) if (t.kind === "message" && isRecord(t)) out.push(t.typeName);
  return out.sort();
}

/** The descriptor of a record type name; throws FieldsyncError "not_record_type". */
export function lookupType(name: string): DescMessage {
  const desc = registry.getMessage(name);
  if (!desc || !isRecord(desc)) throw new FieldsyncError("not_record_type", `${JSON.stringify(name)} is not a record type`);
  return desc;
}

function isSetUnion(f: DescField): boolean {
  return f.fieldKind === "list" && hasOption(f, fieldExt) && getOption(f, fieldExt).merge === MergePolicy.SET_UNION;
}

/** The field of desc named by its proto name or its TypeScript (local) name. */
export function fieldByName(desc: DescMessage, name: string): DescField | undefined {
  return desc.fields.find((f) => f.name === name || f.localName === name);
}

/**
 * Checks a field mask's names against a record type (proto or TypeScript
 * names, returned as proto names), or, when there are none, lists the
 * fields set in v.
 */
export function resolveMask(desc: DescMessage, v: Message, names: readonly string[]): string[] {
  if (names.length === 0) {
    const r = reflect(desc, v);
    const set = desc.fields.filter((f) => r.isSet(f)).map((f) => f.name);
    if (set.length === 0) throw new FieldsyncError("no_fields", `${desc.typeName} has no field set`);
    return set;
  }
  const out: string[] = [];
  for (const n of names) {
    const f = fieldByName(desc, n);
    if (!f || n.includes(".")) throw new FieldsyncError("unknown_field", `${desc.typeName} has no top-level field ${JSON.stringify(n)}`);
    if (!out.includes(f.name)) out.push(f.name);
  }
  return out;
}

/** Wire bytes of a message of v's type holding only the named fields of v. */
export function project(desc: DescMessage, v: Message, fields: readonly string[]): Uint8Array {
  const src = reflect(desc, v);
  const out = reflect(desc);
  for (const n of fields) {
    const f = fieldByName(desc, n)!;
    if (src.isSet(f)) copyField(out, src, f);
  }
  return toBinary(desc, out.message);
}

/**
 * Writes the named fields of in into view, as the server will: set-union
 * fields add the elements view lacks, every other field takes in's value
 * (cleared when in has none).
 */
export function applyFields(desc: DescMessage, view: ReflectMessage, input: ReflectMessage, fields: readonly string[]): void {
  for (const n of fields) {
    const f = fieldByName(desc, n);
    if (!f) continue;
    if (isSetUnion(f)) unionInto(view, input, f);
    else if (input.isSet(f)) copyField(view, input, f);
    else view.clear(f);
  }
}

function copyField(dst: ReflectMessage, src: ReflectMessage, f: DescField): void {
  if (f.fieldKind === "list") {
    dst.clear(f);
    const out = dst.get(f) as ReflectList;
    for (const el of src.get(f) as ReflectList) out.add(el as never);
    dst.set(f, out as never);
    return;
  }
  dst.set(f, src.get(f) as never);
}

function unionInto(view: ReflectMessage, input: ReflectMessage, f: DescField): void {
  if (!input.isSet(f)) return;
  const cur = view.get(f) as ReflectList;
  const seen = new Set<string>();
  for (const el of cur) seen.add(elementKey(el));
  for (const el of input.get(f) as ReflectList) {
    const k = elementKey(el);
    if (!seen.has(k)) {
      seen.add(k);
      cur.add(el as never);
    }
  }
  view.set(f, cur as never);
}

/**
 * Reports whether item i of v's list field name is an item of base's list
 * too, at any place (compared by value, as the set union compares).
 */
export function keptItem(desc: DescMessage, v: Message, base: Message, name: string, i: number): boolean {
  const f = fieldByName(desc, name);
  if (!f || f.fieldKind !== "list") return false;
  const items = reflect(desc, v).get(f) as ReflectList;
  if (i >= items.size) return false;
  const k = elementKey(items.get(i));
  for (const el of reflect(desc, base).get(f) as ReflectList) if (elementKey(el) === k) return true;
  return false;
}

/** Identifies a list element by value (messages by their encoding), as the server's set union does. */
function elementKey(v: unknown): string {
  if (v instanceof Uint8Array) return "b:" + Array.from(v).join(",");
  if (v && typeof v === "object" && "desc" in v && "message" in v) {
    const m = v as ReflectMessage;
    return "m:" + Array.from(toBinary(m.desc, m.message)).join(",");
  }
  return typeof v + ":" + String(v);
}

/** Decodes wire bytes of a record type into a reflected message. */
export function decode(desc: DescMessage, b: Uint8Array): ReflectMessage {
  return reflect(desc, fromBinary(desc, b));
}
