import type { JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client as RpcClient } from "@connectrpc/connect";
import { codeFromString, errorFromJson } from "@connectrpc/connect/protocol-connect";
import { MediaService } from "./gen/fieldsync/v1/media_pb.js";

// The server's raw chunk route (server/chunkput.go, docs/sync-protocol.md
// "Raw chunks"): PutChunk's chunk as the whole body of
//   PUT /photos/v1/uploads/{upload_id}?offset=N
// with its CRC32C in the Fieldsync-Crc32c header. The bytes go as they
// are, neither encoded into a protobuf message nor copied out of one on
// the server. The Go SDK's mediaService (clients/go/photo_transport.go)
// does the same.

const CHUNK_PUT_PATH = "/photos/v1/uploads/";
const CRC32C_HEADER = "Fieldsync-Crc32c";
const OFFSET_HEADER = "Fieldsync-Offset";
/** How long a client whose server lacks the route sends PutChunk calls before trying it again (ms). */
export const RAW_RETRY_AFTER_MS = 60 * 60 * 1000;

/** What the raw route needs: where, as whom, with which fetch and clock. */
export interface RawChunkOptions {
  server: string;
  token: string;
  fetch: typeof globalThis.fetch;
  now: () => number;
}

/** The server has no raw chunk route: 404, 405 or 501 without a Connect error. */
class NoRawRoute extends Error {}

/**
 * The media client with putChunk sent on the raw chunk route. A server
 * without the route gets PutChunk calls for RAW_RETRY_AFTER_MS (it may be
 * upgraded meanwhile). Answers and errors are PutChunk's: the same codes,
 * details (UploadOffset, RetryInfo) and headers as metadata (Retry-After).
 */
export function withRawChunks(media: RpcClient<typeof MediaService>, o: RawChunkOptions): RpcClient<typeof MediaService> {
  const base = o.server.replace(/\/+$/, "");
  let rawOffUntil = 0;
  const putChunk: RpcClient<typeof MediaService>["putChunk"] = async (req, opts) => {
    if (o.now() < rawOffUntil) return media.putChunk(req, opts);
    const data = req.data ?? new Uint8Array();
    try {
      const offset = await putRaw(o, `${base}${CHUNK_PUT_PATH}${encodeURIComponent(req.uploadId ?? "")}?offset=${req.offset ?? 0n}`, data, req.crc32c ?? 0, opts?.signal);
      return { $typeName: "fieldsync.v1.PutChunkResponse", offset } as Awaited<ReturnType<typeof media.putChunk>>;
    } catch (err) {
      if (!(err instanceof NoRawRoute)) throw err;
      rawOffUntil = o.now() + RAW_RETRY_AFTER_MS;
      return media.putChunk(req, opts);
    }
  };
  return { ...media, putChunk };
}

/** Sends one chunk on the raw route and returns the server's offset after it. */
async function putRaw(o: RawChunkOptions, url: string, data: Uint8Array, crc: number, signal: AbortSignal | undefined): Promise<bigint> {
  let res: Response;
  let body: string;
  try {
    res = await o.fetch(url, {
      method: "PUT",
      body: data as Uint8Array<ArrayBuffer>,
      headers: { "Authorization": `Bearer ${o.token}`, "Content-Type": "application/octet-stream", [CRC32C_HEADER]: String(crc >>> 0) },
      signal,
    });
    body = await res.text(); // small: an offset, or an error with its details
  } catch (err) {
    // Before the server's answer: the call's end (Canceled) or the network's (Unavailable).
    if (signal?.aborted) throw new ConnectError("put chunk: the call was cancelled", Code.Canceled, undefined, undefined, err);
    throw new ConnectError(`put chunk: ${err instanceof Error ? err.message : String(err)}`, Code.Unavailable, undefined, undefined, err);
  }
  if (res.status === 200) {
    const off = res.headers.get(OFFSET_HEADER) ?? offsetOf(body);
    if (off === undefined || !/^\d+$/.test(off)) throw new ConnectError(`put chunk: answer without a valid ${OFFSET_HEADER} header`, Code.Internal);
    return BigInt(off);
  }
  const ce = connectError(res.headers, body);
  if (ce) throw ce;
  if (res.status === 404 || res.status === 405 || res.status === 501) throw new NoRawRoute();
  // Not the server's answer (a proxy's page): as if the server was not reached.
  throw new ConnectError(`put chunk: ${res.status} without a Connect error`, Code.Unavailable);
}

/** The offset of PutChunkResponse in JSON ({"offset":"N"}): where a proxy hides the header. */
function offsetOf(body: string): string | undefined {
  try {
    const v = (JSON.parse(body) as { offset?: unknown }).offset;
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads Connect's JSON error body ({"code":..., "message":..., "details":
 * [{"type":..., "value":...}]}) into the error a Connect client throws for
 * it, the answer's headers as metadata; undefined for any other body.
 * Connect's own reader does it (the fetch transport carries it already).
 */
export function connectError(headers: Headers, body: string): ConnectError | undefined {
  try {
    const wire: unknown = JSON.parse(body);
    const code = (wire as { code?: unknown })?.code;
    if (typeof code !== "string" || codeFromString(code) === undefined) return undefined;
    return errorFromJson(wire as JsonValue, headers, new ConnectError("", Code.Unknown));
  } catch {
    return undefined;
  }
}
