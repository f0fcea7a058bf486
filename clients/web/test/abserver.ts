// A second and third fieldsyncd for the bench's same-run comparison of two
// builds of the app (AB=<distA>:<distB> npm run bench): the same binary as
// the bench's own server, each with --web-dir on one build, each on its own
// origin (so each has its own service worker and store).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { goBuild, type TestServer } from "./server.js";

/** Starts fieldsyncd --demo serving the app from webDir (a vite build's dist). */
export async function startServerOnWebDir(webDir: string): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-web-ab-"));
  const bin = join(dir, "fieldsyncd");
  goBuild(bin, "./cmd/fieldsyncd");
  const data = join(dir, "data");
  const child = spawn(bin, ["--addr", "127.0.0.1:0", "--metrics-addr=", "--data-dir", data, "--demo", "--log-format", "json", "--web-dir", webDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stop = () => new Promise<void>((done) => {
    if (child.exitCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const addr = await new Promise<string>((ok, fail) => {
      const log: string[] = [];
      createInterface({ input: child.stderr! }).on("line", (line) => {
        log.push(line);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === "fieldsyncd serving") ok(rec.addr);
        } catch {
          // not JSON: kept for the error
        }
      });
      child.once("exit", (code) => fail(new Error(`fieldsyncd exited (${code}) before serving:\n${log.join("\n")}`)));
    });
    const credsPath = join(data, "demo-credentials.json");
    if (!existsSync(credsPath)) throw new Error(`fieldsyncd serves but wrote no ${credsPath}`);
    return { url: `http://${addr}`, dir, creds: JSON.parse(readFileSync(credsPath, "utf8")), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
