/** PHI: a region's, store's or rep's last 30 days as line charts, targets dashed, drilling down region → store → rep. */
import { Role } from "../../../ts/dist/gen/fieldsync/v1/options_pb.js";
import { useMemo } from "preact/hooks";
import type { PhiSeries } from "../../../ts/dist/gen/fieldsync/v1/dashboard_pb.js";
import { api } from "./api";
import { LineChart, type Line } from "./chart";
import { alignSeries, dateRange, falling, kindOf, lastDays, latestChange, levelOf, phiRoute, targetsFrom, type Level, type PhiSeriesData, type Targets } from "./phi";
import { m } from "./text";
import { fmtWireTime } from "../i18n";
import { Status, useLoad, whoAmI } from "./util";

const COLORS = { index: "#0b6e4f", keyAction: "#1f6feb", quality: "#b35900", collaboration: "#8250df" };

/** The tenant's PHI targets: from GetInsightsConfig when the caller may read it, else the defaults. */
let targetsP: Promise<{ targets: Targets; fromConfig: boolean }> | null = null;
function loadTargets() {
  targetsP ??= api().then((a) => a.admin.getInsightsConfig({}))
    .then((r) => ({ targets: targetsFrom(r.configJson), fromConfig: true }), () => ({ targets: targetsFrom(), fromConfig: false }));
  return targetsP;
}

/** The PHI screen of a route: #/manager/phi[/<level>/<id>]. */
export function PhiScreen({ level, id, name = "" }: { level?: Level; id?: string; name?: string }) {
  if (!level || !id) return <PhiHome />;
  return level === "rep" ? <RepPhi key={id} id={id} name={name} /> : <PlacePhi key={level + id} level={level} id={id} />;
}

/** Without a place: the caller's own (a director's region, a manager's store, a rep's self), or the regions to choose for an admin. */
function PhiHome() {
  const [res] = useLoad(async () => {
    const who = await whoAmI();
    if (who.role === Role.ADMIN) return { regions: (await (await api()).admin.getOrganization({})).regions };
    if (who.storeId && who.role !== Role.REGIONAL_DIRECTOR && who.role !== Role.TECH_ADVISOR) return { go: phiRoute("store", who.storeId) };
    if (who.regionId && who.role !== Role.REP) return { go: phiRoute("region", who.regionId) };
    if (who.userId) return { go: phiRoute("rep", who.userId) };
    return {};
  }, []);
  if (res.state !== "done") return <Status res={res} />;
  const v = res.value;
  if (v.go) {
    location.replace(v.go);
    return null;
  }
  return (
    <section>
      <h1>{m("phiTitle")}</h1>
      {v.regions?.length ? <><h2>{m("pickRegion")}</h2><ul>{v.regions.map((r) => <li key={r.id}><a href={phiRoute("region", r.id)}>{r.name}</a></li>)}</ul></> : <p class="muted">{m("noScope")}</p>}
    </section>
  );
}

/** A region or store: its charts, then its stores and people with their latest index, each a link one level down. */
function PlacePhi({ level, id }: { level: Level; id: string }) {
  const [res] = useLoad(async () => {
    const [r, t] = await Promise.all([(await api()).dashboard.getPhiDrilldown({ scopeKind: kindOf(level), scopeId: id }), loadTargets()]);
    return { r, ...t };
  }, [level, id]);
  if (res.state !== "done") return <Status res={res} />;
  const { r, targets, fromConfig } = res.value;
  const dates = dateRange(r.fromDate, r.toDate);
  const data = alignSeries(r.parent?.days ?? [], dates);
  return (
    <section data-testid="phi" data-level={level} data-id={id}>
      <Back />
      <h1>{m(level)} · {r.parent?.name || id}{falling(data.index) && <span class="tag warn" data-testid="phi-falling">{m("fallingTag")}</span>}</h1>
      <p class="muted small">{m("phiRange", { from: fmtWireTime(r.fromDate), to: fmtWireTime(r.toDate) })} · {fromConfig ? m("targetsFrom") : m("targetsDefault")}</p>
      <Charts data={data} targets={targets} />
      <h2>{m("drillDown")}</h2>
      <Children dates={dates} items={r.children} />
    </section>
  );
}

