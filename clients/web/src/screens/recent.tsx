import type { Data } from "../data";
import { t, type Key } from "../i18n";

/** The records made on or for this device lately (ids are ULIDs: newest first), with their sync state. */
export function RecentRecords({ data, names }: { data: Data; names: Map<string, string> }) {
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
