/**
 * PHI data shaping for the charts: daily PHI rows aligned on the asked
 * dates (gaps where a day or a component has no events), the targets from
 * the tenant's insights configuration (documented defaults otherwise), and
 * the drill-down links region → store → rep. Pure: unit-tested.
 */
import type { PhiDay } from "../../../ts/dist/gen/fieldsync/v1/insights_pb.js";
import { ScopeKind } from "../../../ts/dist/gen/fieldsync/v1/insights_pb.js";

/** One chart's data: the x axis (dates) and a line per component and the index, in percent (null: no PHI). */
export interface PhiSeriesData {
  dates: string[];
  index: (number | null)[];
  keyAction: (number | null)[];
  quality: (number | null)[];
  collaboration: (number | null)[];
}

/** The components' targets and the index's, in percent. */
export interface Targets {
  keyAction: number;
  quality: number;
  collaboration: number;
  index: number;
}

/** docs/domain.md: key action ≥ 95%, quality ≥ 90%, collaboration ≥ 90%, weighed 0.4 / 0.3 / 0.3. */
export const DEFAULT_TARGETS = { keyAction: 0.95, quality: 0.9, collaboration: 0.9 } as const;
export const DEFAULT_WEIGHTS = { keyAction: 0.4, quality: 0.3, collaboration: 0.3 } as const;

const DAY = 86_400_000;

/** The dates from..to inclusive (YYYY-MM-DD, UTC calendar); empty when to is before from. */
export function dateRange(from: string, to: string): string[] {
  const start = Date.parse(from + "T00:00:00Z");
  const end = Date.parse(to + "T00:00:00Z");
  if (Number.isNaN(start) || Number.isNaN(end)) return [];
  const out: string[] = [];
  for (let d = start; d <= end && out.length < 400; d += DAY) out.push(new Date(d).toISOString().slice(0, 10));
  return out;
}

/** The last n days up to today (UTC), as GetPhi wants them. */
export function lastDays(n: number, now = new Date()): { from: string; to: string } {
  const to = now.toISOString().slice(0, 10);
  return { from: new Date(Date.parse(to) - (n - 1) * DAY).toISOString().slice(0, 10), to };
}

const pct = (v: number) => Math.round(v * 1000) / 10;

/** Aligns days on dates: each component in percent where the day has it, the index where any component is. */
export function alignSeries(days: readonly PhiDay[], dates: readonly string[]): PhiSeriesData {
  const byDate = new Map(days.map((d) => [d.date, d]));
  const col = (f: (d: PhiDay) => number | null) => dates.map((date) => {
    const d = byDate.get(date);
    return d ? f(d) : null;
  });
  return {
    dates: [...dates],
    index: col((d) => (d.hasKeyAction || d.hasQuality || d.hasCollaboration ? Math.round(d.index * 10) / 10 : null)),
    keyAction: col((d) => (d.hasKeyAction ? pct(d.keyActionCompletion) : null)),
    quality: col((d) => (d.hasQuality ? pct(d.actionQuality) : null)),
    collaboration: col((d) => (d.hasCollaboration ? pct(d.collaborationTimeliness) : null)),
  };
}

interface Components { key_action?: unknown; quality?: unknown; collaboration?: unknown }

/**
 * The targets of an insights configuration (GetInsightsConfig's JSON; the
 * defaults for what it lacks or when there is none). The index's target is
 * the components' targets weighed as the index weighs them.
 */
export function targetsFrom(configJson?: string): Targets {
  let phi: { targets?: Components; weights?: Components } = {};
  try {
    phi = (configJson ? (JSON.parse(configJson) as { phi?: typeof phi }).phi : undefined) ?? {};
  } catch {
    phi = {};
  }
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  const t = {
    keyAction: num(phi.targets?.key_action, DEFAULT_TARGETS.keyAction),
    quality: num(phi.targets?.quality, DEFAULT_TARGETS.quality),
    collaboration: num(phi.targets?.collaboration, DEFAULT_TARGETS.collaboration),
  };
  const w = {
    keyAction: num(phi.weights?.key_action, DEFAULT_WEIGHTS.keyAction),
    quality: num(phi.weights?.quality, DEFAULT_WEIGHTS.quality),
    collaboration: num(phi.weights?.collaboration, DEFAULT_WEIGHTS.collaboration),
  };
  const sum = w.keyAction + w.quality + w.collaboration;
  const index = sum > 0 ? (w.keyAction * t.keyAction + w.quality * t.quality + w.collaboration * t.collaboration) / sum : 0;
  return { keyAction: pct(t.keyAction), quality: pct(t.quality), collaboration: pct(t.collaboration), index: pct(index) };
}

/** A place on the drill-down path. */
export type Level = "region" | "store" | "rep";

/** The PHI route of a place: #/manager/phi/<level>/<id>, with its name to show when known. */
export function phiRoute(level: Level, id: string, name = ""): string {
  return `#/manager/phi/${level}/${encodeURIComponent(id)}` + (name ? `?name=${encodeURIComponent(name)}` : "");
}

/** The level of a scope kind (unspecified: none). */
export function levelOf(kind: ScopeKind): Level | null {
  switch (kind) {
    case ScopeKind.REGION: return "region";
    case ScopeKind.STORE: return "store";
    case ScopeKind.REP: return "rep";
    default: return null;
  }
}

/** The scope kind of a level. */
export function kindOf(level: Level): ScopeKind {
  return level === "region" ? ScopeKind.REGION : level === "store" ? ScopeKind.STORE : ScopeKind.REP;
}

/** The latest index of a series and its change from the previous day with PHI (null when fewer than two days). */
export function latestChange(index: readonly (number | null)[]): { latest: number | null; change: number | null } {
  const seen = index.filter((v): v is number => v !== null);
  const latest = seen.at(-1) ?? null;
  const prev = seen.at(-2);
  return { latest, change: latest !== null && prev !== undefined ? Math.round((latest - prev) * 10) / 10 : null };
}

/** Whether a series falls: its latest index is below the one before it by more than drop (a fraction; A3's 0.15). */
export function falling(index: readonly (number | null)[], drop = 0.15): boolean {
  const seen = index.filter((v): v is number => v !== null);
  if (seen.length < 2) return false;
  const [prev, cur] = seen.slice(-2);
  return prev > 0 && prev - cur > drop * prev;
}
