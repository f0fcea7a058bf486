/**
 * Node entry: a Connect transport over Node's http module (connect-node),
 * for Node programs and tests; browsers use the default fetch transport.
 *
 * @packageDocumentation
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** A ClientOptions.transport using connect-node over HTTP/1.1 (or "2" for h2/h2c). */
export function nodeTransport(httpVersion: "1.1" | "2" = "1.1"): (baseUrl: string, interceptors: Interceptor[]) => Transport {
  return (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion, interceptors, useBinaryFormat: true });
}
