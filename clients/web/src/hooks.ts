import { useEffect, useState } from "preact/hooks";
import { loadData, type Data } from "./data";
import { onChange, session } from "./session";

/** The current hash route, split: "#/customer/abc" → ["customer", "abc"], with its query. */
export function useRoute(): { parts: string[]; query: URLSearchParams } {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const [path, q = ""] = hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

/** Navigates to a hash route. */
export function go(route: string): void {
  location.hash = route;
}

/** The local data, reloaded after every change; null while the first load runs. onLoad gets the load's start time. */
export function useData(onLoad?: (started: number) => void): Data | null {
  const [data, setData] = useState<Data | null>(null);
  useEffect(() => {
    let live = true;
    let queued = false;
    let running = false;
    const load = async () => {
      if (running) return void (queued = true);
      running = true;
      const s = session();
      const started = performance.now();
      if (s) {
        const d = await loadData(s.client).catch((err) => (console.warn("load:", err), null));
        if (live && d) {
          onLoad?.(started);
          setData(d);
        }
      }
      running = false;
      if (queued && live) {
        queued = false;
        void load();
      }
    };
    void load();
    const off = onChange(() => void load());
    return () => {
      live = false;
      off();
    };
  }, []);
  return data;
}

/**
 * The enrollment code in what the admin's QR holds (the app's address with #/enroll?code=…) or in
 * the page's own address after the phone's camera opened it; a bare code as it is.
 */
export function codeFromLink(raw: string): string {
  const q = raw.includes("?") ? raw.slice(raw.indexOf("?") + 1) : "";
  return q ? (new URLSearchParams(q).get("code") ?? "").trim() : raw.trim();
}
