package sqlite

import "github.com/fieldsync/fieldsync/syncengine"

// Option configures Open.
type Option func(*DB)

// WithRegistry sets the record types the store decodes records with;
// default syncengine.DefaultRegistry(). Give it the engine's registry
// (syncengine.Config.Registry) when that is not the default.
func WithRegistry(r *syncengine.Registry) Option {
	return func(db *DB) { db.reg = r }
}

// applyOptions sets the defaults, then applies opts.
func (db *DB) applyOptions(opts []Option) {
	db.reg = syncengine.DefaultRegistry()
	for _, o := range opts {
		o(db)
	}
}
