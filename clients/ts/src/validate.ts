import type { DescMessage, Message } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { registry } from "./fields.js";

// This module carries protovalidate (CEL, RE2): the SDK's entry loads it
// only when asked (loadValidation) or on the first local write, so a page
// that opens and reads the store does not evaluate it.

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
  validator ??= createValidator({ registry });
  const res = validator.validate(desc, value);
  if (res.kind === "valid") return [];
  if (res.kind === "error") throw res.error;
  const out = res.violations.map((v) => {
    const field = pathToString(v.field);
    const text = field === "" || v.message.startsWith(field) ? v.message : `${field}: ${v.message}`;
    return { field, message: v.message, ruleId: v.ruleId, text };
  });
  // The server's validator (protovalidate-go) checks a record's own rules
  // before its fields'; this one the other way round. Put them in the
  // server's order, so the joined text is the server's reason.
  return [...out.filter((v) => v.field === ""), ...out.filter((v) => v.field !== "")];
}

/** Joins violations as the server's rejection reason does: "a; b; c". */
export function violationText(vs: readonly Violation[]): string {
  return vs.map((v) => v.text).join("; ");
}
