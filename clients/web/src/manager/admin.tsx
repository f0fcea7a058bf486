/**
 * The admin screens the CLI has: users, regions and stores, enrollment
 * codes (with a QR the Enroll screen scans), devices, API keys and the
 * insights configuration as a form that refuses invalid values. Every call
 * needs an admin's device; others see why the screen is empty.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import qrcode from "qrcode-generator";
import { useState } from "preact/hooks";
import type { GetOrganizationResponse, User } from "../../../ts/dist/gen/fieldsync/v1/admin_pb.js";
import { Role } from "../../../ts/dist/gen/fieldsync/v1/options_pb.js";
import { api, serverUrl } from "./api";
import { applyForm, checkForm, CONFIG_FIELDS, fieldName, formValues } from "./configform";
import { m, type MKey } from "./text";
import { errText, fmtAgoTs, fmtTs, Status, useLoad, useNames, whoAmI } from "./util";

const ROLES = [Role.REP, Role.STORE_STAFF, Role.STORE_MANAGER, Role.REGIONAL_DIRECTOR, Role.TECH_ADVISOR, Role.MARKETING, Role.ADMIN];
/** A role in words (role_1…role_7 in ./text). */
const roleName = (r: Role) => (r >= 1 && r <= 7 ? m(`role_${r}` as MKey) : "");

/** #/manager/admin. */
export function AdminScreen() {
  const [who] = useLoad(whoAmI, []);
  if (who.state !== "done") return <Status res={who} />;
  if (who.value.role !== Role.ADMIN) return <section><h1>{m("adminTitle")}</h1><p class="muted">{m("adminOnly")}</p></section>;
  return (
    <section data-testid="admin">
      <h1>{m("adminTitle")}</h1>
      <Org />
      <Users />
      <Devices />
      <ApiKeys />
      <ConfigForm />
    </section>
  );
}

/** A one-line form: its inputs, a submit button and the server's answer. */
function useAction(): [string, (fn: () => Promise<unknown>, then?: () => void) => Promise<void>] {
  const [msg, setMsg] = useState("");
  return [msg, async (fn, then) => {
    setMsg("");
    try {
      await fn();
      then?.();
    } catch (e) {
      setMsg(m("refused", { msg: errText(e) }));
    }
  }];
}

function Org() {
  const [res, reload] = useLoad(async () => (await api()).admin.getOrganization({}), []);
  const [msg, run] = useAction();
  const [region, setRegion] = useState("");
  const [store, setStore] = useState("");
  const [storeRegion, setStoreRegion] = useState("");
  if (res.state !== "done") return <Status res={res} />;
  const org: GetOrganizationResponse = res.value;
  return (
    <div>
      <h2>{m("regions")}</h2>
      <ul>{org.regions.map((r) => <li key={r.id}>{r.name} <span class="muted small">{r.id}</span>
        <ul>{org.stores.filter((s) => s.regionId === r.id).map((s) => <li key={s.id}>{s.name} <span class="muted small">{s.id}</span></li>)}</ul></li>)}</ul>
      <form class="row" onSubmit={(e) => (e.preventDefault(), void run(async () => (await api()).admin.createRegion({ name: region }), () => (setRegion(""), reload())))}>
        <input placeholder={m("region")} value={region} onInput={(e) => setRegion(e.currentTarget.value)} /><button>{m("create")}</button>
      </form>
      <form class="row" onSubmit={(e) => (e.preventDefault(), void run(async () => (await api()).admin.createStore({ name: store, regionId: storeRegion }), () => (setStore(""), reload())))}>
        <input placeholder={m("store")} value={store} onInput={(e) => setStore(e.currentTarget.value)} />
        <select value={storeRegion} onChange={(e) => setStoreRegion(e.currentTarget.value)}><option value="">{m("region")}</option>{org.regions.map((r) => <option value={r.id}>{r.name}</option>)}</select>
        <button>{m("create")}</button>
      </form>
      {msg && <p class="error">{msg}</p>}
    </div>
  );
}

function Users() {
  const names = useNames();
  const [res, reload] = useLoad(async () => (await api()).admin.listUsers({}), []);
  const [msg, run] = useAction();
  const [form, setForm] = useState({ displayName: "", role: Role.REP, regionId: "", storeId: "" });
  const [code, setCode] = useState<{ who: string; code: string; until: string } | null>(null);
  if (res.state !== "done") return <Status res={res} />;
  const issue = (u: User) => run(async () => {
    const r = await (await api()).admin.issueEnrollmentCode({ userId: u.id, ttl: durationFromMs(24 * 3600_000) });
    setCode({ who: u.displayName, code: r.enrollmentCode, until: fmtTs(r.expireTime) });
  });
  return (
    <div>
      <h2>{m("users")}</h2>
      <table class="figures" data-testid="users"><tbody>{res.value.users.map((u) => (
        <tr key={u.id}><td>{u.displayName}</td><td class="small">{roleName(u.role)}</td><td class="small muted">{names.get(u.storeId) ?? names.get(u.regionId) ?? (u.storeId || u.regionId)}</td>
          <td><button class="small secondary" onClick={() => void issue(u)}>{m("issueCode")}</button></td></tr>
      ))}</tbody></table>
      {code && <EnrollCode {...code} />}
      <form onSubmit={(e) => (e.preventDefault(), void run(async () => (await api()).admin.createUser(form), reload))}>
        <div class="row">
          <input placeholder={m("name")} value={form.displayName} onInput={(e) => setForm({ ...form, displayName: e.currentTarget.value })} />
          <select value={form.role} onChange={(e) => setForm({ ...form, role: Number(e.currentTarget.value) as Role })}>{ROLES.map((r) => <option value={r}>{roleName(r)}</option>)}</select>
        </div>
        <div class="row">
          <input placeholder={m("regionId")} value={form.regionId} onInput={(e) => setForm({ ...form, regionId: e.currentTarget.value })} />
          <input placeholder={m("storeId")} value={form.storeId} onInput={(e) => setForm({ ...form, storeId: e.currentTarget.value })} />
          <button>{m("create")}</button>
        </div>
      </form>
      {msg && <p class="error">{msg}</p>}
    </div>
  );
}

