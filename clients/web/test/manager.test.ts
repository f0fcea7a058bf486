// The managers' screens' data shaping: PHI series on the date axis, targets
// from the insights configuration, the drill-down links, the fleet's order,
// grants in force, and the insights configuration form's checks.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { DeviceSchema } from "../../ts/dist/gen/fieldsync/v1/admin_pb.js";
import { AccessGrantSchema, PhiDaySchema, ScopeKind } from "../../ts/dist/gen/fieldsync/v1/insights_pb.js";
import { DeviceStatusSchema } from "@fieldsync/client";
import { activeGrants } from "../src/manager/a3";
import { sortAlerts } from "../src/manager/alerts";
import { applyForm, checkForm, formValues } from "../src/manager/configform";
import { fleetOrder, isStale } from "../src/manager/fleet";
import { alignSeries, dateRange, falling, kindOf, lastDays, latestChange, levelOf, phiRoute, targetsFrom } from "../src/manager/phi";
import { managerDictionaries } from "../src/manager/text";

const day = (date: string, f: Partial<{ k: number; q: number; c: number; index: number }>) => create(PhiDaySchema, {
  date, index: f.index ?? 0,
  keyActionCompletion: f.k ?? 0, hasKeyAction: f.k !== undefined,
  actionQuality: f.q ?? 0, hasQuality: f.q !== undefined,
  collaborationTimeliness: f.c ?? 0, hasCollaboration: f.c !== undefined,
});

