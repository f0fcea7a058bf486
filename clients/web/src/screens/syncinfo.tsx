import { createRegistry, toJson, type Message } from "@bufbuild/protobuf";
import { file_fieldsync_v1_records, QueueState, type Conflict, type QueuedPhoto, type Rejection } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { fmtTime, t, type Key } from "../i18n";
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
            <span class="muted small">{c.recordType.replace("fieldsync.v1.", "")} {c.recordId} · {fmtTime(c.time)}</span><br />
            {t("conflictLine", { field: fieldWords(c.field), losing: fieldText(c.losing, c.field), winning: fieldText(c.winning, c.field), reason: lossWords(c.reason) })}
          </li>
        ))}
      </ul>
      <h2>{t("rejectionsTitle")}</h2>
      {state.rejections.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul>
        {state.rejections.map((r) => (
          <li key={r.seq}><span class="muted small">{r.recordType.replace("fieldsync.v1.", "")} {r.recordId} · {fmtTime(r.rejected)}</span><br />{r.reason}</li>
        ))}
      </ul>
      <h2>{t("photoQueue")}</h2>
      <ul>
        {state.photos.map((p) => (
          <li key={p.sha256}>{p.slot} · {Math.round(p.offset / 1024)}/{Math.round(p.size / 1024)} KB · {QueueState[p.state]}{p.error && <span class="warn"> {p.error}</span>}</li>
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

/** A field's name in words where the forms have them (due_time → "Due"); else the field's name. */
function fieldWords(field: string): string {
  const key = field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  return key in WORDED_FIELDS ? t(key as Key) : field;
}
const WORDED_FIELDS = { state: 1, description: 1, dueTime: 1, currency: 1 };

/** An enum value's words where the app has them (COMMITMENT_STATE_DONE → "Done"); else its name. */
const ENUM_WORDS: Record<string, Key> = { COMMITMENT_STATE_OPEN: "stateOpen", COMMITMENT_STATE_DONE: "stateDone", COMMITMENT_STATE_CANCELLED: "stateCancelled" };

/** One field of a conflict's value (a message of the record's type with only that field set), as text. */
function fieldText(m: Message | undefined, field: string): string {
  if (!m) return "∅";
  try {
    const json = toJson(registryForDisplay.getMessage(m.$typeName)!, m, { registry: registryForDisplay }) as Record<string, unknown>;
    const camel = field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const v = json[camel] ?? json[field];
    return v === undefined ? "∅" : typeof v === "string" ? (ENUM_WORDS[v] ? t(ENUM_WORDS[v]) : v) : JSON.stringify(v);
  } catch {
    return "?";
  }
}
