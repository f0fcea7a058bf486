import { Code, ConnectError } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { enroll } from "../session";
import { codeFromLink } from "../hooks";

interface Detector { detect(source: CanvasImageSource): Promise<{ rawValue: string }[]> }
declare const BarcodeDetector: { new (opts: { formats: string[] }): Detector } | undefined;

/** Enroll: a one-time code, typed or scanned from the admin's QR (where the browser has BarcodeDetector). */
export function Enroll({ onDone }: { onDone: () => void }) {
  // Opened from the admin's QR by the phone's camera: the code is in the address.
  const [code, setCode] = useState(() => (location.hash.includes("?code=") ? codeFromLink(location.hash) : ""));
  const [name, setName] = useState(() => `${navigator.platform || "web"} browser`);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState("");
  const [scanning, setScanning] = useState(false);
  const canScan = typeof BarcodeDetector !== "undefined" && !!navigator.mediaDevices;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!navigator.onLine) return setErr(t("enrollOffline"));
    setBusy(true);
    setErr("");
    try {
      await enroll(code, name);
      onDone();
    } catch (x) {
      setErr(enrollError(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main>
      <form class="card" onSubmit={submit}>
        <h1>{t("enrollTitle")}</h1>
        <p>{t("enrollHelp")}</p>
        <label>{t("enrollCode")}<input name="code" value={code} onInput={(e) => setCode(e.currentTarget.value)} autocomplete="one-time-code" required /></label>
        <label>{t("deviceName")}<input name="device" value={name} onInput={(e) => setName(e.currentTarget.value)} required /></label>
        {err && <p class="error" role="alert">{err}</p>}
        <button type="submit" disabled={busy}>{busy ? t("enrolling") : t("enroll")}</button>
        {canScan && <button type="button" class="secondary" onClick={() => setScanning(!scanning)}>{scanning ? t("stopScan") : t("scanQr")}</button>}
        {scanning && <Scanner onCode={(c) => (setCode(c), setScanning(false))} />}
      </form>
    </main>
  );
}

/** Why enrolling failed, in words: the code refused, the server not reached, else the error's own message. */
export function enrollError(x: unknown): string {
  const code = ConnectError.from(x).code;
  if (code === Code.Unauthenticated || code === Code.NotFound || code === Code.InvalidArgument || code === Code.PermissionDenied || code === Code.FailedPrecondition) return t("enrollRefused");
  if (code === Code.Unavailable || code === Code.DeadlineExceeded || code === Code.Unknown) return t("enrollFailed");
  return x instanceof Error ? x.message : String(x);
}

/** The camera, read by BarcodeDetector until it sees a QR code. */
function Scanner({ onCode }: { onCode: (code: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    let stream: MediaStream | null = null;
    let live = true;
    const detector = new BarcodeDetector!({ formats: ["qr_code"] });
    void (async () => {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      if (!video.current) return;
      video.current.srcObject = stream;
      await video.current.play();
      while (live) {
        const found = await detector.detect(video.current).catch(() => []);
        const raw = found[0]?.rawValue;
        if (raw) return onCode(codeFromLink(raw));
        await new Promise((r) => setTimeout(r, 250));
      }
    })().catch((e) => console.warn("scan:", e));
    return () => {
      live = false;
      stream?.getTracks().forEach((tr) => tr.stop());
    };
  }, []);
  return <video ref={video} class="scanner" muted playsInline />;
}
