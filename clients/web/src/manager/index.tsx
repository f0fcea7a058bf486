/**
 * The managers' screens (PHI, alerts inbox, A3, fleet, admin): loaded as
 * their own chunk from #/manager, so the field screens never ship them
 * (nor uPlot, which only this chunk imports).
 */
import { useRoute } from "../hooks";
import { A3Screen } from "./a3";
import { AdminScreen } from "./admin";
import { AlertsInbox } from "./alerts";
import { FleetScreen } from "./fleet";
import { PhiScreen } from "./phiscreen";
import type { Level } from "./phi";
import { m, type MKey } from "./text";
import "./manager.css";

const TABS: [string, MKey][] = [["phi", "tabPhi"], ["alerts", "tabAlerts"], ["a3", "tabA3"], ["fleet", "tabFleet"], ["admin", "tabAdmin"]];

/** #/manager/<tab>/…: the tab bar and the tab's screen. */
export function ManagerHome() {
  const { parts, query } = useRoute();
  const [, tab = "phi", a, b] = parts;
  let body;
  switch (tab) {
    case "alerts": body = <AlertsInbox id={a} />; break;
    case "a3": body = <A3Screen />; break;
    case "fleet": body = <FleetScreen />; break;
    case "admin": body = <AdminScreen />; break;
    default: body = <PhiScreen key={`${a}/${b}`} level={a as Level | undefined} id={b} name={query.get("name") ?? ""} />;
  }
  return (
    <div class="manager" data-testid="manager">
      <nav class="mgr-tabs">{TABS.map(([k, label]) => <a key={k} href={`#/manager/${k}`} class={tab === k ? "on" : ""}>{m(label)}</a>)}</nav>
      {body}
    </div>
  );
}
