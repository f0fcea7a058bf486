import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { computeToday, loadTodayInputs, type TodayInputs } from "../data";
import { t } from "../i18n";
import { firstScreenShown, onChange, session } from "../session";
import { todayIndexOf } from "../todayindex";
import { RecentRecords } from "./recent";
import { TodayLists } from "./todaylists";

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
      <TodayLists today={today} names={names} />
      <RecentRecords names={names} />
      <p class="muted small" ref={shown} />
    </section>
  );
}
