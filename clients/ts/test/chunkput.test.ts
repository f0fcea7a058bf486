import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client as RpcClient } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { RAW_RETRY_AFTER_MS, withRawChunks } from "../src/chunkput.js";
import { MediaService, UploadOffsetSchema } from "../src/gen/fieldsync/v1/media_pb.js";
import { throttledMs } from "../src/photos.js";

type Put = Parameters<RpcClient<typeof MediaService>["putChunk"]>[0];

/** A media client whose putChunk records its calls (the RPC a raw chunk falls back to). */
function rpc() {
  const calls: Put[] = [];
  const media = {
    putChunk: async (req: Put) => {
      calls.push(req);
      return { offset: (req.offset ?? 0n) + BigInt(req.data?.length ?? 0) };
    },
  } as unknown as RpcClient<typeof MediaService>;
  return { media, calls };
}

/** A fetch answering each request with the next of answers, recording the requests. */
function fetchOf(...answers: (Response | Error)[]) {
  const seen: { url: string; init: RequestInit }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    seen.push({ url, init });
    const a = answers.shift();
    if (!a) throw new Error("no answer left");
    if (a instanceof Error) throw a;
    return a;
  }) as unknown as typeof globalThis.fetch;
  return { fetch, seen };
}

const chunk = { uploadId: "01UPLOAD", offset: 4096n, data: new Uint8Array([1, 2, 3]), crc32c: 0xdeadbeef };
const jsonError = (status: number, body: object, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

describe("raw chunk route", () => {
  it("puts the chunk's bytes with its offset, CRC32C and token, and returns the server's offset", async () => {
    const { media, calls } = rpc();
    const f = fetchOf(new Response('{"offset":"4099"}', { status: 200, headers: { "Fieldsync-Offset": "4099" } }));
    const c = withRawChunks(media, { server: "https://sync.example.com/", token: "tok", fetch: f.fetch, now: () => 0 });
    const res = await c.putChunk(chunk);
    expect(res.offset).toBe(4099n);
    expect(calls).toHaveLength(0);
    const [{ url, init }] = f.seen as [{ url: string; init: RequestInit }];
    expect(url).toBe("https://sync.example.com/photos/v1/uploads/01UPLOAD?offset=4096");
    expect(init.method).toBe("PUT");
    expect(init.body).toBe(chunk.data); // the bytes as they are, not copied
    expect(init.headers).toMatchObject({ "Authorization": "Bearer tok", "Fieldsync-Crc32c": String(0xdeadbeef) });
  });

  it("takes a 200 without the Fieldsync-Offset header (a host answering every path with its page) as no route", async () => {
    const { media, calls } = rpc();
    const f = fetchOf(new Response("<!doctype html><title>app</title>", { status: 200, headers: { "Content-Type": "text/html" } }));
    const c = withRawChunks(media, { server: "http://s", token: "t", fetch: f.fetch, now: () => 0 });
    expect((await c.putChunk(chunk)).offset).toBe(4099n);
    expect(calls).toHaveLength(1);
  });

  it("throws the server's Connect errors as PutChunk's: code, UploadOffset detail, Retry-After", async () => {
    const at = btoa(String.fromCharCode(...toBinary(UploadOffsetSchema, create(UploadOffsetSchema, { offset: 8192n })))).replace(/=+$/, "");
    const f = fetchOf(
      jsonError(409, { code: "aborted", message: "chunk at offset 4096, but upload continues at 8192", details: [{ type: "fieldsync.v1.UploadOffset", value: at }] }),
      jsonError(429, { code: "resource_exhausted", message: "slow down" }, { "Retry-After": "3" }),
      jsonError(400, { code: "data_loss", message: "CRC32C" }),
    );
    const c = withRawChunks(rpc().media, { server: "http://s", token: "t", fetch: f.fetch, now: () => 0 });
    const aborted = await c.putChunk(chunk).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(ConnectError);
    expect((aborted as ConnectError).code).toBe(Code.Aborted);
    expect((aborted as ConnectError).findDetails(UploadOffsetSchema)[0]?.offset).toBe(8192n);
    const throttled = await c.putChunk(chunk).catch((e: unknown) => e);
    expect((throttled as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(throttledMs(throttled)).toBe(3000);
    expect(((await c.putChunk(chunk).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.DataLoss);
  });

  it("falls back to PutChunk on a server without the route (404, 405, 501), and tries the route again an hour later", async () => {
    for (const status of [404, 405, 501]) {
      let now = 0;
      const { media, calls } = rpc();
      const f = fetchOf(new Response("404 page not found", { status }), new Response("", { status: 200, headers: { "Fieldsync-Offset": "4099" } }));
      const c = withRawChunks(media, { server: "http://s", token: "t", fetch: f.fetch, now: () => now });
      expect((await c.putChunk(chunk)).offset).toBe(4099n);
      expect(calls).toHaveLength(1);
      now = RAW_RETRY_AFTER_MS - 1;
      await c.putChunk(chunk);
      expect([calls.length, f.seen.length]).toEqual([2, 1]);
      now = RAW_RETRY_AFTER_MS;
      await c.putChunk(chunk);
      expect([calls.length, f.seen.length]).toEqual([2, 2]);
    }
  });

  it("takes a failure before the server's answer as the network's (Unavailable) or the call's end (Canceled), and another's page as unreachable", async () => {
    const { media, calls } = rpc();
    const stop = new AbortController();
    stop.abort();
    const f = fetchOf(new TypeError("fetch failed"), new DOMException("aborted", "AbortError"), new Response("<html>bad gateway</html>", { status: 502 }));
    const c = withRawChunks(media, { server: "http://s", token: "t", fetch: f.fetch, now: () => 0 });
    expect(((await c.putChunk(chunk).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.Unavailable);
    expect(((await c.putChunk(chunk, { signal: stop.signal }).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.Canceled);
    expect(((await c.putChunk(chunk).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.Unavailable);
    expect(calls).toHaveLength(0); // none of these is a server without the route
  });
});
