import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * The SDK's generated buf/validate/validate_pb.js and protovalidate's own are
 * the same file (same exports): bundle protovalidate's only, not both (~20 KB
 * gzipped saved).
 */
function oneValidateProto(): Plugin {
  const target = fileURLToPath(new URL("../ts/node_modules/@bufbuild/protovalidate/dist/esm/gen/buf/validate/validate_pb.js", import.meta.url));
  return {
    name: "fieldsync-one-validate-proto",
    enforce: "pre",
    resolveId(id, importer) {
      if (id.endsWith("/buf/validate/validate_pb.js") && importer?.includes("/clients/ts/") && existsSync(target)) return target;
    },
  };
}

/**
 * Emits sw.js: the service worker with the build's file list (the app shell)
 * and a version hashed from their names, so a new build is a new worker
 * whose install caches the new shell and whose activation drops the old one.
 */
function serviceWorker(): Plugin {
  return {
    name: "fieldsync-sw",
    apply: "build",
    async generateBundle(_, bundle) {
      const { readFile } = await import("node:fs/promises");
      const files = ["./", "./manifest.webmanifest", "./icon.svg", ...Object.keys(bundle).filter((f) => !f.endsWith(".map")).map((f) => "./" + f)];
      const version = createHash("sha256").update(files.sort().join("\n")).digest("hex").slice(0, 12);
      const src = await readFile(new URL("./src/sw.js", import.meta.url), "utf8");
      this.emitFile({ type: "asset", fileName: "sw.js", source: src.replace("__VERSION__", version).replace("__SHELL__", JSON.stringify(files)) });
    },
    // dist/ is emptied by each build; its .gitkeep (the folder fieldsyncd embeds) stays.
    closeBundle() {
      const keep = fileURLToPath(new URL("./dist/.gitkeep", import.meta.url));
      if (!existsSync(keep)) writeFileSync(keep, "");
    },
  };
}

/**
 * main.tsx draws Today from the saved index before it imports the app
 * (boot.tsx, with the SDK): preload the entry's and the app's chunks from
 * index.html all the same, so a first open over the network fetches them
 * at once rather than after the entry ran.
 */
function preloadBoot(): Plugin {
  return {
    name: "fieldsync-preload-boot",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(html, ctx) {
        const chunks = Object.values(ctx.bundle ?? {}).filter((c) => c.type === "chunk");
        const boot = chunks.find((c) => c.facadeModuleId?.endsWith("/src/boot.tsx"));
        if (!boot) return html;
        const files = new Set<string>();
        const walk = (name: string) => {
          if (files.has(name)) return;
          files.add(name);
          const c = chunks.find((x) => x.fileName === name);
          c?.imports.forEach(walk);
        };
        walk(boot.fileName);
        return [...files].filter((f) => !html.includes(f)).map((f) => ({ tag: "link", attrs: { rel: "modulepreload", crossorigin: true, href: "./" + f }, injectTo: "head" as const }));
      },
    },
  };
}

export default defineConfig({
  base: "./",
  plugins: [oneValidateProto(), serviceWorker(), preloadBoot()],
  // @fieldsync/client is linked from ../ts: take its dependencies from here, one copy each.
  resolve: { dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web", "preact"] },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024, reportCompressedSize: true,
    // Every browser the app targets (ES2022) but Safari before 17 preloads modules itself; there a
    // missing preload only costs a round trip, so no polyfill ships.
    modulePreload: { polyfill: false },
    // Named chunks: the SDK with protobuf, Connect and protovalidate; Preact; the app (index); the lazy ones.
    rollupOptions: {
      output: {
        // Few requests on a first open (HTTP/1.1 fetches six at a time): the entry's SDK-free shell (Preact,
        // the words, Today's lists) in one chunk.
        manualChunks(id: string) {
          // The managers' services stay in the managers' chunk.
          if (/\/clients\/ts\/dist\/gen\/fieldsync\/v1\/(dashboard|admin|insights)_pb\./.test(id)) return;
          if (/\/clients\/ts\/|node_modules\/(@bufbuild|@connectrpc|idb)\//.test(id)) return "sdk";
          if (/node_modules\/preact\/|preload-helper|\/src\/(i18n\.ts|todaycore\.ts|screens\/todaylists\.tsx)$/.test(id)) return "preact";
        },
      },
    },
  },
});
