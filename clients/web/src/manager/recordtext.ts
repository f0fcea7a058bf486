/**
 * A record the screens did not lay out by hand (a record an alert cites),
 * as rows of words: each set field's words (../words) and its value as a
 * person reads it — an enum value's words, a time in the app's language,
 * an id by the name of what it names (left out when no name is known),
 * money as the language writes it. Never a proto name, an enum name or a
 * wire timestamp. Pure: unit-tested.
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { currentLang, fmtTime, t, type Key } from "../i18n";
import { enumWords, fieldWords } from "../words";

/** An amount in cents of a currency, as the app's language writes money (Intl.NumberFormat: "CN¥12.00", "¥12.00"). */
export function fmtMoney(cents: bigint | number, currency: string): string {
  const n = Number(cents) / 100;
  try {
    return new Intl.NumberFormat(currentLang(), { style: "currency", currency: currency || "CNY" }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`; // a currency code Intl does not know
  }
}

/** Fields never shown as rows: photos have their own strip, keys and hashes mean nothing to a person. */
const HIDDEN = new Set(["photos", "pre_op_photo", "intra_op_photo", "post_op_count_photo", "diagnosis_photo_sha256s", "dedup_key", "sha256", "params"]);

type Any = Record<string, unknown>;

/** The rows [words of the field, its value in words] of msg's set fields, in the type's field order. */
export function recordRows(desc: DescMessage, msg: Message, names: Map<string, string>): [string, string][] {
  const out: [string, string][] = [];
  const m = msg as unknown as Any;
  for (const f of desc.fields) {
    if (HIDDEN.has(f.name)) continue;
    const label = fieldWords(f.name);
    const text = label ? valueText(f, m[f.localName], m, names) : "";
    if (text) out.push([label, text]);
  }
  return out;
}

const join = (xs: string[]) => xs.filter(Boolean).join(currentLang() === "zh-CN" ? "、" : ", ");

/** One field's value in words; "" when unset or when there is nothing a person could read in it. */
function valueText(f: DescField, v: unknown, msg: Any, names: Map<string, string>): string {
  switch (f.fieldKind) {
    case "scalar": return scalarText(f.name, v, msg, names);
    case "enum": return v ? enumWords(f.enum.values.find((e) => e.number === v)?.name ?? "") : "";
    case "message": return messageText(f.message.typeName, v as Any | undefined, names);
    case "list":
      if (f.listKind === "scalar") return join((v as unknown[]).map((x) => scalarText(f.name, x, msg, names)));
      if (f.listKind === "enum") return join((v as number[]).map((x) => enumWords(f.enum.values.find((e) => e.number === x)?.name ?? "")));
      return join((v as Any[]).map((x) => messageText(f.message.typeName, x, names)));
    default: return "";
  }
}

function scalarText(name: string, v: unknown, msg: Any, names: Map<string, string>): string {
  if (v === undefined || v === "" || v === 0 || v === 0n || v === false) return "";
  if (v === true) return t("yes");
  if (name.endsWith("_id") || name.endsWith("_ids")) return names.get(String(v)) ?? ""; // an id without a name means nothing
  if (name.endsWith("_cents")) return fmtMoney(v as bigint, String(msg.currency ?? ""));
  if (name === "action_tags" && `tag_${String(v)}` in TAGS) return t(`tag_${String(v)}` as Key);
  if (typeof v === "bigint" || typeof v === "number") return new Intl.NumberFormat(currentLang()).format(v);
  return String(v);
}

const TAGS = { tag_first_contact: 1, tag_price_negotiation: 1, tag_technical_demo: 1, tag_decision_maker_confirmed: 1 };

function messageText(typeName: string, v: Any | undefined, names: Map<string, string>): string {
  if (!v) return "";
  switch (typeName) {
    case "google.protobuf.Timestamp": return fmtTime(new Date(Number(v.seconds as bigint) * 1000 + Math.floor(Number(v.nanos ?? 0) / 1e6)));
    case "fieldsync.v1.TechnicalParameter": return v.name ? `${String(v.name)}: ${String(v.value ?? "")}` : "";
    case "fieldsync.v1.ShipmentItem":
    case "fieldsync.v1.QuoteLine": return v.productId ? `${names.get(String(v.productId)) ?? String(v.productId)} ×${String(v.quantity ?? 0)}` : "";
    case "fieldsync.v1.Contact": return [v.name, v.title, v.phone].filter(Boolean).join(" ");
    default: return "";
  }
}
