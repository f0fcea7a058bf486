// fieldsync's service worker: caches the app shell (every file of the build,
// listed by vite.config.ts at build time) so the app opens with no network at
// all. API calls (/fieldsync.v1.*) always go to the network: the SDK keeps
// the data in IndexedDB. A new build is a new worker (a new VERSION): it
// caches its shell on install and waits; the page offers "Update", which
// tells it to take over; activation drops the old shell.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = "fieldsync-shell-" + VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("fieldsync-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || url.pathname.includes("/fieldsync.v1.")) return;
  const scope = new URL(self.registration.scope);
  if (req.mode === "navigate") {
    // The app's page (its screens are #routes): the cached index, else the network. Other pages
    // on the server's origin (health, photo links) are not the app's.
    if (url.pathname !== scope.pathname && url.pathname !== scope.pathname + "index.html") return;
    event.respondWith(caches.open(CACHE).then((c) => c.match(scope.href).then((hit) => hit || fetch(req))));
    return;
  }
  event.respondWith(caches.open(CACHE).then((c) => c.match(req, { ignoreSearch: true }).then((hit) => hit || fetch(req))));
});
