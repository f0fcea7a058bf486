/**
 * The lazy door to validate.ts. protovalidate (with its CEL interpreter and
 * RE2) is a third of the SDK's code and costs a long task to evaluate on a
 * phone; a page opening on what the store holds needs none of it. This
 * module imports it on first use only (a bundler makes it a chunk of its
 * own); Client.put awaits it before it writes, so no write is queued
 * unchecked. Apps that validate synchronously import
 * "@fieldsync/client/validate" instead.
 */
import type { Violation } from "./validate.js";

export type { Violation };

/** validate.ts's functions: validate(value) → violations, violationText(violations) → the server's reason. */
export type Validation = typeof import("./validate.js");

let loading: Promise<Validation> | null = null;

/** Loads (once) and returns the validator: validate(value) lists a record's broken buf.validate rules. */
export function loadValidation(): Promise<Validation> {
  loading ??= import("./validate.js").catch((err: unknown) => {
    loading = null; // a failed fetch of the chunk (offline without the service worker's copy) may be retried
    throw err;
  });
  return loading;
}

/**
 * Loads the validator once the page is idle (requestIdleCallback, within 5 s;
 * elsewhere at once), so that a write made after the network went away
 * finds it loaded even where no service worker keeps the chunk: opening
 * the store and drawing from it come first. A failure is left for the next
 * write to retry.
 */
export function prefetchValidation(): void {
  if (loading) return;
  const load = () => void loadValidation().catch(() => undefined);
  const idle = (globalThis as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => number }).requestIdleCallback;
  if (idle) idle(load, { timeout: 5000 });
  else load();
}
