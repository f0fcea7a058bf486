/**
 * The managers' alerts inbox: the alert records synced to this device (B4,
 * from the local store, offline too), each opening GetAlertDetail: A1 both
 * diagnoses with their photos side by side, A2 the stock with the
 * historical purchase price beside the agreement price, A6 both records
 * with the shared photo. Acknowledging is a local write that syncs.
 */
import { create, createRegistry } from "@bufbuild/protobuf";
import { anyUnpack, timestampNow } from "@bufbuild/protobuf/wkt";
import { AlertKind, AlertSchema, DiagnosisSchema, file_fieldsync_v1_records, StockLevelSchema, type Alert, type LocalRecord, type PhotoRef } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import type { CitedRecord } from "../../../ts/dist/gen/fieldsync/v1/dashboard_pb.js";
import { alertWords, t, type Key } from "../i18n";
import { changed, onChange, session } from "../session";
import { api, photoUrl } from "./api";
import { fieldWords, typeWords } from "../words";
import { fmtMoney, recordRows } from "./recordtext";
import { m } from "./text";
import { fmtAgoTs, fmtTs, Status, useLoad, useNames } from "./util";

const registry = createRegistry(file_fieldsync_v1_records);

/** The device's alerts, newest first, unacknowledged before acknowledged; reloaded on every change. */
export function useAlerts(): LocalRecord<Alert>[] | null {
  const [list, setList] = useState<LocalRecord<Alert>[] | null>(null);
  useEffect(() => {
    let live = true;
    const load = () => void session()?.client.list(AlertSchema).then((l) => live && setList(sortAlerts(l)));
    load();
    const off = onChange(load);
    return () => ((live = false), off());
  }, []);
  return list;
}

/** Unacknowledged first, then by raised time, newest first. */
export function sortAlerts<A extends { value: { acknowledgedTime?: unknown; raisedTime?: { seconds: bigint } } }>(list: A[]): A[] {
  const raised = (a: A) => Number(a.value.raisedTime?.seconds ?? 0n);
  return [...list].sort((a, b) => Number(!!a.value.acknowledgedTime) - Number(!!b.value.acknowledgedTime) || raised(b) - raised(a));
}

/** Acknowledges an alert on the device; the sync takes it to the server. */
export async function acknowledge(id: string): Promise<void> {
  await session()!.client.put(id, create(AlertSchema, { acknowledgedTime: timestampNow() }), ["acknowledged_time"]);
  changed();
}

