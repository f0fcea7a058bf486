import { render } from "preact";
import { App } from "./app";
import { currentLang } from "./i18n";
import { registerWorker } from "./pwa";
import { openSession, session } from "./session";
import "./style.css";

document.documentElement.lang = currentLang();
void registerWorker().catch((err) => console.warn("service worker:", err));
const enrolled = await openSession().catch((err) => (console.error("store:", err), null));
render(<App enrolled={enrolled !== null} />, document.getElementById("app")!);

/** Test support (its code loads only when called): fill the store with n records, to measure Today. */
(window as unknown as { fieldsyncDev: unknown }).fieldsyncDev = {
  seed: async (n: number) => (await import("./dev/seed")).seed(session()!.storage, n),
  dropTodayIndex: async () => (await import("./todayindex")).todayIndexOf(session()!.storage)?.drop(),
  profile: async () => (await import("./dev/seed")).profile(session()!.client, session()!.storage),
};
