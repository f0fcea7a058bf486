package syncengine

import (
	"context"

	"github.com/fieldsync/fieldsync/events"
)

// pokeOf describes a commit for the watchers of other nodes (Config.OnPoke),
// each record type and scope once.
func pokeOf(tenantID string, version uint64, scopes []changedScope) events.Poke {
	p := events.Poke{TenantID: tenantID, Version: version}
	seen := make(map[events.PokeScope]bool, len(scopes))
	for _, s := range scopes {
		ps := events.PokeScope{Type: string(s.rt.Name), Owner: s.scope.Owner, Store: s.scope.Store, Region: s.scope.Region}
		if !seen[ps] {
			seen[ps] = true
			p.Scopes = append(p.Scopes, ps)
		}
	}
	return p
}

// Poke wakes this engine's Watch streams for a commit made elsewhere (by
// another node sharing the store), as a local commit does. Record types
// this engine does not know are skipped. It never blocks.
func (e *Engine) Poke(p events.Poke) {
	scopes := make([]changedScope, 0, len(p.Scopes))
	for _, s := range p.Scopes {
		rt, ok := e.reg.Lookup(s.Type)
		if !ok {
			continue
		}
		scopes = append(scopes, changedScope{rt: rt, scope: Scope{Owner: s.Owner, Store: s.Store, Region: s.Region}})
	}
	if len(scopes) > 0 && p.TenantID != "" && p.Version > 0 {
		e.hub.publish(p.TenantID, p.Version, scopes)
	}
}

// Recheck pokes every Watch stream whose scope changed after the newest
// version it knows of (its cursor's, or the last poke's): for a node that
// may have missed other nodes' pokes, e.g. while cut off from NATS. It
// costs one read per stream.
func (e *Engine) Recheck(ctx context.Context) error {
	for _, w := range e.hub.snapshot() {
		if err := e.pokeIfBehind(ctx, w, max(w.base, w.offered.Load())); err != nil {
			return err
		}
	}
	return nil
}

// snapshot returns the open watchers.
func (h *hub) snapshot() []*watcher {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ws := make([]*watcher, 0, len(h.watchers))
	for w := range h.watchers {
		ws = append(ws, w)
	}
	return ws
}
