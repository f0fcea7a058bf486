import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { go, useRoute } from "./hooks";
import { currentLang, setLang, t } from "./i18n";
import { applyUpdate } from "./pwa";
import { Alerts } from "./screens/alerts";
import { Customers, CustomerBrief } from "./screens/customers";
import { Enroll } from "./screens/enroll";
import { FormScreen, NewMenu } from "./screens/forms";
import { StatusBar } from "./screens/statusbar";
import { SyncDetails } from "./screens/syncinfo";
import { TodayScreen } from "./screens/today";
import { Revoked } from "./screens/revoked";
import { isRevoked, onChange, profile, session } from "./session";

/** The app: the sync bar, the screen of the route, the navigation. */
export function App({ enrolled }: { enrolled: boolean }) {
  const [isEnrolled, setEnrolled] = useState(enrolled);
  const [, rerender] = useState(0);
  const { parts, query } = useRoute();
  useEffect(() => onChange(() => rerender((n) => n + 1)), []); // a revocation shows at once
  if (!isEnrolled || !session()) return <Shell onLang={() => rerender((n) => n + 1)}><Enroll onDone={() => (setEnrolled(true), go("/today"))} /></Shell>;
  const [screen = "today", a = "", b = ""] = parts;
  let body;
  switch (screen) {
    case "customers": body = <Customers />; break;
    case "customer": body = <CustomerBrief id={a} />; break;
    case "new": body = <NewMenu customerId={query.get("customer") ?? ""} />; break;
    case "form": body = <FormScreen key={b} type={a} id={b} query={query} />; break;
    case "alerts": body = <Alerts />; break;
    case "sync": body = <SyncDetails onSignedOut={() => setEnrolled(false)} />; break;
    case "manager": body = <Manager />; break;
    default: body = <TodayScreen />;
  }
  if (isRevoked()) body = <Revoked onSignedOut={() => setEnrolled(false)} />;
  return (
    <Shell onLang={() => rerender((n) => n + 1)}>
      <StatusBar />
      <main>{body}</main>
      <nav class="tabs">
        {(["today", "customers", "new", "alerts", "sync"] as const).map((s) => (
          <a href={`#/${s}`} class={screen === s ? "on" : ""}>{t(`nav${s[0].toUpperCase()}${s.slice(1)}` as "navToday")}</a>
        ))}
      </nav>
    </Shell>
  );
}

function Shell({ children, onLang }: { children: preact.ComponentChildren; onLang: () => void }) {
  const [worker, setWorker] = useState<ServiceWorker | null>(null);
  const [, redraw] = useState(0);
  useEffect(() => onChange(() => redraw((n) => n + 1)), []); // the user's name arrives after enrollment
  useEffect(() => {
    const on = (e: Event) => setWorker((e as CustomEvent<ServiceWorker>).detail);
    addEventListener("fieldsync-update", on);
    return () => removeEventListener("fieldsync-update", on);
  }, []);
  return (
    <div class="app">
      <header>
        <strong>{t("appName")}{profile() && <span class="who"> · {profile()!.userName}</span>}</strong>
        <a href="#/manager" class="mgr">{t("navManager")}</a>
        <button class="link" onClick={() => (setLang(currentLang() === "en" ? "zh-CN" : "en"), onLang())}>{t("language")}</button>
      </header>
      {worker && <div class="banner">{t("updateReady")} <button onClick={() => applyUpdate(worker)}>{t("updateNow")}</button></div>}
      {children}
    </div>
  );
}

/** The managers' screens: a separate chunk, loaded only when opened. */
function Manager() {
  const [C, setC] = useState<ComponentType | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    import("./manager/index").then((m) => setC(() => m.ManagerHome), (e) => setErr(String(e)));
  }, []);
  if (err) return <p class="error">{t("error", { msg: err })}</p>;
  return C ? <C /> : <p>…</p>;
}
