// Package storage holds what fieldsync's database backends (storage/sqlite,
// storage/postgres) share with the code that calls them: the errors a
// caller may act on whatever the backend.
package storage

import "errors"

// ErrUnavailable is wrapped by every store error that means the database
// cannot be reached or cannot serve now — PostgreSQL refusing or dropping
// connections, shutting down or starting up, a connection timeout; SQLite
// locked by another process past its busy timeout — so the same call may
// succeed later. The wrapping error keeps the backend's error in its chain
// (for logs); the server answers such an error with Connect's Unavailable
// and a fixed message, so clients retry with backoff.
var ErrUnavailable = errors.New("storage: the database is unavailable")
