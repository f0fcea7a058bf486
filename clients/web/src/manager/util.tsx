/** Small helpers the managers' screens share: who is asking, async loading, timestamps. */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";
import type { WhoAmIResponse } from "@fieldsync/client";
import { CustomerSchema } from "@fieldsync/client";
import { fmtAgo, fmtTime } from "../i18n";
import { session } from "../session";
import { Role } from "../../../ts/dist/gen/fieldsync/v1/options_pb.js";
import { ScopeKind } from "../../../ts/dist/gen/fieldsync/v1/insights_pb.js";
import { api } from "./api";
import { m } from "./text";

let whoP: Promise<WhoAmIResponse> | null = null;

/** The caller as the server knows them (asked once per page). */
export function whoAmI(): Promise<WhoAmIResponse> {
  whoP ??= api().then((a) => a.identity.whoAmI({})).catch((err) => ((whoP = null), Promise.reject(err)));
  return whoP;
}

let namesP: Promise<Map<string, string>> | null = null;

/**
 * Names of the people, stores and regions the caller sees, by id: every
 * user and place for an admin, the region's (or store's) people and stores
 * from the PHI drill-down for a manager; empty when neither answers;
 * and the customers the device holds.
 */
export function names(): Promise<Map<string, string>> {
  namesP ??= (async () => {
    const out = new Map<string, string>();
    try {
      const a = await api();
      const who = await whoAmI();
      if (who.role === Role.ADMIN) {
        const [users, org] = await Promise.all([a.admin.listUsers({}), a.admin.getOrganization({})]);
        for (const u of users.users) out.set(u.id, u.displayName);
        for (const p of [...org.regions, ...org.stores]) out.set(p.id, p.name);
      } else {
        out.set(who.userId, who.userName);
        const scope = who.regionId ? { scopeKind: ScopeKind.REGION, scopeId: who.regionId } : who.storeId ? { scopeKind: ScopeKind.STORE, scopeId: who.storeId } : null;
        if (scope) {
          const r = await a.dashboard.getPhiDrilldown(scope);
          for (const s of [r.parent, ...r.children]) if (s?.name) out.set(s.scopeId, s.name);
        }
      }
    } catch {
      namesP = null; // asked again next time (offline, or a drill-down this role may not read)
    }
    // The customers (and terminals) this device holds, for the records and alerts that cite them.
    const local = await session()?.client.list(CustomerSchema).catch(() => []);
    for (const c of local ?? []) if (c.value.name && !out.has(c.id)) out.set(c.id, c.value.name);
    return out;
  })();
  return namesP;
}

/** The names map (empty until it arrives). */
export function useNames(): Map<string, string> {
  const [map, setMap] = useState(new Map<string, string>());
  useEffect(() => void names().then(setMap), []);
  return map;
}

/** The state of one async load. */
export type Loaded<T> = { state: "loading" } | { state: "error"; msg: string } | { state: "done"; value: T };

/** Runs load when deps change; reload() runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [res, setRes] = useState<Loaded<T>>({ state: "loading" });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setRes({ state: "loading" });
    load().then((value) => live && setRes({ state: "done", value }), (err) => live && setRes({ state: "error", msg: errText(err) }));
    return () => void (live = false);
  }, [...deps, n]);
  return [res, () => setN((x) => x + 1)];
}

/** An error's message for a person: a Connect error's raw message (the server's words), else the text. */
export function errText(err: unknown): string {
  const e = err as { rawMessage?: string; message?: string };
  if (!navigator.onLine) return m("needsNetwork");
  return e?.rawMessage ?? e?.message ?? String(err);
}

/** What a pending or failed load shows; null once done. */
export function Status<T>({ res }: { res: Loaded<T> }) {
  if (res.state === "loading") return <p class="muted">{m("loading")}</p>;
  if (res.state === "error") return <p class="error" data-testid="mgr-error">{m("failed", { msg: res.msg })}</p>;
  return null;
}

/** A Timestamp as a Date (undefined when unset). */
export function tsToDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

/** A Timestamp, short, in the app's language ("" when unset). */
export function fmtTs(ts: Timestamp | undefined): string {
  return fmtTime(tsToDate(ts));
}

/** How long ago a Timestamp was ("5 min. ago", "5分钟前"; the date beyond a week; "" when unset). */
export function fmtAgoTs(ts: Timestamp | undefined): string {
  return fmtAgo(tsToDate(ts));
}
