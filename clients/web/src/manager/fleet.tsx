/** Fleet: each device's user (by name, from the server), last sync, writes waiting, oldest unsynced write and app version (AdminService.ListDevices; managers see their people's). */
import type { Device } from "../../../ts/dist/gen/fieldsync/v1/admin_pb.js";
import { api } from "./api";
import { m } from "./text";
import { fmtAgoTs, fmtTs, Status, tsToDate, useLoad, useNames } from "./util";

/** Devices in the order a manager looks at them: live before revoked, the oldest unsynced write first, then never-synced, then by name. */
export function fleetOrder(devices: readonly Device[]): Device[] {
  const oldest = (d: Device) => tsToDate(d.oldestUnsyncedTime)?.getTime() ?? Infinity;
  return [...devices].sort((a, b) => Number(!!a.revokeTime) - Number(!!b.revokeTime) || oldest(a) - oldest(b) ||
    Number(!!a.status?.lastSyncTime) - Number(!!b.status?.lastSyncTime) || a.name.localeCompare(b.name));
}

/** Whether a device holds a write older than maxAgeMs (the stale-device rule's 24 h by default). */
export function isStale(d: Device, now: number, maxAgeMs = 24 * 3600_000): boolean {
  const t = tsToDate(d.oldestUnsyncedTime)?.getTime();
  return !d.revokeTime && t !== undefined && now - t > maxAgeMs;
}

/** #/manager/fleet. */
export function FleetScreen() {
  const [res] = useLoad(async () => (await (await api()).admin.listDevices({})).devices, []);
  const names = useNames();
  const now = Date.now();
  return (
    <section data-testid="fleet">
      <h1>{m("fleetTitle")}</h1>
      <p class="muted small">{m("fleetHelp")}</p>
      <Status res={res} />
      {res.state === "done" && (res.value.length === 0 ? <p class="muted">{m("noDevices")}</p> : (
        <div class="scroll">
          <table class="figures">
            <thead><tr><th>{m("device")}</th><th>{m("user")}</th><th>{m("lastSyncCol")}</th><th>{m("waitingCol")}</th><th>{m("oldestCol")}</th><th>{m("versionCol")}</th><th>{m("lastSeenCol")}</th></tr></thead>
            <tbody>{fleetOrder(res.value).map((d) => (
              <tr key={d.id} data-testid="device" class={d.revokeTime ? "muted" : ""}>
                <td>{d.name || d.id} <span class="muted small">{d.platform}</span>{d.revokeTime && <span class="tag">{m("revoked")}</span>}</td>
                <td class="small" data-testid="device-user">{d.userName || names.get(d.userId) || d.userId}</td>
                <td data-testid="device-last-sync">{d.status?.lastSyncTime ? <time title={fmtTs(d.status.lastSyncTime)}>{fmtAgoTs(d.status.lastSyncTime)}</time> : m("never")}</td>
                <td>{d.status ? d.status.outboxDepth : "–"}</td>
                <td class={isStale(d, now) ? "warn" : ""}>{d.oldestUnsyncedTime ? <time title={fmtTs(d.oldestUnsyncedTime)}>{fmtAgoTs(d.oldestUnsyncedTime)}</time> : m("none")}{isStale(d, now) && <span class="tag warn">{m("stale")}</span>}</td>
                <td>{d.status?.appVersion || "–"}</td>
                <td class="small">{d.lastSeenTime ? <time title={fmtTs(d.lastSeenTime)}>{fmtAgoTs(d.lastSeenTime)}</time> : m("never")}</td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
