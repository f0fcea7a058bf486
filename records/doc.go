// Package records says what each record type does beyond syncing.
//
// The sync engine (package syncengine) merges, scopes, validates and
// publishes every record type alike, reading only descriptors and the
// (fieldsync.v1.record) and (fieldsync.v1.field) options. What a type does
// beyond that is declared in one of two places:
//
//   - its proto options in proto/fieldsync/v1/records.proto, for what the
//     engine can read generically: which types publish delivery events
//     (delivery_events: CampaignMaterial, Alert), which publish a new
//     record on the alerts subject and which field names it
//     (publish_alerts and alert_kind: Alert), which only the server creates
//     (server_created: Alert);
//   - this package, for what options cannot say: the server-computed
//     fields (a Visit's high_value, a Quote's complete; see Hooks, which the
//     engine calls), how an Alert is raised once per dedup key (Alerts,
//     AlertID), and which photos make a SurgerySupport's photos_complete
//     (RequiredPhotos, used by package photos).
//
// So "what does type X do beyond syncing" is answered by X's options and
// this package. It imports proto types and protoreflect only: no storage,
// no NATS, and not syncengine (the engine imports it for its default hooks).
package records
