/**
 * The insights configuration as a form: the fields a manager tunes, read
 * from and written back into the configuration's JSON (keys the form does
 * not show are kept), each checked before it is sent; the server checks
 * again and its message is shown when it refuses. Pure: unit-tested.
 */

/** A form field: its path in the JSON, its kind, and the range the server accepts (insights.Config.Validate). */
export interface ConfigField {
  path: readonly [string, string] | readonly [string, string, string];
  kind: "fraction" | "weight" | "count" | "duration";
}

export const CONFIG_FIELDS: readonly ConfigField[] = [
  { path: ["phi", "targets", "key_action"], kind: "fraction" },
  { path: ["phi", "targets", "quality"], kind: "fraction" },
  { path: ["phi", "targets", "collaboration"], kind: "fraction" },
  { path: ["phi", "weights", "key_action"], kind: "weight" },
  { path: ["phi", "weights", "quality"], kind: "weight" },
  { path: ["phi", "weights", "collaboration"], kind: "weight" },
  { path: ["rules", "conflict_window"], kind: "duration" },
  { path: ["rules", "intervention_drop"], kind: "weight" },
  { path: ["rules", "intervention_days"], kind: "count" },
  { path: ["rules", "grant_duration"], kind: "duration" },
  { path: ["rules", "abnormal_records"], kind: "count" },
  { path: ["rules", "stale_device_age"], kind: "duration" },
];

/** A field's name in the form: its path joined with dots. */
export const fieldName = (f: ConfigField): string => f.path.join(".");

type Obj = Record<string, unknown>;

/** What can be wrong with a field: the keys of the words for it in ./text. */
export type ConfigError = "err_duration" | "err_number" | "err_fraction" | "err_dropRange" | "err_nonNegative" | "err_count" | "err_weightsZero";

/** The form's values (as text) from a configuration's JSON. */
export function formValues(configJson: string): Record<string, string> {
  const cfg = JSON.parse(configJson) as Obj;
  const out: Record<string, string> = {};
  for (const f of CONFIG_FIELDS) {
    let v: unknown = cfg;
    for (const k of f.path) v = (v as Obj | undefined)?.[k];
    out[fieldName(f)] = v === undefined || v === null ? "" : String(v);
  }
  return out;
}

const DURATION = /^(\d+(\.\d+)?(h|m|s|ms))+$/;

/** What is wrong with one field's text as the key of its words in ./text (err_…), or "" (the server's ranges; durations as Go writes them, e.g. 72h, 30m). */
export function checkField(f: ConfigField, text: string): ConfigError | "" {
  const s = text.trim();
  if (f.kind === "duration") return DURATION.test(s) && !/^0+(\.0+)?(h|m|s|ms)$/.test(s) ? "" : "err_duration";
  const n = Number(s);
  if (s === "" || !Number.isFinite(n)) return "err_number";
  switch (f.kind) {
    case "fraction": return n > 0 && n <= 1 ? "" : "err_fraction";
    case "weight": return f.path[1] === "intervention_drop" ? (n >= 0 && n < 1 ? "" : "err_dropRange") : n >= 0 ? "" : "err_nonNegative";
    case "count": return Number.isInteger(n) && n >= 1 ? "" : "err_count";
  }
}

/** The form's problems by field name (weights all 0 is one too), as ConfigErrors; empty when it may be sent. */
export function checkForm(values: Record<string, string>): Record<string, ConfigError> {
  const errs: Record<string, ConfigError> = {};
  for (const f of CONFIG_FIELDS) {
    const e = checkField(f, values[fieldName(f)] ?? "");
    if (e) errs[fieldName(f)] = e;
  }
  const w = ["key_action", "quality", "collaboration"].map((k) => Number(values[`phi.weights.${k}`]));
  if (!errs["phi.weights.key_action"] && w.every((x) => x === 0)) errs["phi.weights.key_action"] = "err_weightsZero";
  return errs;
}

/** The configuration's JSON with the form's values written in (numbers as numbers, durations as text); other keys kept. */
export function applyForm(configJson: string, values: Record<string, string>): string {
  const cfg = JSON.parse(configJson) as Obj;
  for (const f of CONFIG_FIELDS) {
    const text = (values[fieldName(f)] ?? "").trim();
    let node = cfg;
    for (const k of f.path.slice(0, -1)) node = (node[k] ??= {}) as Obj;
    node[f.path[f.path.length - 1]] = f.kind === "duration" ? text : Number(text);
  }
  return JSON.stringify(cfg);
}