/** #/manager/alerts[/<id>]. */
export function AlertsInbox({ id }: { id?: string }) {
  const alerts = useAlerts();
  const names = useNames();
  if (id) return <AlertDetail key={id} id={id} local={alerts?.find((a) => a.id === id)} />;
  if (!alerts) return <p class="muted">{m("loading")}</p>;
  return (
    <section>
      <h1>{m("inboxTitle")}</h1>
      {alerts.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul class="cards">
        {alerts.map(({ id, value: a }) => (
          <li key={id} class={a.acknowledgedTime ? "card done" : "card"} data-testid="mgr-alert" data-kind={a.kind}>
            <div class="muted small">{t(`alert_${a.kind}` as Key)} · <time title={fmtTs(a.raisedTime)}>{fmtAgoTs(a.raisedTime)}</time></div>
            <a href={`#/manager/alerts/${encodeURIComponent(id)}`}><b>{alertWords(a, names).title}</b></a>
            {a.acknowledgedTime && <span class="tag ok">{t("acknowledged", { time: fmtAgoTs(a.acknowledgedTime) })}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** One alert with the records it cites. */
function AlertDetail({ id, local }: { id: string; local?: LocalRecord<Alert> }) {
  const [res] = useLoad(async () => (await api()).dashboard.getAlertDetail({ alertId: id }), [id]);
  const names = useNames();
  const alert = local?.value ?? (res.state === "done" ? res.value.alert : undefined);
  return (
    <section data-testid="alert-detail">
      <p class="small"><a href="#/manager/alerts">← {m("allAlerts")}</a></p>
      {alert && <>
        <div class="muted small">{t(`alert_${alert.kind}` as Key)} · <time title={fmtTs(alert.raisedTime)}>{fmtAgoTs(alert.raisedTime)}</time></div>
        <h1>{alertWords(alert, names).title}</h1>
        <p class="pre">{alertWords(alert, names).body}</p>
        {local && (local.value.acknowledgedTime
          ? <span class="tag ok">{t("acknowledged", { time: fmtAgoTs(local.value.acknowledgedTime) })}{local.pending ? " · " + t("pendingSync") : ""}</span>
          : <button onClick={() => void acknowledge(id)} title={m("acknowledgeSyncs")}>{t("acknowledge")}</button>)}
      </>}
      <Status res={res} />
      {res.state === "done" && <>
        <Cited kind={res.value.alert?.kind ?? AlertKind.UNSPECIFIED} records={res.value.records} shared={res.value.alert?.photos ?? []} />
        {res.value.unavailableRecordIds.length > 0 && <p class="muted small">{m("citedUnavailable", { n: res.value.unavailableRecordIds.length })}</p>}
      </>}
    </section>
  );
}

/** The cited records, as the alert's kind wants them: A2 a stock table, others side by side, A6's shared photo marked. */
export function Cited({ kind, records, shared, title }: { kind: AlertKind; records: CitedRecord[]; shared: PhotoRef[]; title?: string }) {
  if (records.length === 0) return null;
  if (kind === AlertKind.REPLENISHMENT) return <StockTable records={records} />;
  const sharedSha = new Set(kind === AlertKind.REPEAT_PHOTO ? shared.map((p) => p.sha256) : []);
  return (
    <>
      <h2>{title ?? (kind === AlertKind.CONFLICTING_DIAGNOSES ? m("bothDiagnoses") : kind === AlertKind.REPEAT_PHOTO ? m("sharedPhoto") : m("records"))}</h2>
      <div class="side-by-side" data-testid="cited">
        {records.map((r) => <RecordCard key={r.id} r={r} sharedSha={sharedSha} />)}
      </div>
    </>
  );
}

function RecordCard({ r, sharedSha }: { r: CitedRecord; sharedSha: Set<string> }) {
  const names = useNames();
  const dx = r.recordType === DiagnosisSchema.typeName && r.value ? anyUnpack(r.value, DiagnosisSchema) : undefined;
  return (
    <div class="card" data-testid="cited-record" data-type={r.recordType}>
      <div class="muted small">{typeWords(r.recordType)} · {fmtTs(r.updateTime)}</div>
      {dx ? <>
        <div><b>{m("conclusion")}:</b> {dx.conclusion}</div>
        {dx.faultSymptoms && <div class="small">{m("symptoms")}: {dx.faultSymptoms}</div>}
        {names.get(dx.customerId) && <div class="small muted">{m("customer")}: {names.get(dx.customerId)}</div>}
      </> : <Fields r={r} />}
      <div class="photos">
        {r.photos.map((p) => <Photo key={p.field + (p.photo?.sha256 ?? "")} sha={p.photo?.sha256 ?? ""} label={fieldWords(p.field) || fieldWords("photos")} shared={sharedSha.has(p.photo?.sha256 ?? "")} />)}
      </div>
    </div>
  );
}

/** A record's set fields in words (see recordRows), photos left to the photo strip. */
function Fields({ r }: { r: CitedRecord }) {
  const names = useNames();
  if (!r.value) return null;
  const msg = anyUnpack(r.value, registry);
  const desc = msg && registry.getMessage(msg.$typeName);
  if (!msg || !desc) return null;
  return <dl class="fields">{recordRows(desc, msg, names).map(([k, v]) => <><dt>{k}</dt><dd>{v}</dd></>)}</dl>;
}

/** A2: each stock level, historical purchase price beside agreement price. */
function StockTable({ records }: { records: CitedRecord[] }) {
  const names = useNames();
  const money = fmtMoney;
  const rows = records.filter((r) => r.recordType === StockLevelSchema.typeName && r.value).map((r) => ({ id: r.id, s: anyUnpack(r.value!, StockLevelSchema)! }));
  return (
    <>
      <h2>{m("stock")}</h2>
      <table class="figures" data-testid="stock">
        <thead><tr><th>{m("product")}</th><th>{m("terminal")}</th><th>{m("onHand")}</th><th>{m("safetyStock")}</th><th>{m("purchasePrice")}</th><th>{m("agreementPrice")}</th></tr></thead>
        <tbody>{rows.map(({ id, s }) => (
          <tr key={id}><td>{s.productId}</td><td>{names.get(s.terminalId) ?? s.terminalId}</td><td class="warn">{String(s.onHand)}</td><td>{String(s.safetyStock)}</td>
            <td>{money(s.historicalPurchasePriceCents, s.currency)}</td><td>{money(s.agreementPriceCents, s.currency)}</td></tr>
        ))}</tbody>
      </table>
    </>
  );
}

/** A photo by its hash, fetched through GetMediaURL. */
function Photo({ sha, label, shared }: { sha: string; label: string; shared: boolean }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => void photoUrl(sha).then(setUrl), [sha]);
  return (
    <figure class={shared ? "shared" : ""}>
      {url ? <img src={url} alt={label} data-testid="cited-photo" /> : <div class="muted small">{url === "" ? m("photoMissing") : "…"}</div>}
      <figcaption class="small muted">{label}{shared ? ` · ${m("sharedPhoto")}` : ""}</figcaption>
    </figure>
  );
}
