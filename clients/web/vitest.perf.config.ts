import { defineConfig } from "vitest/config";

// `npm run bench`: the throttled open budgets (test/perf.bench.ts), not part of `npm test`.
export default defineConfig({
  test: { include: ["test/perf.bench.ts"], testTimeout: 300_000, hookTimeout: 300_000, fileParallelism: false },
});
