// The SDK runs buf.validate's RE2 patterns as JavaScript regular expressions
// (src/regex.ts). These tests hold the translation to RE2's meaning: every
// pattern of the SDK's schemas, and a table of the subset's constructs, give
// the same answers as RE2 itself (@bufbuild/re2, protovalidate's default) on
// a corpus of hand-picked and generated strings.
import { createRegistry, getOption, hasOption, type DescField, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { isReflectMessage, reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { field as fieldRules, message as messageRules, predefined as predefinedRules, FieldRulesSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { RE2JS } from "@bufbuild/re2";
import { describe, expect, it } from "vitest";
import { file_fieldsync_v1_admin } from "../src/gen/fieldsync/v1/admin_pb.js";
import { file_fieldsync_v1_dashboard } from "../src/gen/fieldsync/v1/dashboard_pb.js";
import { file_fieldsync_v1_events } from "../src/gen/fieldsync/v1/events_pb.js";
import { file_fieldsync_v1_identity } from "../src/gen/fieldsync/v1/identity_pb.js";
import { file_fieldsync_v1_insights } from "../src/gen/fieldsync/v1/insights_pb.js";
import { file_fieldsync_v1_integration } from "../src/gen/fieldsync/v1/integration_pb.js";
import { file_fieldsync_v1_media } from "../src/gen/fieldsync/v1/media_pb.js";
import { file_fieldsync_v1_query } from "../src/gen/fieldsync/v1/query_pb.js";
import { file_fieldsync_v1_rating } from "../src/gen/fieldsync/v1/rating_pb.js";
import { file_fieldsync_v1_records } from "../src/gen/fieldsync/v1/records_pb.js";
import { file_fieldsync_v1_sync } from "../src/gen/fieldsync/v1/sync_pb.js";
import { file_fieldsync_v1_system } from "../src/gen/fieldsync/v1/system_pb.js";
import { file_fieldsync_v1_text } from "../src/gen/fieldsync/v1/text_pb.js";
import { jsRegexMatch, translateRE2, UntranslatableRegexError } from "../src/regex.js";

const FILES: DescFile[] = [
  file_fieldsync_v1_admin, file_fieldsync_v1_dashboard, file_fieldsync_v1_events, file_fieldsync_v1_identity,
  file_fieldsync_v1_insights, file_fieldsync_v1_integration, file_fieldsync_v1_media, file_fieldsync_v1_query,
  file_fieldsync_v1_rating, file_fieldsync_v1_records, file_fieldsync_v1_sync, file_fieldsync_v1_system,
  file_fieldsync_v1_text,
];

/**
 * Every string.pattern / bytes.pattern (at any depth of a field's rules),
 * every literal matches() of a CEL rule, and those of the predefined rules
 * (extensions of buf.validate's rule messages, e.g. text.proto's
 * printable_name) that a field's rules use.
 */
function schemaPatterns(): Map<string, string> {
  const out = new Map<string, string>(); // pattern → where
  const reg = createRegistry(...FILES);
  const fromCel = (expr: string, where: string) => {
    for (const m of expr.matchAll(/matches\((r?)'((?:[^'\\]|\\.)*)'\)/g)) {
      if (m[1] !== "r") throw new Error(`${where}: a non-raw CEL string literal; unescape it here before checking it`);
      out.set(m[2], where);
    }
    if (/matches\((?!r?')/.test(expr)) throw new Error(`${where}: matches() of a non-literal pattern: ${expr}`);
  };
  const walk = (m: ReflectMessage, where: string) => {
    // A predefined rule is an extension, kept among the unknown fields: its
    // CEL is on the extension's declaration, which must be in FILES.
    for (const u of m.getUnknown() ?? []) {
      const ext = reg.getExtensionFor(m.desc, u.no);
      if (!ext) throw new Error(`${where}: ${m.desc.typeName} has extension ${u.no}, not in FILES`);
      if (!hasOption(ext, predefinedRules)) throw new Error(`${where}: ${ext.typeName} is not a predefined rule`);
      for (const c of getOption(ext, predefinedRules).cel) fromCel(c.expression, `${where} (${ext.typeName})`);
    }
    for (const f of m.fields) {
      if (!m.isSet(f)) continue;
      const v = m.get(f);
      if (f.name === "pattern" && typeof v === "string") out.set(v, where);
      else if (f.name === "expression" && typeof v === "string") fromCel(v, where);
      else if (isReflectMessage(v)) walk(v, where);
      else if (f.fieldKind === "list") for (const e of v as Iterable<unknown>) if (isReflectMessage(e)) walk(e, where);
    }
  };
  for (const t of reg) {
    if (t.kind !== "message") continue;
    const msg = t as DescMessage;
    if (hasOption(msg, messageRules)) for (const c of getOption(msg, messageRules).cel) fromCel(c.expression, msg.typeName);
    for (const f of msg.fields as DescField[]) {
      if (hasOption(f, fieldRules)) walk(reflect(FieldRulesSchema, getOption(f, fieldRules)), `${msg.typeName}.${f.name}`);
    }
  }
  return out;
}

/** A deterministic corpus: hand-picked strings, then generated ones over an alphabet that tells the engines apart. */
function corpus(extra: string[] = []): string[] {
  const alphabet = [
    "a", "z", "A", "Z", "0", "9", "_", "-", ":", ".", " ", "\t", "\n", "\r", "\f", "\v", "\x00", "\x01", "\x1f", "\x7f",
    "\x80", "\x85", "\x9f", "\x1b", "\u00a0", "\u2028", "\u2029", "\u202a", "\u202e", "\u202f", "\u2065", "\u2066", "\u2069", "\u206a", "\u200f", "\u3000", "\ufeff", "\u3164", "\u115f", "\uffa0", "\u2800", "\u034f", "\u061c", "\ufe0f", "\u{e0041}", "\u{e0100}", "\u{1d173}", "\u{1bca0}", "\u{e01f0}", "中", "é", "😀", "!", "~", "'", "\\", "[", "]", "(", ")",
    "\u00ad", "\u00ae", "\u1680", "\u180e", "\u1fff", "\u2000", "\u200a", "\u200b", "\u2010", "\u2027", "\u2030", "\u205e", "\u205f", "\u2064", "\u2065", "\u2fff", "\u3001", "\ufefe", "\uff00",
    "read", "write", "2026", "-12-", "03", "x", "_id",
  ];
  const out = ["", " ", "a", "\n", "2026-12-03", "01HZX3K2V9", "x".repeat(64), "x".repeat(65), "a_b:read", "a_b:write", "a_b:wrote",
    "v1.2.0", "(devel)", "1.0 beta", "Zhang Wei", "张伟", " 张伟 ", "\u3000", "\u3000\u3000", "\u00a0", "a\x00b", "tab\there", "\x7f", "😀", ...extra];
  let seed = 0x2545f491;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
  for (let n = 0; n < 3000; n++) {
    let s = "";
    for (let k = next() % 12; k > 0; k--) s += alphabet[next() % alphabet.length];
    out.push(s);
  }
  return out;
}

const re2 = (p: string, s: string) => RE2JS.compile(p).test(s);

describe("RE2 patterns as JavaScript regular expressions", () => {
  it("translates every pattern of the SDK's schemas, each matching as RE2 does", () => {
    const patterns = schemaPatterns();
    // The schemas' patterns today (record ids, versions, dates, scopes, printable names and text): the walk must find them.
    expect(patterns.size).toBeGreaterThanOrEqual(6);
    expect([...patterns.keys()]).toContain("^[0-9A-Za-z_-]{1,64}$");
    expect([...patterns.keys()]).toContain("^[^\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}]*[^\\x00-\\x20\\x7f-\\xa0\\xad\\x{34f}\\x{61c}\\x{115f}\\x{1160}\\x{1680}\\x{17b4}\\x{17b5}\\x{180b}-\\x{180f}\\x{2000}-\\x{200f}\\x{2028}-\\x{202f}\\x{205f}-\\x{206f}\\x{2800}\\x{3000}\\x{3164}\\x{fe00}-\\x{fe0f}\\x{feff}\\x{ffa0}\\x{fff0}-\\x{fff8}\\x{1bca0}-\\x{1bca3}\\x{1d173}-\\x{1d17a}\\x{e0000}-\\x{e0fff}][^\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}]*$");
    expect([...patterns.keys()]).toContain("^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}]*$");
    const strings = corpus();
    for (const [p, where] of patterns) {
      for (const s of strings) {
        if (jsRegexMatch(p, s) !== re2(p, s)) expect.fail(`${where}: ${JSON.stringify(p)} on ${JSON.stringify(s)}: RE2 says ${re2(p, s)}`);
      }
    }
  });

  it.each([
    ["a.b"], ["^\\d+$"], ["\\D"], ["\\bread\\b"], ["\\Bea"], ["[^\\s]"], ["\\s"], ["\\S+"], ["\\w+:\\W"], ["[\\d_-]+"],
    ["[\\w.]"], ["x{2,3}"], ["x{2}"], ["x{2,}"], ["(?:ab|cd)+"], ["(a|b)*c"], ["(?P<n>a)b"], ["\\x{4e2d}"], ["\\x41"],
    ["[]a]"], ["[^]a]"], ["[a-]"], ["a|"], ["|a"], ["\\.\\-\\[\\]"], ["^$"], ["\\A2026\\z"], ["[\\x00-\\x1f\\x7f]"],
    ["\\t|\\n|\\r|\\f|\\v|\\a"], ["a*?b"], ["a+?"], ["a??"], ["[中-文]"], ["😀"], ["[😀é]"], ["^(read|write)$"],
    ["^[a-z_]+:(read|write)$"], ["^[0-9]{4}-[0-9]{2}-[0-9]{2}$"], ["^[\\x21-\\x7e]*$"], ["."], ["^.$"], ["^.*$"],
    ["^([0-9]{4}-[0-9]{2})?$"], ["(x+)?y"], ["(x{2}){2}"], ["(?:x|ab){1,3}$"],
  ])("%s matches as RE2 does", (p) => {
    const strings = corpus(["ab", "cd", "abcd", "aab", "xx", "xxx", "xxxx", "A", "中文", "文", "\x07", "a\nb", "read it", "2026"]);
    translateRE2(p); // translatable
    for (const s of strings) {
      if (jsRegexMatch(p, s) !== re2(p, s)) expect.fail(`${JSON.stringify(p)} on ${JSON.stringify(s)}: RE2 says ${re2(p, s)}`);
    }
  });

  it.each([
    ["(a+)+", "nested quantifiers"], ["(?:a*b?)*", "nested quantifiers"], ["((a+)?)+", "nested quantifiers"], ["(a+){2}", "nested quantifiers"], ["(?i)a", "group flags"], ["(?s).", "group flags"],
    ["\\pL", "escape \\p"], ["\\p{Greek}", "escape \\p"], ["[[:alpha:]]", "POSIX class"], ["a{", "not a repeat"], ["a{1001}", "repeat count"],
    ["a{3,2}", "repeat count"], ["a**", "repeated quantifier"], ["*a", "nothing to repeat"], ["(", "unbalanced ("], [")", "unbalanced )"],
    ["[a", "unterminated class"], ["\\", "trailing backslash"], ["\\x{110000}", "bad hex"], ["[\\S]", "in a class"], ["[z-a]", "out of order"],
    ["\\1", "escape \\1"], ["\\Q.\\E", "escape \\Q"],
  ])("refuses %s (%s)", (p, why) => {
    expect(() => translateRE2(p)).toThrow(UntranslatableRegexError);
    expect(() => translateRE2(p)).toThrow(why);
  });
});
