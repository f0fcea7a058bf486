import { IDBFactory } from "fake-indexeddb";
import { createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { Client, openIndexedDBStorage, type ClientOptions } from "../src/index.js";

let n = 0;

/** A fresh store on its own fake-indexeddb factory. */
export async function memoryStorage() {
  return openIndexedDBStorage(`test-${++n}`, { indexedDB: new IDBFactory() });
}

/** Opens a client on a fresh store talking to an in-process router. */
export async function fakeClient(routes: (r: ConnectRouter) => void, opts: Partial<ClientOptions> = {}) {
  const storage = opts.storage ?? (await memoryStorage());
  return Client.open({
    storage,
    server: "http://fake",
    token: "tok-1",
    transport: () => createRouterTransport(routes),
    backoffMs: { min: 1, max: 2 },
    unreachableAfterMs: 200,
    ...opts,
  });
}
