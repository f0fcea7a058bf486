/**
 * The device session: the SDK client on the page's IndexedDB store, the
 * server on the page's own origin, and a change signal screens listen to.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Client, IdentityService, openIndexedDBStorage, type Storage } from "@fieldsync/client";
import { isRevocation } from "./screens/revoked";
import { withTodayIndex } from "./todayindex";

/** The IndexedDB database the app keeps its device store in. */
export const STORE_NAME = "fieldsync-web";

export interface Session {
  client: Client;
  storage: Storage;
}

let current: Session | null = null;
/** The server refused the device's token (revoked): sync stopped. */
let revokedFlag = false;
const listeners = new Set<() => void>();
let stopWatch: AbortController | null = null;

/** Whether the server said the device is revoked (the app shows the Revoked screen). */
export function isRevoked(): boolean {
  return revokedFlag;
}

/** The open session; null before enrollment. */
export function session(): Session | null {
  return current;
}

/** Calls fn after every local write or pulled change; returns the unsubscribe function. */
export function onChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Tells the screens the local data changed. */
export function changed(): void {
  for (const l of listeners) l();
}

/** The server: VITE_FIELDSYNC_SERVER at build time (an app hosted elsewhere, with the server's --cors-origins), else the page's origin. */
const server = (): string => (import.meta.env.VITE_FIELDSYNC_SERVER as string | undefined) || location.origin;

/** The app's version, reported with each sync (the managers' Fleet screen shows it): package.json's, set by the build. */
const appVersion = (import.meta.env.VITE_APP_VERSION as string | undefined) ?? "";

/** Opens the store; returns a session when the device is enrolled. */
export async function openSession(): Promise<Session | null> {
  const storage = withTodayIndex(await openIndexedDBStorage(STORE_NAME)); // Today's index follows every write
  const meta = await storage.read((tx) => tx.meta());
  if (!meta.token) {
    storage.close();
    return null;
  }
  // The service worker caches the validation chunk and a form loads it when it opens: no idle prefetch
  // racing the first input after an open.
  return start(await Client.open({ storage, server: server(), prefetchValidation: false, appVersion }), storage);
}

/** Enrolls the device with a one-time code. */
export async function enroll(code: string, deviceName: string): Promise<Session> {
  const storage = withTodayIndex(await openIndexedDBStorage(STORE_NAME)); // Today's index follows every write
  try {
    return start(await Client.enroll({ storage, server: server(), enrollmentCode: code.trim(), deviceName, platform: "web", prefetchValidation: false, appVersion }), storage);
  } catch (err) {
    storage.close();
    throw err;
  }
}

/** Who uses the device, as the server said (WhoAmI): role (fieldsync.v1.Role's number) and name. */
export interface Profile {
  deviceId: string;
  role: number;
  userName: string;
}

const PROFILE = "fieldsync.profile";

/** The device user's profile; null before the server told it. */
export function profile(): Profile | null {
  try {
    return JSON.parse(localStorage.getItem(PROFILE) ?? "null") as Profile | null;
  } catch {
    return null;
  }
}

/** Asks the server who the device's user is (once per device; when online). */
async function learnProfile(storage: Storage): Promise<void> {
  const m = await storage.read((tx) => tx.meta());
  if (profile()?.deviceId === m.deviceId && m.deviceId) return;
  const rpc = createClient(IdentityService, createConnectTransport({
    baseUrl: server(),
    interceptors: [(next) => (req) => (req.header.set("Authorization", `Bearer ${m.token}`), next(req))],
  }));
  const who = await rpc.whoAmI({});
  localStorage.setItem(PROFILE, JSON.stringify({ deviceId: who.deviceId, role: who.role, userName: who.userName } satisfies Profile));
  changed();
}

function start(client: Client, storage: Storage): Session {
  current = { client, storage };
  void learnProfile(storage).catch(() => undefined); // offline: the next open asks again
  let last: { cursor: string; depth: number } | null = null;
  client.subscribe((s) => {
    if (last && (s.cursor !== last.cursor || s.outboxDepth !== last.depth)) changed();
    last = { cursor: s.cursor, depth: s.outboxDepth };
  });
  // Sync starts once the first screen is up (or after a second): the screen reads the store first.
  let started = false;
  const begin = () => {
    if (started) return;
    started = true;
    follow(client);
  };
  firstScreen = begin;
  setTimeout(begin, 1000);
  return current;
}

let firstScreen: (() => void) | null = null;

/** Tells the session the first screen is shown: sync may start. */
export function firstScreenShown(): void {
  firstScreen?.();
}

/** Keeps the device in sync while the page is open: watch, restarted after what it cannot fix. */
function follow(client: Client): void {
  stopWatch?.abort();
  const stop = (stopWatch = new AbortController());
  const loop = async () => {
    while (!stop.signal.aborted) {
      // No network at all (navigator.onLine false is certain; true is not): no sync attempt, each a
      // request failing on the main thread, until the browser says the network is back.
      if (!navigator.onLine) {
        await new Promise<void>((r) => {
          addEventListener("online", () => r(), { once: true });
          stop.signal.addEventListener("abort", () => r(), { once: true });
        });
        continue;
      }
      const revoked = await client.watch({ signal: stop.signal }).then(() => false, (err) => (console.warn("sync:", err), isRevocation(err)));
      if (revoked) {
        revokedFlag = true;
        changed();
        return;
      }
      await new Promise((r) => setTimeout(r, 5000));
    }
  };
  void loop();
}

/** Signs out (forced only when asked) and forgets the session. */
export async function signOut(force: boolean): Promise<void> {
  if (!current) return;
  await current.client.signOut({ force });
  localStorage.removeItem(PROFILE);
  revokedFlag = false;
  stopWatch?.abort();
  current.client.close();
  current = null;
  changed();
}
