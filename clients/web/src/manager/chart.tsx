/** A PHI line chart (uPlot, loaded with the managers' chunk only): lines solid, their targets dashed in the same colour. */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fmtWireTime } from "../i18n";

/** One line of a chart and its target (percent), if any. */
export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  target?: number;
  targetLabel?: string;
}

/** A line chart of percentages over dates (YYYY-MM-DD). */
export function LineChart({ dates, lines, height = 200, testid }: { dates: string[]; lines: Line[]; height?: number; testid?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const box = el.current;
    if (!box) return;
    const xs = dates.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
    const day = (v: number) => fmtWireTime(new Date(v * 1000).toISOString().slice(0, 10)); // the app's language, not uPlot's English
    const series: uPlot.Series[] = [{ value: (_u, v) => (v == null ? "–" : day(v)) }];
    const data: (number | null)[][] = [xs];
    for (const l of lines) {
      series.push({ label: l.label, stroke: l.color, width: 2, spanGaps: true, points: { show: true, size: 5 } });
      data.push(l.values);
    }
    for (const l of lines) {
      if (l.target === undefined) continue;
      series.push({ label: l.targetLabel ?? "", stroke: l.color, width: 1, dash: [6, 4], points: { show: false } });
      data.push(xs.map(() => l.target!));
    }
    const width = Math.max(280, Math.min(box.clientWidth || 600, 900));
    const plot = new uPlot({
      width, height, series,
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [{ values: (_, ticks) => ticks.map(day) }, { values: (_, ticks) => ticks.map((t) => `${t}%`) }],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    }, data as uPlot.AlignedData, box);
    return () => plot.destroy();
  }, [dates, lines, height]);
  return <div class="chart" ref={el} data-testid={testid} />;
}
