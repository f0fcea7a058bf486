import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The integration test builds and starts fieldsyncd: give it room.
    testTimeout: 30_000,
    hookTimeout: 300_000,
  },
});
