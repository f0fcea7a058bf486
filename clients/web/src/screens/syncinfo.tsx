import { createRegistry, toJson, type Message } from "@bufbuild/protobuf";
import { file_fieldsync_v1_records, QueueState, type Conflict, type QueuedPhoto, type Rejection } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { fmtAgo, fmtTime, fmtWireTime, t, type Key } from "../i18n";
import { enumWords, fieldWords as protoFieldWords, typeWords } from "../words";
import { onChange, session, signOut } from "../session";

/** Sync details: what lost a merge and why, what the server refused, the photo queue; sync now; sign out. */
export function SyncDetails({ onSignedOut }: { onSignedOut: () => void }) {
  const [state, setState] = useState<{ conflicts: Conflict[]; rejections: Rejection[]; photos: QueuedPhoto[]; device: string } | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    const c = session()!.client;
    const load = async () => setState({ conflicts: await c.conflicts(), rejections: await c.rejections(), photos: await c.photos(), device: (await c.identity()).deviceId });
    void load();
    const offS = c.subscribe(() => void load());
    const offC = onChange(() => void load());
    return () => (offS(), offC());
  }, []);
  const syncNow = () => session()!.client.sync().then(() => setErr(""), (e) => setErr(String(e instanceof Error ? e.message : e)));
  const out = async () => {
    try {
      await signOut(false);
    } catch {
      if (!confirm(t("signOutUnsynced"))) return;
      await signOut(true);
    }
    onSignedOut();
  };
  if (!state) return <p>…</p>;
  return (
    <section>
      <h1>{t("syncTitle")}</h1>
      <p class="muted small">{t("device", { id: state.device })}</p>
      <button onClick={() => void syncNow()}>{t("syncNow")}</button>
      {err && <p class="error">{t("error", { msg: err })}</p>}
      <h2>{t("conflictsTitle")}</h2>
      {state.conflicts.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul data-testid="conflicts">
        {[...state.conflicts].reverse().map((c) => (
          <li key={String(c.id)}>
            <span class="muted small" data-record={c.recordId}>{typeWords(c.recordType)} · <time title={fmtTime(c.time)}>{fmtAgo(c.time)}</time></span><br />
            {t("conflictLine", { field: fieldWords(c.field), losing: fieldText(c.losing, c.field), winning: fieldText(c.winning, c.field), reason: lossWords(c.reason) })}
          </li>
        ))}
      </ul>
      <h2>{t("rejectionsTitle")}</h2>
      {state.rejections.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul>
        {state.rejections.map((r) => (
          <li key={r.seq} data-record={r.recordId} title={r.reason}><span class="muted small">{typeWords(r.recordType)} · <time title={fmtTime(r.rejected)}>{fmtAgo(r.rejected)}</time></span><br />
            {r.code >= 1 && r.code <= 5 ? t(`reject_${r.code}` as Key) : r.reason}
            {r.fields.length > 0 && <span class="muted small"> {t("rejectFields", { fields: r.fields.map(fieldWords).join(", ") })}</span>}</li>
        ))}
      </ul>
      <h2>{t("photoQueue")}</h2>
      <ul>
        {state.photos.map((p) => (
          <li key={p.sha256} data-state={QueueState[p.state]}>{typeWords(p.recordType)} · {fieldWords(p.slot)} · {Math.round(p.offset / 1024)}/{Math.round(p.size / 1024)} KB · {t(`queue_${p.state}` as Key)}{p.error && <span class="warn"> {p.error}</span>}</li>
        ))}
      </ul>
      <button class="secondary" onClick={() => void out()}>{t("signOut")}</button>
    </section>
  );
}

const registryForDisplay = createRegistry(file_fieldsync_v1_records);

/** The server's reasons a value lost a merge (syncengine/merge.go) → words; another reason as the server wrote it. */
const LOSS_WORDS: Record<string, Key> = { older: "lossOlder", "frozen after submit": "lossFrozen", deleted: "lossDeleted" };
const lossWords = (reason: string) => (LOSS_WORDS[reason] ? t(LOSS_WORDS[reason]) : reason);

/** A field's words (due_time → "Due"); a field of a nested message ("items.quantity") by its last part. */
function fieldWords(field: string): string {
  return protoFieldWords(field.slice(field.lastIndexOf(".") + 1)) || field;
}

/** One field of a conflict's value (a message of the record's type with only that field set), as text. */
function fieldText(m: Message | undefined, field: string): string {
  if (!m) return "∅";
  try {
    const json = toJson(registryForDisplay.getMessage(m.$typeName)!, m, { registry: registryForDisplay }) as Record<string, unknown>;
    const camel = field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const v = json[camel] ?? json[field];
    return v === undefined ? "∅" : Array.isArray(v) ? v.map(valueWords).join(", ") : valueWords(v);
  } catch {
    return "?";
  }
}

/** A JSON value of a field in words: an enum value's or a visit tag's words, a time formatted, yes or no. */
function valueWords(v: unknown): string {
  if (typeof v === "string") return enumWords(v) || (`tag_${v}` in TAG_KEYS ? t(`tag_${v}` as Key) : fmtWireTime(v));
  if (typeof v === "boolean") return t(v ? "yes" : "no");
  return typeof v === "number" ? String(v) : JSON.stringify(v);
}
const TAG_KEYS = { tag_first_contact: 1, tag_price_negotiation: 1, tag_technical_demo: 1, tag_decision_maker_confirmed: 1 };
