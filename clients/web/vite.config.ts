import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import { precomputeDescriptors } from "./build/predesc";

/**
 * The SDK's generated buf/validate/validate_pb.js and protovalidate's own are
 * the same file (same exports): bundle protovalidate's only, not both (~20 KB
 * gzipped saved).
 *
 * And the SDK's generated files (records_pb.js, …) import it only because
 * their fields carry (buf.validate.field) options: booting their
 * descriptors needs a file of that name, not its ~70 KB of descriptor (every
 * standard rule's CEL). They get an empty file of the same name and
 * package (and an empty StringRules, which text.proto's predefined rules
 * extend); the options stay in their descriptors, where protovalidate reads
 * them by extension number with the real file (in the lazily loaded
 * validation chunk). So opening the app neither downloads nor boots it.
 */
function oneValidateProto(): Plugin {
  const target = fileURLToPath(new URL("../ts/node_modules/@bufbuild/protovalidate/dist/esm/gen/buf/validate/validate_pb.js", import.meta.url));
  const STUB = "\0fieldsync-buf-validate-import";
  return {
    name: "fieldsync-one-validate-proto",
    enforce: "pre",
    resolveId(id, importer) {
      if (!id.endsWith("/buf/validate/validate_pb.js") || !importer?.includes("/clients/ts/") || !existsSync(target)) return;
      return /\/clients\/ts\/dist\/gen\/fieldsync\//.test(importer) ? STUB : target;
    },
    load: {
      filter: { id: /^\0fieldsync-buf-validate-import$/ },
      async handler() {
        const { create, toBinary } = await import("@bufbuild/protobuf");
        const { FileDescriptorProtoSchema } = await import("@bufbuild/protobuf/wkt");
        const { base64Encode } = await import("@bufbuild/protobuf/wire");
        // StringRules (empty, its extension range kept): text.proto's predefined rules extend it.
        const stub = create(FileDescriptorProtoSchema, {
          name: "buf/validate/validate.proto",
          package: "buf.validate",
          syntax: "proto2",
          messageType: [{ name: "StringRules", extensionRange: [{ start: 1000, end: 536870912 }] }],
        });
        const empty = base64Encode(toBinary(FileDescriptorProtoSchema, stub), "std_raw");
        return `import { fileDesc } from "@bufbuild/protobuf/codegenv2";\nexport const file_buf_validate_validate = /*@__PURE__*/ fileDesc(${JSON.stringify(empty)});\n`;
      },
    },
  };
}

/**
 * The SDK runs buf.validate's RE2 patterns as JavaScript regular expressions
 * (clients/ts/src/regex.ts, checked against RE2 by its tests), and
 * protovalidate's own matches() is replaced by it. RE2 (@bufbuild/re2, still
 * imported by protovalidate and CEL) is then dead weight: ~16 KB gzipped of
 * the field screens' budget. It is replaced by a module that throws if
 * anything ever reaches it (test/size.test.ts checks RE2 is not bundled;
 * the SDK's validate-nore2 test, that validation never reaches it).
 */
function noRE2(): Plugin {
  const STUB = "\0fieldsync-no-re2";
  return {
    name: "fieldsync-no-re2",
    enforce: "pre",
    apply: "build",
    resolveId(id) {
      if (id === "@bufbuild/re2") return STUB;
    },
    load: {
      filter: { id: /^\0fieldsync-no-re2$/ },
      handler: () => `export const RE2JS = { compile() { throw new Error("RE2 is not in the web app's build: the SDK matches patterns as JavaScript regular expressions"); } };\n`,
    },
  };
}

/**
 * Booting a generated file's descriptor (fileDesc("<base64>")) decodes a
 * FileDescriptorProto from binary through protobuf-es's reflection: most of
 * the CPU of evaluating the SDK's chunk at an open (a CDP profile at CPU 4×).
 * The files an open boots (the SDK's, protobuf-es's well-known types) get it
 * decoded at build time instead, written as code making the same messages
 * (build/predesc.ts; test/predesc.test.ts checks they are identical), so only
 * the registry is built at boot. protovalidate's and CEL's files (the
 * validation chunk, loaded by a form) keep the compact binary form.
 */
