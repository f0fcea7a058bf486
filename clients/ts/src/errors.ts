import type { Violation } from "./validate.js";

/** What went wrong, for callers that branch on it. */
export type FieldsyncErrorCode =
  | "invalid_id"
  | "not_record_type"
  | "unknown_field"
  | "no_fields"
  | "type_mismatch"
  | "wrong_device"
  | "unsynced"
  | "no_server"
  | "unreachable"
  | "no_progress"
  | "store_changed"
  | "invalid_option"
  | "not_photo_slot"
  | "not_image"
  | "photo_too_large"
  | "invalid";

/** FieldsyncError is an error of the SDK itself (not the server's or the store's). */
export class FieldsyncError extends Error {
  override name = "FieldsyncError";
  /** For code "invalid": the record's broken buf.validate rules (rule id, field path, message). */
  readonly violations: readonly Violation[];
  constructor(
    readonly code: FieldsyncErrorCode,
    message: string,
    options?: { cause?: unknown; violations?: readonly Violation[] },
  ) {
    super(message, options);
    this.violations = options?.violations ?? [];
  }
}
