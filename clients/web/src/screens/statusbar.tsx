import type { PhotoProgress, Status } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { fmtAgo, fmtTime, t } from "../i18n";
import { session } from "../session";

/** The sync bar, always visible: online or not, writes and photos waiting (with upload progress), last sync, losses. */
export function StatusBar() {
  const [s, setS] = useState<Status | null>(null);
  const [progress, setProgress] = useState<PhotoProgress["overall"] | null>(null);
  const [netUp, setNetUp] = useState(navigator.onLine);
  const [, tick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => tick((n) => n + 1), 30_000); // "last sync 5 min. ago" moves on
    return () => clearInterval(id);
  }, []);
  useEffect(() => {
    const c = session()?.client;
    if (!c) return;
    const offS = c.subscribe(setS);
    const offP = c.onPhotoProgress((p) => setProgress({ ...p.overall }));
    const up = () => setNetUp(navigator.onLine);
    addEventListener("online", up);
    addEventListener("offline", up);
    return () => (offS(), offP(), removeEventListener("online", up), removeEventListener("offline", up));
  }, []);
  if (!s) return <div class="syncbar" />;
  const online = netUp && s.online;
  const uploading = progress && s.photoQueue > 0 && progress.size > 0;
  return (
    <div class={`syncbar ${online ? "up" : "down"}`} data-testid="syncbar" data-outbox={s.outboxDepth} data-photos={s.photoQueue} data-online={String(online)}>
      <span class="dot">{!online ? t("offline") : s.syncing ? t("syncing") : t("online")}</span>
      <span>{s.outboxDepth ? t("writesWaiting", { n: s.outboxDepth }) : t("allSynced")}</span>
      {s.photoQueue > 0 && (
        <span>
          {t("photosWaiting", { n: s.photoQueue })}
          {uploading && <> · {t("photoProgress", { sent: Math.round(progress.sent / 1024), size: Math.round(progress.size / 1024) })}
            <progress max={progress.size} value={progress.sent} /></>}
        </span>
      )}
      <span class="muted" title={s.lastSync ? fmtTime(s.lastSync) : ""}>{s.lastSync ? t("lastSync", { time: fmtAgo(s.lastSync) }) : t("neverSynced")}</span>
      {s.conflicts > 0 && <a href="#/sync" class="warn">{t("conflictsN", { n: s.conflicts })}</a>}
      {s.rejections > 0 && <a href="#/sync" class="warn">{t("rejectionsN", { n: s.rejections })}</a>}
      {s.photosFailed > 0 && <a href="#/sync" class="warn">{t("photosFailedN", { n: s.photosFailed })}</a>}
    </div>
  );
}
