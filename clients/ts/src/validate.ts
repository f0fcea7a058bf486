import { getOption, hasOption, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { isReflectMessage, pathToString, reflect, type Path, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { field as fieldRules, FieldRulesSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { keptItem, project, registry } from "./fields.js";
import { jsRegexMatch } from "./regex.js";

// This module carries protovalidate (CEL): the SDK's entry loads it only
// when asked (loadValidation) or on the first local write, so a page that
// opens and reads the store does not evaluate it. Its RE2 patterns run as
// JavaScript regular expressions (regex.ts), so a bundle can leave RE2 out.

/** One broken rule: the field at fault ("" for a rule of the whole record) and the message. */
export interface Violation {
  /** The field path, proto names, e.g. "customer_id"; "" for a message-level rule. */
  field: string;
  /** The rule's message, e.g. "core_problem_solved is required once a clinical-director visit is submitted". */
  message: string;
  /** The rule's id, e.g. "visit.core_problem_solved.required". */
  ruleId: string;
  /** The server's rendering: "field: message", or the message alone when it names the field already. */
  text: string;
  /**
   * The broken rule's own value, for a standard rule of a field: "64" for
   * string.max_len = 64 (so an app can word the message in its language);
   * "" for a rule of the record (CEL) or one without a scalar value.
   */
  value: string;
}

let validator: ReturnType<typeof createValidator> | null = null;

/**
 * Checks a record against its type's buf.validate rules, the same rules the
 * server applies on push: an empty list means the server will not reject it
 * as invalid. Use it to tell a form what is missing before it can submit;
 * each violation's text equals the server's rejection reason's part for it
 * (violationText joins them as the server does).
 */
export function validate(value: Message, schema?: DescMessage): Violation[] {
  const desc = schema ?? registry.getMessage(value.$typeName);
  if (!desc) throw new Error(`validate: unknown message type ${value.$typeName}`);
  validator ??= createValidator({ registry, regexMatch: jsRegexMatch });
  const res = validator.validate(desc, value);
  if (res.kind === "valid") return [];
  if (res.kind === "error") throw res.error;
  const out = res.violations.map((v) => {
    const field = pathToString(v.field);
    const text = field === "" || v.message.startsWith(field) ? v.message : `${field}: ${v.message}`;
    return { field, message: v.message, ruleId: v.ruleId, text, value: ruleValue(v.field, v.rule) };
  });
  // The server's validator (protovalidate-go) checks a record's own rules
  // before its fields'; this one the other way round. Put them in the
  // server's order, so the joined text is the server's reason.
  return [...out.filter((v) => v.field === ""), ...out.filter((v) => v.field !== "")];
}

/**
 * Checks a record's new local view as the server checks a write to a record
 * it holds: as validate does, except that when every violation lies in a
 * top-level field the view holds exactly as base (the server's record, as
 * last pulled) does, or in a list item base's list holds too (a set-union
 * list can never lose one), there are none. A value the server stored before a
 * rule was added or tightened (a customer's name with a line break) does
 * not refuse a write that leaves it alone; a write that changes it must
 * make it valid. With base null (a new record) it is validate.
 */
export function validateChange(value: Message, base: Message | null, schema?: DescMessage): Violation[] {
  const vs = validate(value, schema);
  if (base === null || vs.length === 0) return vs;
  const desc = schema ?? registry.getMessage(value.$typeName)!;
  const kept = (v: Violation) => {
    const [, name, index] = /^([^.[]*)(?:\[(\d+)\])?/.exec(v.field)!;
    if (name === "") return false;
    const a = project(desc, value, [name]);
    const b = project(desc, base, [name]);
    if (a.length === b.length && a.every((x, i) => x === b[i])) return true;
    return index !== undefined && keptItem(desc, value, base, name, Number(index));
  };
  return vs.every(kept) ? [] : vs;
}

/** The value of the rule at rulePath (within the buf.validate.field rules of the field path ends on); "" when there is none. */
function ruleValue(field: Path, rulePath: Path): string {
  const f = [...field].reverse().find((e): e is DescField => e.kind === "field");
  if (!f || rulePath.length === 0 || !hasOption(f, fieldRules)) return "";
  let m: ReflectMessage = reflect(FieldRulesSchema, getOption(f, fieldRules));
  for (const [i, e] of rulePath.entries()) {
    if (e.kind !== "field" || e.parent.typeName !== m.desc.typeName) return "";
    const v: unknown = m.get(e);
    if (i === rulePath.length - 1) return typeof v === "bigint" || typeof v === "number" || typeof v === "string" || typeof v === "boolean" ? String(v) : "";
    if (!isReflectMessage(v)) return "";
    m = v;
  }
  return "";
}

/** Joins violations as the server's rejection reason does: "a; b; c". */
export function violationText(vs: readonly Violation[]): string {
  return vs.map((v) => v.text).join("; ");
}
