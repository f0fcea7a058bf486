import { defineConfig } from "vitest/config";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["fake-indexeddb/auto"],
    testTimeout: 30_000,
    hookTimeout: 300_000,
  },
});
