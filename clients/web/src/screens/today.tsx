import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { computeToday, loadTodayInputs, type TodayInputs, type TodayItem } from "../data";
import { fmtTime, t } from "../i18n";
import { firstScreenShown, onChange, session } from "../session";
import { todayIndexOf } from "../todayindex";
import { RecentRecords } from "./recent";

/** How many lines each list shows before "+N". */
const SHOW = 30;

/**
 * What the last Today render took, from the start of the read to the
 * committed DOM (ms), and where its inputs came from (memory: the index
 * kept up to date; index: the saved one; store: a scan); the browser test
 * reads it.
 */
declare global {
  interface Window { fieldsyncToday?: { ms: number; records: number; sincePageStart: number; source: string; phases: Record<string, number> } }
}

/** Today (B2): follow-ups, overdue opportunities and stock alerts first, then the coming week and recent records. */
export function TodayScreen() {
  const [inputs, setInputs] = useState<{ inp: TodayInputs; started: number; source: string; read: number; build: number } | null>(null);
  useEffect(() => {
    let live = true;
    const load = async () => {
      const started = performance.now();
      const storage = session()!.storage;
      const index = todayIndexOf(storage);
      const got = index ? await index.inputs() : { inputs: await loadTodayInputs(storage), source: "store" };
      const build = got.source === "memory" ? 0 : (index?.buildMs ?? 0); // begun when the store opened
      if (live) setInputs({ inp: got.inputs, started, source: got.source, read: performance.now() - started, build });
    };
    const run = () => void load().catch((err) => console.warn("today:", err));
    run();
    const off = onChange(run);
    return () => ((live = false), off());
  }, []);
  const today = useMemo(() => (inputs ? computeToday(inputs.inp, new Date()) : null), [inputs]);
  const shown = useRef<HTMLParagraphElement>(null);
  useLayoutEffect(() => {
    if (!inputs) return;
    const ms = performance.now() - inputs.started;
    const phases = { build: inputs.build, read: inputs.read, computeAndRender: ms - inputs.read };
    window.fieldsyncToday = { ms, records: inputs.inp.records, sincePageStart: performance.now(), source: inputs.source, phases };
    if (shown.current) shown.current.textContent = t("renderedIn", { n: inputs.inp.records, ms: ms.toFixed(1) });
    firstScreenShown();
  }, [inputs]);
  if (!inputs || !today) return <p>…</p>;
  const names = inputs.inp.customerNames;
  return (
    <section data-testid="today">
      <h1>{t("todayTitle")}</h1>
      {today.unacknowledgedAlerts > 0 && <a class="banner" href="#/alerts">{t("navAlerts")} · {today.unacknowledgedAlerts}</a>}
      <List title={t("followUps")} items={today.followUps} names={names} id="followups" />
      <List title={t("overdueOpps")} items={today.overdueOpportunities} names={names} id="overdue" />
      <List title={t("stockAlerts")} items={today.stockAlerts} names={names} id="stock" />
      <List title={t("upcoming")} items={today.upcoming} names={names} id="upcoming" />
      <RecentRecords names={names} />
      <p class="muted small" ref={shown} />
    </section>
  );
}

function List({ title, items, names, id }: { title: string; items: TodayItem[]; names: Map<string, string>; id: string }) {
  return (
    <div class="list" data-list={id}>
      <h2>{title} <span class="count">{items.length}</span></h2>
      {items.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul>
        {items.slice(0, SHOW).map((i) => <li key={i.id}><Line item={i} names={names} /></li>)}
      </ul>
      {items.length > SHOW && <p class="muted">+{items.length - SHOW}</p>}
    </div>
  );
}

function Line({ item: i, names }: { item: TodayItem; names: Map<string, string> }) {
  switch (i.kind) {
    case "commitment":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {i.text} <span class={i.overdue ? "warn" : "muted"}>{t(i.overdue ? "commitmentOverdue" : "commitmentDue", { time: fmtTime(i.due) })}</span></a>;
    case "appointment":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {t("appointment", { time: fmtTime(i.at) })} {i.text && <span class="muted">{i.text}</span>}</a>;
    case "opportunity":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {t("oppDue", { title: i.title, time: fmtTime(i.due) })}</a>;
    case "stock":
      return <span>{t("stockBelow", { product: i.productId, terminal: names.get(i.terminalId) ?? i.terminalId, onHand: String(i.onHand), safety: String(i.safety) })}</span>;
  }
}