function precomputedDescriptors(): Plugin {
  const HELPER = "\0fieldsync-predesc";
  const pb = fileURLToPath(new URL("./node_modules/@bufbuild/protobuf/dist/esm/", import.meta.url));
  return {
    name: "fieldsync-precomputed-descriptors",
    apply: "build",
    resolveId(id) {
      if (id === HELPER) return HELPER;
    },
    load: {
      filter: { id: /^\0fieldsync-predesc$/ },
      // descriptor.proto's schemas from its own module, not the wkt index (whose files import this helper).
      handler: () => readFileSync(new URL("./build/predesc-runtime.js", import.meta.url), "utf8")
        .replace('"@bufbuild/protobuf/wkt"', JSON.stringify(pb + "wkt/gen/google/protobuf/descriptor_pb.js")),
    },
    transform: {
      filter: { id: /_pb\.js$/, code: 'fileDesc("' },
      handler(code, id) {
        if (/node_modules\/@bufbuild\/(protovalidate|cel|cel-spec)\//.test(id)) return;
        return `import { predesc as __fieldsyncPredesc } from ${JSON.stringify(HELPER)};\n` + precomputeDescriptors(code, "__fieldsyncPredesc");
      },
    },
  };
}

/**
 * Generated protobuf files (the SDK's, protovalidate's, protobuf-es's own
 * well-known types) embed their descriptors as base64, which gzip cannot
 * squeeze: six bits a character across byte boundaries. The same bytes as a
 * Latin-1 string literal (names, messages and CEL read as text) gzip ~30%
 * smaller: ~7 KB of the field screens' budget. Each fileDesc("<base64>")
 * becomes fileDesc(d("<latin-1>")), d turning the literal back into the
 * identical base64 at boot (microseconds for the largest).
 */
function compressibleDescriptors(): Plugin {
  const HELPER = "\0fieldsync-desc";
  const B64 = /fileDesc\("([A-Za-z0-9+/=]+)"/g;
  return {
    name: "fieldsync-compressible-descriptors",
    apply: "build",
    resolveId(id) {
      if (id === HELPER) return HELPER;
    },
    load: {
      filter: { id: /^\0fieldsync-desc$/ },
      handler: () => `import { base64Encode } from "@bufbuild/protobuf/wire";\n` +
        `/** The base64 of a Latin-1 string's bytes. */\n` +
        `export function d(s) { const b = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i); return base64Encode(b); }\n`,
    },
    transform: {
      filter: { id: /_pb\.js$/, code: 'fileDesc("' },
      handler(code) {
        const out = code.replace(B64, (_, b64: string) => `fileDesc(__fieldsyncDesc(${JSON.stringify(Buffer.from(b64, "base64").toString("latin1"))})`);
        return `import { d as __fieldsyncDesc } from ${JSON.stringify(HELPER)};\n` + out;
      },
    },
  };
}

/**
 * Booting the generated protobuf files' descriptors (fileDesc: decode, then
 * a registry) is most of evaluating the SDK's chunk: ~0.4 s at CPU 4× in one
 * task (CDP trace of an offline open), during which a tap or key on the
 * Today snapshot waits. Each generated file (the SDK's, protobuf-es's
 * well-known types, descriptor.proto's own boot) first yields to the event
 * loop (a top-level await), so the boot runs as one task per file and input
 * is handled between them.
 * Module order and results are unchanged: an importer still evaluates after
 * the files it imports.
 */
function slicedDescriptorBoot(): Plugin {
  const HELPER = "\0fieldsync-yield";
  return {
    name: "fieldsync-sliced-descriptor-boot",
    apply: "build",
    resolveId(id) {
      if (id === HELPER) return HELPER;
    },
    load: {
      filter: { id: /^\0fieldsync-yield$/ },
      handler: () => `/** Lets the event loop run (input first) before the caller goes on. */\n` +
        `export const yieldToMain = () => globalThis.scheduler?.yield?.() ?? new Promise((r) => setTimeout(r, 0));\n`,
    },
    transform: {
      filter: { id: /_pb\.js$/, code: /\bfileDesc\(|\bboot\(|__fieldsyncPredesc\(/ },
      handler(code) {
        return `import { yieldToMain as __fieldsyncYield } from ${JSON.stringify(HELPER)};\nawait __fieldsyncYield();\n` + code;
      },
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
        const entry = chunks.find((c) => c.isEntry);
        if (!boot || !entry) return html;
        const files = new Set<string>();
        const walk = (name: string) => {
          if (files.has(name)) return;
          files.add(name);
          const c = chunks.find((x) => x.fileName === name);
          c?.imports.forEach(walk);
        };
        entry.imports.forEach(walk); // vite's own preload links are off (modulePreload: false)
        walk(boot.fileName);
        return [...files].filter((f) => !html.includes(f)).map((f) => ({ tag: "link", attrs: { rel: "modulepreload", crossorigin: true, href: "./" + f }, injectTo: "head" as const }));
      },
    },
  };
}

export default defineConfig({
  base: "./",
  // The app's version, sent with each sync (DeviceStatus.app_version; the Fleet screen's column).
  define: { "import.meta.env.VITE_APP_VERSION": JSON.stringify((JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }).version) },
  plugins: [oneValidateProto(), noRE2(), precomputedDescriptors(), compressibleDescriptors(), slicedDescriptorBoot(), serviceWorker(), preloadBoot()],
  // @fieldsync/client is linked from ../ts: take its dependencies from here, one copy each.
  resolve: { dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web", "preact"] },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024, reportCompressedSize: true,
    // Vite's preloading is off altogether (no polyfill either: every browser the app targets but Safari
    // before 17 preloads modules itself): its helper wraps every dynamic import (~0.3 KB gzipped in the
    // field screens' budget), and preloadBoot's links (index.html) cover what an open needs; a lazy chunk
    // (a form's validation, the managers' screens) imports only chunks already loaded.
    modulePreload: false,
    // Named chunks: the SDK with protobuf and Connect; Preact; the app (index); the lazy ones (validation, managers).
    rollupOptions: {
      output: {
        // Few requests on a first open (HTTP/1.1 fetches six at a time): the entry's SDK-free shell (Preact,
        // the words, Today's lists) in one chunk.
        manualChunks(id: string) {
          // The managers' services stay in the managers' chunk.
          if (/\/clients\/ts\/dist\/gen\/fieldsync\/v1\/(dashboard|admin|insights)_pb\./.test(id)) return;
          // Validation (protovalidate with CEL) is loaded on a form's first use or a write: its own chunk,
          // so opening on Today does not evaluate it.
          // (Left out of the named chunks, they make the chunk of validate.js, the dynamic import's target.)
          // protobuf-es's JSON parser and equals serve CEL only: with it, not in the SDK's chunk.
          if (/\/clients\/ts\/dist\/(validate|regex)\.js$|node_modules\/@bufbuild\/(protovalidate|cel|cel-spec|re2)\/|node_modules\/@bufbuild\/protobuf\/dist\/esm\/(from-json|equals)\.js$/.test(id)) return;
          if (/\/clients\/ts\/|node_modules\/(@bufbuild|@connectrpc|idb)\//.test(id)) return "sdk";
          if (/node_modules\/preact\/|preload-helper|\/src\/(i18n\.ts|todaycore\.ts|screens\/todaylists\.tsx)$/.test(id)) return "preact";
        },
      },
    },
  },
});
