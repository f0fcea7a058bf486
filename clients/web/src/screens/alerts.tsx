import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { AlertSchema } from "@fieldsync/client";
import { tsDate } from "../data";
import { useData } from "../hooks";
import { alertWords, fmtAgo, fmtTime, t, type Key } from "../i18n";
import { changed, session } from "../session";

/** Alerts and reminders (B4): the server's alerts for this user, from the local store; acknowledging is a local write that syncs. */
export function Alerts() {
  const data = useData();
  if (!data) return <p>…</p>;
  const alerts = [...data.alerts].sort((a, b) =>
    Number(!!a.value.acknowledgedTime) - Number(!!b.value.acknowledgedTime) ||
    (tsDate(b.value.raisedTime)?.getTime() ?? 0) - (tsDate(a.value.raisedTime)?.getTime() ?? 0));
  const names = new Map(data.customers.map((c) => [c.id, c.value.name]));
  const ack = async (id: string) => {
    await session()!.client.put(id, create(AlertSchema, { acknowledgedTime: timestampNow() }), ["acknowledged_time"]);
    changed();
  };
  return (
    <section>
      <h1>{t("alertsTitle")}</h1>
      {alerts.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul class="cards">
        {alerts.map(({ id, value: a, pending }) => {
          const w = alertWords(a, names);
          return <li key={id} class={a.acknowledgedTime ? "card done" : "card"} data-testid="alert" data-kind={a.kind}>
            <div class="muted small">{t(`alert_${a.kind}` as Key)} · <time title={fmtTime(tsDate(a.raisedTime))}>{fmtAgo(tsDate(a.raisedTime))}</time></div>
            <b data-testid="alert-title">{w.title}</b>
            {w.body && <p data-testid="alert-body">{w.body}</p>}
            {a.acknowledgedTime
              ? <span class="tag ok">{t("acknowledged", { time: fmtAgo(tsDate(a.acknowledgedTime)) })}{pending ? " · " + t("pendingSync") : ""}</span>
              : <button onClick={() => void ack(id)}>{t("acknowledge")}</button>}
          </li>;
        })}
      </ul>
    </section>
  );
}
