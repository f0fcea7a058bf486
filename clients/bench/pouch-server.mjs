// pouchdb-server's core in a process of its own, as `pouchdb-server --in-memory` runs it:
// express-pouchdb on the memory adapter. `node pouch-server.mjs [--seed=db:n]` listens on a free
// loopback port, creates db with n visits (pouchVisits) when asked, then prints
// {"port": …} on stdout. Used by server.mjs.
import express from "express";
import expressPouchdb from "express-pouchdb";
import PouchCore from "pouchdb-core";
import PouchMemory from "pouchdb-adapter-memory";
import PouchMapReduce from "pouchdb-mapreduce";
import PouchReplication from "pouchdb-replication";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pouchVisits } from "./lib.mjs";

const Pouch = PouchCore.plugin(PouchMemory).plugin(PouchMapReduce).plugin(PouchReplication).defaults({ adapter: "memory" });
for (const a of process.argv.slice(2)) {
  const m = /^--seed=([a-z0-9-]+):(\d+)$/.exec(a);
  if (!m) throw new Error(`unknown argument ${a}`);
  const db = new Pouch(m[1]);
  for (let i = 0; i < Number(m[2]); i += 1000) await db.bulkDocs(pouchVisits(i, Math.min(Number(m[2]), i + 1000)));
}
const app = express();
app.use("/", expressPouchdb(Pouch, { mode: "minimumForPouchDB", inMemoryConfig: true, logPath: join(mkdtempSync(join(tmpdir(), "pouch-server-")), "log.txt") }));
const srv = app.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: srv.address().port })));
