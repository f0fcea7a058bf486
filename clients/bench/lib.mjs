// What the benchmarks of this folder share: fieldsyncd and the Go SDK's test
// binary built from this checkout, a demo server on a fresh data dir, and the
// visits both sides store (the same fields as the Go seed's).
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)} load ${loadavg()[0].toFixed(2)}]`, ...a);

/** Builds fieldsyncd and the Go SDK's test binary into dir. */
export function buildGo(dir) {
  log("building fieldsyncd and the Go SDK's test binary");
  execFileSync("go", ["build", "-o", join(dir, "fieldsyncd"), "./cmd/fieldsyncd"], { cwd: repo, stdio: "inherit" });
  execFileSync("go", ["test", "-c", "-o", join(dir, "clientsgo.test"), "./clients/go/"], { cwd: repo, stdio: "inherit" });
}

/** Runs one test of the Go SDK's test binary (built by buildGo into dir) with env; returns its stdout. */
export function goTest(dir, test, env) {
  return execFileSync(join(dir, "clientsgo.test"), ["-test.run", `^${test}$`, "-test.v", "-test.count=1"], { cwd: join(repo, "clients/go"), env: { ...process.env, ...env }, encoding: "utf8" });
}

/** Starts fieldsyncd --demo (built by buildGo into dir) on a fresh data dir (dir/name unless
 * data says another); children collects the process so that a failed run can stop it. */
export async function startServer(dir, name, children, data = join(dir, name)) {
  const child = spawn(join(dir, "fieldsyncd"), ["--addr", "127.0.0.1:0", "--metrics-addr=", "--data-dir", data, "--demo", "--log-format", "json"], { stdio: ["ignore", "ignore", "pipe"] });
  children.add(child);
  const addr = await new Promise((done, fail) => {
    const lines = [];
    createInterface({ input: child.stderr }).on("line", (l) => {
      lines.push(l);
      try {
        const r = JSON.parse(l);
        if (r.msg === "fieldsyncd serving") done(r.addr);
      } catch { /* not JSON */ }
    });
    child.once("exit", (c) => fail(new Error(`fieldsyncd exited ${c}:\n${lines.join("\n")}`)));
  });
  const url = `http://${addr}`;
  const creds = JSON.parse(readFileSync(join(data, "demo-credentials.json"), "utf8"));
  const rpc = async (method, body, token = creds.admin_token) => {
    const res = await fetch(`${url}/fieldsync.v1.${method}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const reps = creds.users.filter((u) => u.role === "rep");
  /** A new device of the demo's rep number `rep` (0: the first): its token. */
  const enroll = async (deviceName, rep = 0) => {
    const { enrollmentCode } = await rpc("AdminService/IssueEnrollmentCode", { userId: reps[rep].user_id });
    return (await rpc("IdentityService/Enroll", { enrollmentCode, deviceName, platform: "web" })).deviceToken;
  };
  const stop = () => new Promise((done) => (child.exitCode !== null ? done() : (child.once("exit", done), child.kill("SIGTERM"))));
  return { url, creds, enroll, stop, pid: child.pid };
}

/** PouchDB documents for visits from..to-1: the same fields as the Go seed's visits. */
export function pouchVisits(from, to) {
  const docs = [];
  for (let j = from; j < to; j++) {
    docs.push({ _id: `visit-${String(j).padStart(8, "0")}`, record_type: "fieldsync.v1.Visit", customer_id: `hospital-${j % 500}`, kind: "VISIT_KIND_ROUTINE", notes: `visit ${j}: demo of the new stent, follow up on pricing next week`, visit_time: new Date().toISOString(), action_tags: ["technical_demo"] });
  }
  return docs;
}

/** Waits until process pid has used under 3% of a core for two seconds running (Linux: /proc):
 * fieldsyncd's relay and consumers have caught up with what was pushed, so they do not compete
 * with the next timing. Gives up after limitMs. */
export async function waitQuiet(pid, limitMs = 300_000) {
  const cpu = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0); // utime + stime, clock ticks (100/s)
  const end = Date.now() + limitMs;
  let quiet = 0;
  for (let last = cpu(); quiet < 4 && Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpu();
    quiet = now - last <= 1.5 ? quiet + 1 : 0; // ≤ 1.5 ticks in 500 ms: 3% of a core
    last = now;
  }
}