/** An enrollment code, written and as a QR code of the app's address with it (the Enroll screen's scanner reads the code out). */
function EnrollCode({ who, code, until }: { who: string; code: string; until: string }) {
  const qr = qrcode(0, "M");
  qr.addData(`${serverUrl()}/#/enroll?code=${encodeURIComponent(code)}`);
  qr.make();
  return (
    <div class="card" data-testid="enroll-code">
      <div>{m("codeFor", { who, time: until })}</div>
      <code data-testid="code">{code}</code>
      <div class="qr" dangerouslySetInnerHTML={{ __html: qr.createSvgTag({ cellSize: 4, margin: 2 }) }} />
    </div>
  );
}

function Devices() {
  const names = useNames();
  const [res, reload] = useLoad(async () => (await api()).admin.listDevices({}), []);
  const [msg, run] = useAction();
  if (res.state !== "done") return <Status res={res} />;
  return (
    <div>
      <h2>{m("devices")}</h2>
      <table class="figures"><tbody>{res.value.devices.map((d) => (
        <tr key={d.id}><td>{d.name || d.id}</td><td class="small muted">{d.userName || names.get(d.userId) || d.userId}</td><td class="small">{fmtAgoTs(d.lastSeenTime)}</td>
          <td>{d.revokeTime ? <span class="tag">{m("revoked")}</span> : <button class="small secondary" onClick={() => void run(async () => (await api()).admin.revokeDevice({ deviceId: d.id }), reload)}>{m("revoke")}</button>}</td></tr>
      ))}</tbody></table>
      {msg && <p class="error">{msg}</p>}
    </div>
  );
}

function ApiKeys() {
  const [res, reload] = useLoad(async () => (await api()).admin.listApiKeys({}), []);
  const [msg, run] = useAction();
  const [name, setName] = useState("");
  const [perms, setPerms] = useState("insights:read");
  const [secret, setSecret] = useState("");
  if (res.state !== "done") return <Status res={res} />;
  const create = () => run(async () => {
    const r = await (await api()).admin.createApiKey({ name, permissions: perms.split(",").map((p) => p.trim()).filter(Boolean) });
    setSecret(r.secret);
  }, reload);
  return (
    <div>
      <h2>{m("apiKeys")}</h2>
      <table class="figures"><tbody>{res.value.apiKeys.map((k) => (
        <tr key={k.id}><td>{k.name}</td><td class="small">{k.permissions.join(", ")}</td><td class="small muted">{fmtTs(k.createTime)}</td>
          <td>{k.revokeTime ? <span class="tag">{m("revoked")}</span> : <button class="small secondary" onClick={() => void run(async () => (await api()).admin.revokeApiKey({ apiKeyId: k.id }), reload)}>{m("revoke")}</button>}</td></tr>
      ))}</tbody></table>
      <form onSubmit={(e) => (e.preventDefault(), void create())}>
        <div class="row"><input placeholder={m("name")} value={name} onInput={(e) => setName(e.currentTarget.value)} /><button>{m("create")}</button></div>
        <label>{m("permissions")}<input value={perms} onInput={(e) => setPerms(e.currentTarget.value)} /></label>
      </form>
      {secret && <p class="card small">{m("secretOnce", { secret })}</p>}
      {msg && <p class="error">{msg}</p>}
    </div>
  );
}

/** The insights configuration: a field per setting, checked as typed; the server's refusal shown as it words it. */
function ConfigForm() {
  const [res] = useLoad(async () => (await (await api()).admin.getInsightsConfig({})).configJson, []);
  const [values, setValues] = useState<Record<string, string> | null>(null);
  const [base, setBase] = useState("");
  const [msg, setMsg] = useState("");
  if (res.state !== "done") return <Status res={res} />;
  const json = base || res.value;
  const vals = values ?? formValues(json);
  const errs = checkForm(vals);
  const save = async () => {
    setMsg("");
    if (Object.keys(errs).length) return;
    try {
      const r = await (await api()).admin.setInsightsConfig({ configJson: applyForm(json, vals) });
      setBase(r.configJson);
      setValues(formValues(r.configJson));
      setMsg(m("saved"));
    } catch (e) {
      setMsg(m("refused", { msg: errText(e) }));
    }
  };
  return (
    <form data-testid="config-form" onSubmit={(e) => (e.preventDefault(), void save())}>
      <h2>{m("insightsConfig")}</h2>
      {CONFIG_FIELDS.map((f) => {
        const n = fieldName(f);
        return (
          <label key={n} class={errs[n] ? "bad" : ""}>{m(`cfg_${n}` as MKey)}
            <input name={n} value={vals[n]} aria-invalid={!!errs[n]} onInput={(e) => setValues({ ...vals, [n]: e.currentTarget.value })} />
            {errs[n] && <span class="small">{m(errs[n])}</span>}
          </label>
        );
      })}
      <button disabled={Object.keys(errs).length > 0}>{m("save")}</button>
      {msg && <p class={msg === m("saved") ? "ok" : "error"} data-testid="config-msg">{msg}</p>}
    </form>
  );
}
