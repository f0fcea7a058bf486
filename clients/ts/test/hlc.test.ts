import { describe, expect, it } from "vitest";
import { Clock, hlcMillis } from "../src/index.js";

describe("Clock", () => {
  it("follows the wall clock and counts when it stalls or goes back", () => {
    let now = 1000;
    const c = new Clock(0n, () => now);
    const a = c.tick();
    expect(hlcMillis(a)).toBe(1000);
    const b = c.tick(); // same millisecond: logical counter
    expect(b).toBe(a + 1n);
    now = 500; // wall clock set back
    const d = c.tick();
    expect(d).toBe(b + 1n);
    now = 2000;
    expect(hlcMillis(c.tick())).toBe(2000);
  });

  it("folds in a received timestamp and stays ahead of it", () => {
    const c = new Clock(0n, () => 1000);
    const server = (5000n << 16n) + 7n;
    expect(c.observe(server)).toBe(server);
    expect(c.tick()).toBe(server + 1n);
    expect(c.observe(1n)).toBe(server + 1n); // an older one changes nothing
  });

  it("resumes from its persisted value", () => {
    const c = new Clock(42n << 16n, () => 0);
    expect(c.tick()).toBe((42n << 16n) + 1n);
  });
});
