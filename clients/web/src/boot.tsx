/**
 * The app proper, loaded by main.tsx (with the SDK): the service worker,
 * the device session, the screens.
 */
import { render } from "preact";
import { App } from "./app";
import { registerWorker } from "./pwa";
import { openSession, session } from "./session";

/** Opens the device session and draws the app into root (over the snapshot of Today, if one is shown). */
export async function boot(root: HTMLElement): Promise<void> {
  void registerWorker().catch((err) => console.warn("service worker:", err));
  const enrolled = await openSession().catch((err) => (console.error("store:", err), null));
  render(<App enrolled={enrolled !== null} />, root);
}

/** Test support (its code loads only when called): fill the store with n records, to measure Today. */
(window as unknown as { fieldsyncDev: unknown }).fieldsyncDev = {
  seed: async (n: number) => (await import("./dev/seed")).seed(session()!.storage, n),
  dropTodayIndex: async () => (await import("./todayindex")).todayIndexOf(session()!.storage)?.drop(),
  profile: async () => (await import("./dev/seed")).profile(session()!.client, session()!.storage),
};
