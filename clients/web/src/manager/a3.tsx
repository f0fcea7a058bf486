/**
 * A3 intervention: the latest intervention alert with the region's latest
 * abnormal records, the grants to read reps' operation logs (each with its
 * expiry) and, while one lasts, the logs themselves; every such read is
 * audited, and the audit list is shown to whoever may read it.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { AlertKind, DeviceOperationLogSchema } from "@fieldsync/client";
import { useState } from "preact/hooks";
import type { AccessGrant, OperationLogView } from "../../../ts/dist/gen/fieldsync/v1/insights_pb.js";
import { alertWords, fmtAgo, t, type Key } from "../i18n";
import { enumWords, fieldWords, typeWords } from "../words";
import { OperationKind } from "../../../ts/dist/gen/fieldsync/v1/records_pb.js";
import { Cited, useAlerts } from "./alerts";
import { api } from "./api";
import { m } from "./text";
import { Role } from "../../../ts/dist/gen/fieldsync/v1/options_pb.js";
import { errText, fmtAgoTs, fmtTs, Status, tsToDate, useLoad, useNames, whoAmI } from "./util";

/** The grants in force at now (those whose expiry is after it). */
export function activeGrants(grants: readonly AccessGrant[], now: number): AccessGrant[] {
  return grants.filter((g) => (tsToDate(g.expireTime)?.getTime() ?? 0) > now);
}

/** #/manager/a3. */
export function A3Screen() {
  const alerts = useAlerts();
  const latest = alerts?.filter((a) => a.value.kind === AlertKind.MANAGEMENT_INTERVENTION)
    .sort((a, b) => Number((b.value.raisedTime?.seconds ?? 0n) - (a.value.raisedTime?.seconds ?? 0n)))[0];
  return (
    <section data-testid="a3">
      <h1>{m("a3Title")}</h1>
      {!alerts ? <p class="muted">{m("loading")}</p> : latest ? <Intervention id={latest.id} /> : <p class="muted">{m("noA3")}</p>}
      <Grants />
      <Audit />
    </section>
  );
}

function Intervention({ id }: { id: string }) {
  const [res] = useLoad(async () => (await api()).dashboard.getAlertDetail({ alertId: id }), [id]);
  const names = useNames();
  if (res.state !== "done") return <Status res={res} />;
  const a = res.value.alert;
  return (
    <div data-testid="a3-alert">
      <div class="muted small">{t(`alert_${a?.kind ?? 0}` as Key)} · <time title={fmtTs(a?.raisedTime)}>{fmtAgoTs(a?.raisedTime)}</time></div>
      <b>{a && alertWords(a, names).title}</b>
      <p class="pre small">{a && alertWords(a, names).body}</p>
      <Cited kind={AlertKind.MANAGEMENT_INTERVENTION} records={res.value.records} shared={[]} title={m("abnormal")} />
    </div>
  );
}

function Grants() {
  const who = useNames();
  const [res, reload] = useLoad(async () => (await (await api()).insights.listAccessGrants({})).grants, []);
  if (res.state !== "done") return <Status res={res} />;
  const now = Date.now();
  const active = activeGrants(res.value, now);
  const past = res.value.filter((g) => !active.includes(g));
  return (
    <div data-testid="grants">
      <h2>{m("grants")}</h2>
      {active.length === 0 && <p class="muted" data-testid="no-grant">{m("noGrants")}</p>}
      {active.map((g) => <GrantLogs key={g.id} g={g} who={who.get(g.subjectUserId) ?? g.subjectUserId} onExpired={reload} />)}
      {past.length > 0 && <ul class="small muted">{past.map((g) => <li key={g.id}>{m("grantFor", { who: who.get(g.subjectUserId) ?? g.subjectUserId })} · {m("grantExpired", { time: fmtAgoTs(g.expireTime) })}</li>)}</ul>}
    </div>
  );
}

/** One grant in force: its expiry and, on demand, the rep's operation logs (an audited read). */
function GrantLogs({ g, who, onExpired }: { g: AccessGrant; who: string; onExpired: () => void }) {
  const [logs, setLogs] = useState<OperationLogView[] | null>(null);
  const [err, setErr] = useState("");
  const read = async () => {
    setErr("");
    if ((tsToDate(g.expireTime)?.getTime() ?? 0) <= Date.now()) return onExpired();
    try {
      setLogs((await (await api()).insights.listOperationLogs({ repUserId: g.subjectUserId, limit: 100 })).logs);
    } catch (e) {
      setLogs(null);
      setErr(errText(e));
    }
  };
  return (
    <div class="card" data-testid="grant" data-subject={g.subjectUserId}>
      <b>{m("grantFor", { who })}</b> <span class="tag" data-testid="grant-expiry">{m("grantUntil", { time: m("grantLeft", { time: fmtTs(g.expireTime), left: fmtAgo(tsToDate(g.expireTime)) }) })}</span>
      <p class="small muted">{g.reason}</p>
      <button onClick={() => void read()} data-testid="read-logs">{m("readLogs")}</button>
      {err && <p class="error">{err}</p>}
      {logs && (logs.length === 0 ? <p class="muted">{m("noLogs")}</p> : (
        <div data-testid="oplogs">
          <p class="small">{m("logsRead", { n: logs.length })}</p>
          <ul>{logs.map((l) => <OpLog key={l.recordId} l={l} />)}</ul>
        </div>
      ))}
    </div>
  );
}

function OpLog({ l }: { l: OperationLogView }) {
  const log = fromBinary(DeviceOperationLogSchema, l.value);
  return (
    <li data-testid="oplog" data-record={log.formRecordId}>
      <b>{typeWords(log.formRecordType)}</b> <span class="muted small">{fmtTs(l.updateTime)}</span>
      <ul class="small">{log.entries.map((e, i) => (
        <li key={i}>{fieldWords(e.field)}{e.kind ? ` · ${enumWords(OperationKind[e.kind] ? `OPERATION_KIND_${OperationKind[e.kind]}` : "")}` : ""} ×{e.count} <span class="muted">{fmtTs(e.time)}</span></li>
      ))}</ul>
    </li>
  );
}

/** The audit: every read under a grant for an admin; for anyone else, the reads of their own logs (the server's rule). */
function Audit() {
  const name = useNames();
  const [res] = useLoad(async () => {
    const [who, list] = await Promise.all([whoAmI(), (await api()).insights.listAuditEntries({})]);
    return { admin: who.role === Role.ADMIN, entries: list.entries };
  }, []);
  if (res.state !== "done") return <div data-testid="audit"><h2>{m("audit")}</h2><Status res={res} /></div>;
  const { admin, entries } = res.value;
  return (
    <div data-testid="audit">
      <h2>{admin ? m("audit") : m("auditOwn")}</h2>
      {!admin && <p class="muted small">{m("auditClosed")}</p>}
      {entries.length === 0 ? <p class="muted">{m("noAudit")}</p> : (
        <ul class="small">{entries.map((e) => (
          <li key={e.id} data-testid="audit-entry" data-grant={e.grantId}>{m("auditLine", { reader: name.get(e.readerUserId) ?? e.readerUserId, subject: name.get(e.subjectUserId) ?? e.subjectUserId, n: String(e.recordsRead), time: fmtTs(e.readTime) })}</li>
        ))}</ul>
      )}
    </div>
  );
}