describe("PHI series", () => {
  it("spans the asked dates inclusive, across a month's end", () => {
    expect(dateRange("2026-11-29", "2026-12-02")).toEqual(["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
    expect(dateRange("2026-12-02", "2026-12-01")).toEqual([]);
    expect(dateRange("nope", "2026-12-01")).toEqual([]);
    expect(lastDays(30, new Date("2026-12-01T23:00:00Z"))).toEqual({ from: "2026-11-02", to: "2026-12-01" });
    expect(dateRange(lastDays(30).from, lastDays(30).to)).toHaveLength(30);
  });

  it("aligns days on the dates in percent, with gaps where a day or a component has no events", () => {
    const s = alignSeries([day("2026-11-30", { k: 0.5, q: 1, index: 65 }), day("2026-12-02", { c: 0.123, index: 12.34 }), day("2026-12-01", {})],
      dateRange("2026-11-29", "2026-12-02"));
    expect(s.dates).toHaveLength(4);
    expect(s.index).toEqual([null, 65, null, 12.3]); // 12-01 has no component: no index either
    expect(s.keyAction).toEqual([null, 50, null, null]);
    expect(s.quality).toEqual([null, 100, null, null]);
    expect(s.collaboration).toEqual([null, null, null, 12.3]);
  });

  it("marks a fall of more than the drop, and reads the latest change over gaps", () => {
    expect(falling([null, 80, null, 60])).toBe(true); // −25%
    expect(falling([80, 68])).toBe(false); // exactly −15% is not more
    expect(falling([80])).toBe(false);
    expect(falling([0, 0])).toBe(false);
    expect(latestChange([null, 80, null, 60])).toEqual({ latest: 60, change: -20 });
    expect(latestChange([null, 70])).toEqual({ latest: 70, change: null });
    expect(latestChange([])).toEqual({ latest: null, change: null });
  });
});

describe("PHI targets", () => {
  it("are the documented defaults without a readable configuration: 95/90/90, index weighed 0.4/0.3/0.3", () => {
    expect(targetsFrom()).toEqual({ keyAction: 95, quality: 90, collaboration: 90, index: 92 });
    expect(targetsFrom("not json")).toEqual(targetsFrom());
  });

  it("come from the configuration, missing values defaulted, the index target weighed by its weights", () => {
    const cfg = JSON.stringify({ phi: { targets: { key_action: 0.8, quality: 0.6 }, weights: { key_action: 1, quality: 1, collaboration: 0 } } });
    expect(targetsFrom(cfg)).toEqual({ keyAction: 80, quality: 60, collaboration: 90, index: 70 });
    expect(targetsFrom(JSON.stringify({ phi: { targets: { quality: "x" } } })).quality).toBe(90);
  });
});

describe("PHI drill-down", () => {
  it("links region → store → rep by scope kind, names carried in the route", () => {
    expect(levelOf(ScopeKind.REGION)).toBe("region");
    expect(levelOf(ScopeKind.STORE)).toBe("store");
    expect(levelOf(ScopeKind.REP)).toBe("rep");
    expect(levelOf(ScopeKind.UNSPECIFIED)).toBeNull();
    for (const l of ["region", "store", "rep"] as const) expect(levelOf(kindOf(l))).toBe(l);
    expect(phiRoute("rep", "u/1", "Li Wei")).toBe("#/manager/phi/rep/u%2F1?name=Li%20Wei");
    expect(phiRoute("store", "s1")).toBe("#/manager/phi/store/s1");
  });
});

describe("fleet", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const dev = (id: string, oldestMs?: number, opts: { revoked?: boolean; synced?: boolean } = {}) => create(DeviceSchema, {
    id, name: id,
    oldestUnsyncedTime: oldestMs === undefined ? undefined : timestampFromMs(oldestMs),
    revokeTime: opts.revoked ? timestampFromMs(now) : undefined,
    status: create(DeviceStatusSchema, { lastSyncTime: opts.synced ? timestampFromMs(now) : undefined }),
  });

  it("lists the oldest unsynced write first, never-synced next, revoked last", () => {
    const order = fleetOrder([dev("ok", undefined, { synced: true }), dev("revoked", now - 9e7, { revoked: true }), dev("new"), dev("late", now - 9e7), dev("later", now - 1e6)]);
    expect(order.map((d) => d.id)).toEqual(["late", "later", "new", "ok", "revoked"]);
  });

  it("calls a device stale when its oldest unsynced write is older than 24 h", () => {
    expect(isStale(dev("a", now - 25 * 3600_000), now)).toBe(true);
    expect(isStale(dev("b", now - 23 * 3600_000), now)).toBe(false);
    expect(isStale(dev("c"), now)).toBe(false);
    expect(isStale(dev("d", now - 9e7, { revoked: true }), now)).toBe(false);
  });
});

describe("A3 grants and alerts", () => {
  it("keeps the grants whose expiry is after now", () => {
    const g = (id: string, exp: number) => create(AccessGrantSchema, { id, expireTime: timestampFromMs(exp) });
    expect(activeGrants([g("past", 1000), g("now", 2000), g("future", 3000)], 2000).map((x) => x.id)).toEqual(["future"]);
  });

  it("sorts the inbox unacknowledged first, newest first", () => {
    const a = (id: string, s: number, ack = false) => ({ id, value: { raisedTime: { seconds: BigInt(s) }, acknowledgedTime: ack ? {} : undefined } });
    expect(sortAlerts([a("old", 1), a("ackNew", 9, true), a("new", 5)]).map((x) => x.id)).toEqual(["new", "old", "ackNew"]);
  });
});

describe("the insights configuration form", () => {
  const stored = JSON.stringify({ phi: { time_zone: "Asia/Shanghai", targets: { key_action: 0.95, quality: 0.9, collaboration: 0.9 }, weights: { key_action: 0.4, quality: 0.3, collaboration: 0.3 } },
    rules: { conflict_window: "72h0m0s", intervention_drop: 0.15, intervention_days: 3, grant_duration: "72h0m0s", abnormal_records: 3, stale_device_age: "24h0m0s", stall_tag: "x" } });

  it("reads the stored values and writes them back as numbers and durations, keeping what it does not show", () => {
    const v = formValues(stored);
    expect(v["phi.targets.key_action"]).toBe("0.95");
    expect(v["rules.grant_duration"]).toBe("72h0m0s");
    expect(checkForm(v)).toEqual({});
    const out = JSON.parse(applyForm(stored, { ...v, "phi.targets.quality": "0.8", "rules.grant_duration": "30s" }));
    expect(out.phi.targets.quality).toBe(0.8);
    expect(out.rules.grant_duration).toBe("30s");
    expect(out.phi.time_zone).toBe("Asia/Shanghai");
    expect(out.rules.stall_tag).toBe("x");
  });

  it("refuses what the server refuses: targets outside (0, 1], negative or all-zero weights, bad durations and counts", () => {
    const v = formValues(stored);
    const bad = (k: string, x: string) => Object.keys(checkForm({ ...v, [k]: x }));
    expect(bad("phi.targets.key_action", "0")).toEqual(["phi.targets.key_action"]);
    expect(bad("phi.targets.quality", "1.2")).toEqual(["phi.targets.quality"]);
    expect(bad("phi.targets.quality", "abc")).toEqual(["phi.targets.quality"]);
    expect(bad("phi.weights.quality", "-1")).toEqual(["phi.weights.quality"]);
    expect(bad("rules.intervention_drop", "1")).toEqual(["rules.intervention_drop"]);
    expect(bad("rules.intervention_days", "1.5")).toEqual(["rules.intervention_days"]);
    expect(bad("rules.conflict_window", "3 days")).toEqual(["rules.conflict_window"]);
    expect(bad("rules.grant_duration", "0s")).toEqual(["rules.grant_duration"]);
    expect(Object.keys(checkForm({ ...v, "phi.weights.key_action": "0", "phi.weights.quality": "0", "phi.weights.collaboration": "0" }))).toEqual(["phi.weights.key_action"]);
  });
});

describe("the managers' words", () => {
  it("are all in English and Chinese, with the same placeholders", () => {
    const { en, "zh-CN": zh } = managerDictionaries;
    const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort();
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(en[k], k).not.toBe("");
      expect(zh[k], k).not.toBe("");
      expect(holes(zh[k]), k).toEqual(holes(en[k]));
    }
  });
});
