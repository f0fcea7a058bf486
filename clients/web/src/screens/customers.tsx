import { create } from "@bufbuild/protobuf";
import { CommitmentSchema, CommitmentState, CustomerKind } from "@fieldsync/client";
import { useState } from "preact/hooks";
import { customerBrief, tsDate } from "../data";
import { useData } from "../hooks";
import { fmtTime, t } from "../i18n";
import { changed, session } from "../session";
import { startShipment } from "./forms";

/** The customers this device holds, searchable. */
export function Customers() {
  const data = useData();
  const [q, setQ] = useState("");
  if (!data) return <p>…</p>;
  const needle = q.trim().toLowerCase();
  const list = data.customers.filter((c) => !needle || c.value.name.toLowerCase().includes(needle))
    .sort((a, b) => a.value.name.localeCompare(b.value.name)).slice(0, 200);
  return (
    <section>
      <h1>{t("customersTitle")}</h1>
      <input type="search" placeholder={t("search")} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      <ul class="links">
        {list.map((c) => <li key={c.id}><a href={`#/customer/${c.id}`}>{c.value.name || c.id}</a> <span class="muted small">{c.value.address}</span></li>)}
      </ul>
    </section>
  );
}

/** Customer brief (B1): key commitments from the last 3 contacts; for a site, the supervising contact and latest milestone. */
export function CustomerBrief({ id }: { id: string }) {
  const data = useData();
  if (!data) return <p>…</p>;
  const c = data.customers.find((r) => r.id === id)?.value;
  const brief = customerBrief(data, id);
  return (
    <section data-testid="brief">
      <h1>{c?.name || t("unknownCustomer")}</h1>
      {c?.address && <p><span class="muted">{t("address")}:</span> {c.address}</p>}
      {c?.kind === CustomerKind.SITE && (
        <div class="card">
          <p><b>{t("supervisor")}:</b> {c.supervisorContact?.name} {c.supervisorContact?.title} {c.supervisorContact?.phone}</p>
          <p><b>{t("milestone")}:</b> {c.latestMilestone || "—"}</p>
        </div>
      )}
      {c && c.contacts.length > 0 && <p><span class="muted">{t("contacts")}:</span> {c.contacts.map((p) => `${p.name} (${p.title})`).join(", ")}</p>}
      <h2>{t("keyCommitments")}</h2>
      {brief.lastVisits.length === 0 && <p class="muted">{t("noContacts")}</p>}
      <ul>
        {brief.keyCommitments.map((k, i) => <li key={i}>{k.text} {k.due && <span class="muted">· {fmtTime(k.due)}</span>} {k.commitmentId && <State id={k.commitmentId} state={k.state} />}</li>)}
      </ul>
      <p class="muted small">{brief.lastVisits.map((v) => fmtTime(tsDate(v.value.visitTime))).join(" · ")}</p>
      {brief.otherOpen.length > 0 && (
        <>
          <h2>{t("openCommitments")}</h2>
          <ul data-testid="open-commitments">{brief.otherOpen.map((k) => <li key={k.id} data-id={k.id}>{k.value.description} <span class="muted">· {fmtTime(tsDate(k.value.dueTime))}</span> <State id={k.id} state={k.value.state} /></li>)}</ul>
        </>
      )}
      <div class="actions">
        <a class="button" href={`#/new?customer=${id}`}>{t("newRecord")}</a>
        {c && <button onClick={() => void startShipment(data, id)}>{t("requestSamples")}</button>}
      </div>
    </section>
  );
}

/** A commitment's state, with "Mark done" while it is open (a local write of state only). */
function State({ id, state }: { id: string; state?: CommitmentState }) {
  if (state === CommitmentState.DONE) return <span class="tag ok">{t("stateDone")}</span>;
  if (state === CommitmentState.CANCELLED) return <span class="tag">{t("stateCancelled")}</span>;
  const done = async () => {
    await session()!.client.put(id, create(CommitmentSchema, { state: CommitmentState.DONE }), ["state"]);
    changed();
  };
  return <button class="secondary small" data-action="done" onClick={() => void done()}>{t("markDone")}</button>;
}
