import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // idb needs the IndexedDB classes as globals: fake-indexeddb provides them in Node.
    setupFiles: ["fake-indexeddb/auto"],
    // The integration test builds and starts fieldsyncd: give it room.
    testTimeout: 30_000,
    hookTimeout: 300_000,
  },
});
