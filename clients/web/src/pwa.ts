/**
 * The service worker: the shell cached for offline opens. A new version
 * installs beside the running one and waits; the page announces it
 * ("fieldsync-update") and, when the user asks, the new worker takes over
 * and the page reloads once into the new version.
 */
let updating = false;

export async function registerWorker(): Promise<void> {
  if (!("serviceWorker" in navigator) || import.meta.env.DEV) return;
  const reg = await navigator.serviceWorker.register("./sw.js");
  const offer = () => {
    if (reg.waiting && navigator.serviceWorker.controller) dispatchEvent(new CustomEvent("fieldsync-update", { detail: reg.waiting }));
  };
  offer();
  reg.addEventListener("updatefound", () => reg.installing?.addEventListener("statechange", offer));
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (reloading || !updating) return;
    reloading = true;
    location.reload();
  });
}

/** Lets the waiting worker take over; the page reloads when it has. */
export function applyUpdate(worker: ServiceWorker): void {
  updating = true;
  worker.postMessage("skip-waiting");
}
