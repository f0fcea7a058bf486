import { Code, ConnectError } from "@connectrpc/connect";
import type { Status } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { session, signOut } from "../session";

/** Whether err is the server refusing the device's token (a revoked device). */
export function isRevocation(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Unauthenticated;
}

/**
 * The device was revoked (the server answers Unauthenticated): what is
 * still on the device and not sent, a copy of it to keep, and enrolling
 * again — which empties the device's store, so only after the user
 * confirmed it, counts named.
 */
export function Revoked({ onSignedOut }: { onSignedOut: () => void }) {
  const [s, setS] = useState<Status | null>(null);
  useEffect(() => session()?.client.subscribe(setS), []);
  const again = async () => {
    const ask = reenrollQuestion(s);
    if (ask && !confirm(ask)) return;
    await signOut(true);
    onSignedOut();
  };
  if (!s) {
    return (
      <section class="card" data-testid="revoked" data-state="reading">
        <h1>{t("revokedTitle")}</h1>
        <p>{t("revokedHelp")}</p>
        <button data-action="re-enroll" onClick={() => void again()}>{t("revokedReenroll")}</button>
      </section>
    );
  }
  const unsent = s.outboxDepth;
  const photos = s.photoQueue;
  return (
    <section class="card" data-testid="revoked" data-state="known" data-unsent={unsent} data-photos={photos}>
      <h1>{t("revokedTitle")}</h1>
      <p>{t("revokedHelp")}</p>
      {(unsent > 0 || photos > 0) && <p class="warn">{t("revokedUnsent", { n: unsent, photos })}</p>}
      {unsent > 0 && <button class="secondary" data-action="save-unsent" onClick={() => void saveUnsent()}>{t("revokedSave")}</button>}
      <button data-action="re-enroll" onClick={() => void again()}>{t("revokedReenroll")}</button>
    </section>
  );
}

/**
 * What to ask before enrolling again deletes the device's store, or null
 * when nothing would be lost. Until the store's first status arrives (s
 * null) the counts are unknown, and the question is always asked: the
 * screen never assumes nothing is waiting.
 */
export function reenrollQuestion(s: Pick<Status, "outboxDepth" | "photoQueue"> | null): string | null {
  if (!s) return t("revokedConfirmUnknown");
  if (!s.outboxDepth && !s.photoQueue) return null;
  return t("revokedConfirm", { n: s.outboxDepth, photos: s.photoQueue });
}

/** Downloads the changes not sent (the outbox: record type, id, fields, the value's wire bytes in base64) as JSON. */
async function saveUnsent(): Promise<void> {
  const { storage } = session()!;
  const m = await storage.read((tx) => tx.meta());
  const entries = (await storage.read((tx) => tx.outbox())).filter((e) => !e.acked);
  const b64 = (b: Uint8Array | null) => (b ? btoa(Array.from(b, (x) => String.fromCharCode(x)).join("")) : null);
  const json = JSON.stringify({
    deviceId: m.deviceId, userId: m.userId, saved: new Date().toISOString(),
    changes: entries.map((e) => ({ seq: e.seq, type: e.type, recordId: e.recordId, fields: e.fields, delete: e.del, created: new Date(e.created).toISOString(), valueBase64: b64(e.value) })),
  }, null, 2);
  const a = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([json], { type: "application/json" })), download: `fieldsync-unsent-${m.deviceId}.json`,
  });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
