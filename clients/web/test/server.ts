// A real fieldsyncd for the browser test (as clients/ts/test/server.ts does it).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

/** The demo organisation's credentials (internal/demo Credentials). */
export interface DemoCredentials {
  tenant_id: string;
  admin_token: string;
  users: { name: string; role: string; user_id: string; device_id: string; device_token: string }[];
}

/** A real fieldsyncd built from this checkout, on a free port and a temp data dir, with the demo organisation. */
export interface TestServer {
  url: string;
  /** The server's temp folder (removed by stop): a place for other test files. */
  dir: string;
  creds: DemoCredentials;
  stop(): Promise<void>;
}

const repoRoot = resolve(import.meta.dirname, "../../..");

/** Builds fieldsyncd (go build) and starts it with --demo; resolves once it serves and the credentials are written. */
export async function startServer(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-ts-"));
  const bin = join(dir, "fieldsyncd");
  goBuild(bin, "./cmd/fieldsyncd");
  const data = join(dir, "data");
  const child = spawn(bin, ["--addr", "127.0.0.1:0", "--metrics-addr=", "--data-dir", data, "--demo", "--log-format", "json"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stop = () => stopChild(child).finally(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const addr = await servingAddr(child);
    const credsPath = join(data, "demo-credentials.json");
    if (!existsSync(credsPath)) throw new Error(`fieldsyncd serves but wrote no ${credsPath}`);
    return { url: `http://${addr}`, dir, creds: JSON.parse(readFileSync(credsPath, "utf8")), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Builds a command of this checkout (go build) into bin. */
export function goBuild(bin: string, pkg: string): void {
  execFileSync("go", ["build", "-o", bin, pkg], { cwd: repoRoot, stdio: "inherit" });
}

/** Reads fieldsyncd's JSON log until its "fieldsyncd serving" line and returns the address. */
function servingAddr(child: ChildProcess): Promise<string> {
  return new Promise((resolveAddr, reject) => {
    const log: string[] = [];
    const lines = createInterface({ input: child.stderr! });
    lines.on("line", (line) => {
      log.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === "fieldsyncd serving") resolveAddr(rec.addr);
      } catch {
        // not JSON: keep it for the error message
      }
    });
    child.once("exit", (code) => reject(new Error(`fieldsyncd exited (${code}) before serving:\n${log.join("\n")}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
}