/** The places one level down, falling ones marked. */
function Children({ dates, items }: { dates: string[]; items: PhiSeries[] }) {
  if (items.length === 0) return <p class="muted">{m("noPhi")}</p>;
  return (
    <ul class="cards" data-testid="phi-children">
      {items.map((c) => {
        const s = alignSeries(c.days, dates);
        const { latest, change } = latestChange(s.index);
        const lvl = levelOf(c.scopeKind);
        return (
          <li key={c.scopeId} class="card" data-testid="phi-child" data-falling={String(falling(s.index))}>
            {lvl ? <a href={phiRoute(lvl, c.scopeId, c.name)}>{c.name || c.scopeId}</a> : c.name}
            <span class="muted small"> · {lvl ? m(lvl) : ""}</span>
            {falling(s.index) && <span class="tag warn">{m("fallingTag")}</span>}
            <div class="small">
              {latest === null ? m("noPhi") : m("latest", { v: latest })}
              {change !== null && <> · {m("change", { v: (change > 0 ? "+" : "") + change })}</>}
            </div>
          </li>
        );
      })}
    </ul>
  );
}

/** A rep's own series (InsightsService.GetPhi). */
function RepPhi({ id, name }: { id: string; name: string }) {
  const range = useMemo(() => lastDays(30), []);
  const [res] = useLoad(async () => {
    const [r, t] = await Promise.all([(await api()).insights.getPhi({ scopeKind: kindOf("rep"), scopeId: id, fromDate: range.from, toDate: range.to }), loadTargets()]);
    return { days: r.days, ...t };
  }, [id]);
  if (res.state !== "done") return <Status res={res} />;
  const { days, targets, fromConfig } = res.value;
  return (
    <section data-testid="phi" data-level="rep" data-id={id}>
      <Back />
      <h1>{m("rep")} · {name || id}</h1>
      <p class="muted small">{m("phiRange", { from: fmtWireTime(range.from), to: fmtWireTime(range.to) })} · {fromConfig ? m("targetsFrom") : m("targetsDefault")}</p>
      <Charts data={alignSeries(days, dateRange(range.from, range.to))} targets={targets} />
    </section>
  );
}

/** The index chart and the components' chart, each with its targets, and the figures as a table. */
function Charts({ data, targets }: { data: PhiSeriesData; targets: Targets }) {
  const index: Line[] = useMemo(() => [{ label: m("phiIndex"), values: data.index, color: COLORS.index, target: targets.index, targetLabel: m("target", { v: targets.index }) }], [data, targets]);
  const comps: Line[] = useMemo(() => (["keyAction", "quality", "collaboration"] as const).map((k) => ({
    label: m(k), values: data[k], color: COLORS[k], target: targets[k], targetLabel: m("targetOf", { name: m(k) }) + ` ${targets[k]}%`,
  })), [data, targets]);
  const rows = data.dates.map((d, i) => ({ d, i })).filter(({ i }) => data.index[i] !== null);
  return (
    <div>
      <h2>{m("phiIndex")} <span class="muted small">{m("target", { v: targets.index })}</span></h2>
      <LineChart dates={data.dates} lines={index} testid="phi-index-chart" />
      <h2>{m("phiComponents")}</h2>
      <LineChart dates={data.dates} lines={comps} testid="phi-components-chart" />
      {rows.length === 0 ? <p class="muted">{m("noPhi")}</p> : (
        <table class="figures" data-testid="phi-table">
          <thead><tr><th>{m("day")}</th><th>{m("phiIndex")}</th><th>{m("keyAction")}</th><th>{m("quality")}</th><th>{m("collaboration")}</th></tr></thead>
          <tbody>{rows.map(({ d, i }) => (
            <tr key={d} data-date={d}><td>{fmtWireTime(d)}</td>{[data.index, data.keyAction, data.quality, data.collaboration].map((s) => <td>{s[i] ?? "–"}</td>)}</tr>
          ))}</tbody>
        </table>
      )}
    </div>
  );
}

/** Back one step (a button: the app's CSP allows no javascript: links). */
function Back() {
  return <p class="small"><button type="button" class="link back" onClick={() => history.back()}>← {m("back")}</button></p>;
}
