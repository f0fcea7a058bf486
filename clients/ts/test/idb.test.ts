import { describe, expect, it } from "vitest";
import { RowState, type OutboxEntry, type RecordRow } from "../src/index.js";
import { memoryStorage } from "./helpers.js";

const row = (id: string, base: Uint8Array): RecordRow => ({ id, type: "fieldsync.v1.Visit", base, version: 1n, hlc: 1n, gen: 0, state: RowState.Synced, view: null });

describe("the IndexedDB store", () => {
  it("stores a pulled record's bytes alone, not the response buffer they are a view into", async () => {
    const s = await memoryStorage();
    const page = new Uint8Array(100_000).fill(7);
    await s.update((tx) => tx.putRow(row("a", page.subarray(10, 20))));
    const got = await s.read((tx) => tx.row("a"));
    expect(got?.base).toEqual(new Uint8Array(10).fill(7));
    expect(got?.base?.buffer.byteLength).toBe(10);
  });

  it("keeps no write of a transaction one of whose writes fails, though it waits for none", async () => {
    const s = await memoryStorage();
    const bad = { seq: Number.NaN } as OutboxEntry; // not a valid key
    await expect(s.update(async (tx) => {
      await tx.putRow(row("a", new Uint8Array([1])));
      await tx.putEntry(bad);
    })).rejects.toThrow();
    expect(await s.read((tx) => tx.row("a"))).toBeUndefined();
    // Writes queued without waiting are read back in the same transaction, in order.
    const seen = await s.update(async (tx) => {
      await tx.putRow(row("b", new Uint8Array([1])));
      await tx.putRow(row("b", new Uint8Array([2])));
      return (await tx.row("b"))?.base;
    });
    expect(seen).toEqual(new Uint8Array([2]));
  });
});
