import {
  DiagnosisSchema, QuoteSchema, SampleShipmentSchema, SurgerySupportSchema, VisitSchema, type Client,
} from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { t, type Key } from "../i18n";
import { onChange, session } from "../session";

async function loadRecent(c: Client) {
  const [surgeries, visits, diagnoses, quotes, shipments] = await Promise.all([
    c.list(SurgerySupportSchema), c.list(VisitSchema), c.list(DiagnosisSchema), c.list(QuoteSchema), c.list(SampleShipmentSchema),
  ]);
  return { surgeries, visits, diagnoses, quotes, shipments };
}

/** The records made on or for this device lately (ids are ULIDs: newest first), with their sync state. Loaded after Today's lists. */
export function RecentRecords({ names }: { names: Map<string, string> }) {
  const [data, setData] = useState<Awaited<ReturnType<typeof loadRecent>> | null>(null);
  useEffect(() => {
    let live = true;
    const load = () => void loadRecent(session()!.client).then((d) => live && setData(d), (err) => console.warn("recent:", err));
    load();
    const off = onChange(load);
    return () => ((live = false), off());
  }, []);
  if (!data) return null;
  type Row = { id: string; label: Key; customer: string; pending: boolean; extra?: string; extraClass?: string; testid: string };
  const rows: Row[] = [
    ...data.surgeries.map((r): Row => ({
      id: r.id, label: "surgeryTitle", customer: r.value.hospitalId, pending: r.pending, testid: "surgery",
      extra: r.value.photosComplete ? t("photosComplete") : t("photosPending"), extraClass: r.value.photosComplete ? "ok" : "muted",
    })),
    ...data.visits.map((r): Row => ({ id: r.id, label: "visitTitle", customer: r.value.customerId, pending: r.pending, testid: "visit" })),
    ...data.diagnoses.map((r): Row => ({ id: r.id, label: "diagnosisTitle", customer: r.value.customerId, pending: r.pending, testid: "diagnosis" })),
    ...data.quotes.map((r): Row => ({ id: r.id, label: "quoteTitle", customer: r.value.customerId, pending: r.pending, testid: "quote" })),
    ...data.shipments.map((r): Row => ({ id: r.id, label: "shipmentTitle", customer: r.value.customerId, pending: r.pending, testid: "shipment" })),
  ].filter((r) => !r.id.startsWith("demo-")).sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, 10);
  return (
    <div class="list" data-list="recent">
      <h2>{t("recent")}</h2>
      {rows.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul>
        {rows.map((r) => (
          <li key={r.id} data-testid={`recent-${r.testid}`} data-id={r.id}>
            <b>{t(r.label)}</b> · {names.get(r.customer) ?? r.customer}
            {r.extra && <span class={`tag ${r.extraClass}`}>{r.extra}</span>}
            {r.pending && <span class="tag warn">{t("pendingSync")}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}
