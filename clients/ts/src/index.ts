/**
 * @fieldsync/client: the fieldsync device SDK for the browser and Node —
 * an offline store of the records a device sees, an outbox of the changes
 * made on it, and the sync protocol that exchanges both with fieldsyncd.
 *
 * @packageDocumentation
 */
export { Client, type ClientOptions, type Conflict, type Identity, type LocalRecord, type PushResult, type Rejection, type Status, type SyncReport } from "./client.js";
export { FieldsyncError, type FieldsyncErrorCode } from "./errors.js";
export { recordTypes } from "./fields.js";
export { Clock, hlcMillis } from "./hlc.js";
export { openIndexedDBStorage, deleteIndexedDBStorage } from "./idb.js";
export { crc32c } from "./crc32c.js";
export { MAX_PHOTO_SIZE, type PhotoProgress } from "./photos.js";
export { RowState, QueueState, initialMeta, type RecordPhoto, type QueuedPhoto, type Meta, type OutboxEntry, type RecordRow, type Storage, type StoreTx, type StoredConflict, type StoredRejection } from "./storage.js";
export { loadValidation, type Validation, type Violation } from "./validation.js";
export { rebate, ruleInForce, type RebateResult, type RebateRuleRecord } from "./rebate.js";
export { newUlid } from "./ulid.js";
export * from "./gen/fieldsync/v1/records_pb.js";
export * from "./gen/fieldsync/v1/sync_pb.js";
export * from "./gen/fieldsync/v1/identity_pb.js";
export { UploadState } from "./gen/fieldsync/v1/media_pb.js";
