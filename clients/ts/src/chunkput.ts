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

/**
 * The media client with putChunk sent on the raw chunk route. A server
 * without the route (404, 405 or 501 without a Connect error, or 200
 * without the Fieldsync-Offset header) gets
 * PutChunk calls for RAW_RETRY_AFTER_MS (it may be upgraded meanwhile).
 * Answers and errors are PutChunk's: the same codes, details (UploadOffset,
 * RetryInfo) and headers as metadata (Retry-After).
 */
export function withRawChunks(media: RpcClient<typeof MediaService>, o: RawChunkOptions): RpcClient<typeof MediaService> {
  const base = o.server.replace(/\/+$/, "") + CHUNK_PUT_PATH;
  let rawOffUntil = 0;
  const putChunk: RpcClient<typeof MediaService>["putChunk"] = async (req, opts) => {
    const offset = o.now() < rawOffUntil ? undefined : await putRaw(o, `${base}${encodeURIComponent(req.uploadId ?? "")}?offset=${req.offset ?? 0n}`, req.data ?? new Uint8Array(), req.crc32c ?? 0, opts?.signal);
    if (offset !== undefined) return { $typeName: "fieldsync.v1.PutChunkResponse", offset };
    rawOffUntil ||= o.now() + RAW_RETRY_AFTER_MS;
    return media.putChunk(req, opts);
  };
  return { ...media, putChunk };
}

/** Sends one chunk on the raw route and returns the server's offset after it; undefined when the server has no such route. */
async function putRaw(o: RawChunkOptions, url: string, data: Uint8Array, crc: number, signal: AbortSignal | undefined): Promise<bigint | undefined> {
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
    throw new ConnectError(`put chunk: ${err}`, signal?.aborted ? Code.Canceled : Code.Unavailable, undefined, undefined, err);
  }
  const off = res.headers.get(OFFSET_HEADER);
  if (res.status === 200 && off && /^\d+$/.test(off)) return BigInt(off);
  let wire: { code?: unknown } | undefined;
  try {
    wire = JSON.parse(body);
  } catch {
    // not Connect's error
  }
  if (typeof wire?.code === "string" && codeFromString(wire.code) !== undefined) {
    throw errorFromJson(wire as JsonValue, res.headers, new ConnectError("put chunk: a malformed error", Code.Unknown));
  }
  // No such route: a plain 404, 405 or 501, or a 200 without the offset (a host answering every
  // path with its page). Were it the server's answer stripped of its header, PutChunk's answer to
  // the same chunk says where the upload stands.
  if (res.status === 404 || res.status === 405 || res.status === 501 || res.status === 200) return undefined;
  // Not the server's answer (a proxy's error page): as if the server was not reached.
  throw new ConnectError(`put chunk: ${res.status} without a Connect answer`, Code.Unavailable);
}
