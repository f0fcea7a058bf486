package events

// Pokes tell the nodes of a cluster that a tenant changed, so that each
// wakes its own Watch streams. A poke is not an event: it is sent on core
// NATS (at most once, not stored), one per commit, on
//
//	fieldsync.poke.<tenant>
//
// which has three tokens, so no change or alert subject (four tokens)
// matches it.
const pokeToken = "poke"

// RecheckSubject asks every node to recheck all its Watch streams against
// the store: a node sends it when its NATS connection comes back, since
// pokes sent meanwhile, by it or to it, were lost. Two tokens: no stream
// subject matches it.
const RecheckSubject = SubjectRoot + ".recheck"

// AllPokes matches the poke subject of every tenant.
const AllPokes = SubjectRoot + "." + pokeToken + ".*"

// PokeSubject returns the subject of tenant's pokes.
func PokeSubject(tenant string) string {
	return SubjectRoot + "." + pokeToken + "." + Token(tenant)
}

// Poke is what a commit tells watchers: the tenant, the version it
// reached, and each record type and scope it touched (before or after the
// change), as the local watch hub receives them.
type Poke struct {
	TenantID string      `json:"tenant"` // the subject's token is lossy (Token)
	Version  uint64      `json:"v"`
	Scopes   []PokeScope `json:"s"`
}

// PokeScope is one record type and scope a commit touched.
type PokeScope struct {
	Type   string `json:"t"`
	Owner  string `json:"o,omitempty"`
	Store  string `json:"st,omitempty"`
	Region string `json:"r,omitempty"`
}
