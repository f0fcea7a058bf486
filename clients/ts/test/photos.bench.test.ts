// A 5 MiB photo's upload against a real fieldsyncd, with one or two chunks
// in flight, over the loopback and with ~10 ms added before each request,
// the variants alternated in one run. Skipped unless FIELDSYNC_PHOTO_BENCH
// is set (to the rounds; FIELDSYNC_PHOTO_BENCH_DELAYS: the ms added, "0,10"); FIELDSYNC_PHOTO_BENCH_BASE may name another
// checkout's clients/ts/src/index.ts (the SDK before) to alternate with.
//
//   FIELDSYNC_PHOTO_BENCH=7 npx vitest run test/photos.bench.test.ts
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as sdk from "../src/index.js";
import { memoryStorage } from "./helpers.js";
import { jpeg } from "./photos.js";
import { startServer, type TestServer } from "./server.js";

const ROUNDS = Number(process.env.FIELDSYNC_PHOTO_BENCH || 0);
const BASE = process.env.FIELDSYNC_PHOTO_BENCH_BASE;
const SIZE = 5 << 20;
const DELAYS = (process.env.FIELDSYNC_PHOTO_BENCH_DELAYS || "0,10").split(",").map(Number); // ms added before each request
let srv: TestServer;

describe.skipIf(!ROUNDS)("5 MiB photo upload, chunks in flight", () => {
  beforeAll(async () => {
    srv = await startServer();
  }, 300_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it("alternates the variants", async () => {
    const base = BASE ? ((await import(/* @vite-ignore */ BASE)) as typeof sdk) : undefined;
    const variants: { name: string; lib: typeof sdk; opts: Partial<sdk.ClientOptions> }[] = [
      ...(base ? [{ name: "before (main)", lib: base, opts: {} }] : []),
      { name: "window 1", lib: sdk, opts: { photoChunksInFlight: 1 } },
      { name: "window 2", lib: sdk, opts: { photoChunksInFlight: 2 } },
    ];
    const token = srv.creds.users.find((u) => u.role === "rep")!.device_token;
    const times = new Map<string, number[]>();
    const loads = new Map<number, string[]>();
    let seed = 1000;
    for (let r = -1; r < ROUNDS; r++) { // round -1 warms up, not counted
      for (const delay of DELAYS) {
        if (r >= 0) (loads.get(delay) ?? loads.set(delay, []).get(delay)!).push(readFileSync("/proc/loadavg", "utf8").split(" ")[0]!);
        for (const v of r % 2 ? [...variants].reverse() : variants) {
          // From CreateUpload's start to CompleteUpload's answer; each request waits delay ms first.
          let start = 0;
          let end = 0;
          const timing: Interceptor = (next) => async (req) => {
            if (req.method.name === "CreateUpload") start = performance.now();
            if (delay) await new Promise((res) => setTimeout(res, delay));
            const res = await next(req);
            if (req.method.name === "CompleteUpload") end = performance.now();
            return res;
          };
          const c = await v.lib.Client.open({
            storage: await memoryStorage(), server: srv.url, token,
            transport: (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [...interceptors, timing] }),
            ...v.opts,
          });
          const id = c.newId();
          await c.put(id, create(sdk.SurgerySupportSchema, { hospitalId: "hospital-1" }));
          await c.addPhoto(sdk.SurgerySupportSchema.typeName, id, "pre_op_photo", jpeg(SIZE, ++seed));
          await c.sync();
          expect((await c.photos())[0]?.state).toBe(sdk.QueueState.Done);
          c.close();
          if (r < 0) continue;
          const key = `${delay} ms|${v.name}`;
          (times.get(key) ?? times.set(key, []).get(key)!).push(end - start);
        }
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    // The ratio to window 1 is taken round by round (the same round's window 1 run), then its median.
    const lines = ["| added per request | variant | median | min–max | median ratio to window 1, per round | load (1 min) |", "|---|---|---|---|---|---|"];
    for (const [key, xs] of times) {
      const [delay, name] = key.split("|");
      const one = times.get(`${delay}|window 1`)!;
      const l = loads.get(Number.parseInt(delay!))!;
      const ratio = name === "window 1" ? "1" : med(xs.map((x, i) => x / one[i]!)).toFixed(2);
      lines.push(`| ${delay} | ${name} | ${med(xs).toFixed(0)} ms | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} ms | ${ratio} | ${Math.min(...l.map(Number))}–${Math.max(...l.map(Number))} |`);
    }
    console.log(`${ROUNDS} rounds (after one not counted) of ${SIZE} bytes, 1 MiB chunks\n${lines.join("\n")}`);
  }, 600_000);
});
