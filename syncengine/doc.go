// Package syncengine is fieldsync's sync domain: hybrid logical clocks,
// per-field merge driven by the proto field options, the push and pull
// protocol, scope rules and the conflict log. It holds no SQL and no HTTP:
// it declares the storage it needs (Store) and storage/sqlite implements it.
package syncengine
