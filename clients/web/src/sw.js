// fieldsync's service worker: caches the app shell (every file of the build,
// listed by vite.config.ts at build time) so the app opens with no network at
// all. API calls (/fieldsync.v1.*) always go to the network: the SDK keeps
// the data in IndexedDB. A new build is a new worker (a new VERSION): it
// caches its shell on install and waits; the page offers "Update", which
// tells it to take over; activation drops the old shell.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = "fieldsync-shell-" + VERSION;
let shell = null;
const openShell = () => (shell ??= caches.open(CACHE));

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)));
  // The app's page (the scope, no query) and the build's hashed files (assets/, immutable) straight from
  // this version's cache, without starting or running this script (Chromium's static routing; a miss
  // goes to the network): an open no longer waits for this worker to start and answer eleven fetches.
  // The fetch handler below does the same for browsers without the API, and for the rest.
  if (typeof event.addRoutes === "function" && typeof URLPattern === "function") {
    const scope = new URL(self.registration.scope).pathname;
    event.waitUntil(event.addRoutes([
      { condition: { requestMode: "navigate", urlPattern: new URLPattern({ pathname: scope, search: "" }) }, source: { cacheName: CACHE } },
      { condition: { requestMethod: "GET", urlPattern: new URLPattern({ pathname: scope + "assets/*" }) }, source: { cacheName: CACHE } },
    ]).catch((err) => console.warn("service worker routes:", err)));
  }
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
    event.respondWith(openShell().then((c) => c.match(scope.href).then((hit) => hit || fetch(req))));
    return;
  }
  event.respondWith(openShell().then((c) => c.match(req, { ignoreSearch: true }).then((hit) => hit || fetch(req))));
});
