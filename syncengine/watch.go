package syncengine

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// changedScope is a scope a commit touched (before or after the change).
type changedScope struct {
	rt    *RecordType
	scope Scope
}

// hub fans commits out to watchers whose filter matches a changed scope.
// Watchers are indexed by the keys of their filter's terms (Filter.Select):
// a commit looks up, per changed scope, the four keys the scope can be
// selected under, and visits only the watchers found there, not every
// stream of the tenant. Publishers share the lock; only opening and
// closing a stream takes it alone.
type hub struct {
	mu       sync.RWMutex
	index    map[watchKey]map[*watcher]struct{}
	watchers map[*watcher]struct{}
	closed   bool
}

// watchKey is one (tenant, term, type) a watcher's filter selects under; a
// term over AnyPlace has an empty value.
type watchKey struct {
	tenant string
	field  ScopeField
	value  string
	typ    string
}

// watcher is one Watch stream: a one-slot mailbox holding the newest version.
type watcher struct {
	filter  Filter
	keys    []watchKey
	pokes   chan uint64
	done    chan struct{}
	offered atomic.Uint64 // the version last offered, so a commit offers it once
	base    uint64        // the version of the stream's cursor (Engine.Recheck)
}

func newHub() *hub {
	return &hub{index: map[watchKey]map[*watcher]struct{}{}, watchers: map[*watcher]struct{}{}}
}

// newWatcher makes the watcher of a filter, with the keys it is indexed by.
func newWatcher(f Filter, reg *Registry) *watcher {
	w := &watcher{filter: f, pokes: make(chan uint64, 1), done: make(chan struct{})}
	sel := f.Select(reg)
	for _, t := range sel.Terms {
		for _, typ := range t.Types {
			w.keys = append(w.keys, watchKey{tenant: sel.TenantID, field: t.Field, value: t.Value, typ: typ})
		}
	}
	return w
}

func (h *hub) add(w *watcher) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.watchers[w] = struct{}{}
	for _, k := range w.keys {
		ws := h.index[k]
		if ws == nil {
			ws = map[*watcher]struct{}{}
			h.index[k] = ws
		}
		ws[w] = struct{}{}
	}
	return true
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
	for _, k := range w.keys {
		if ws := h.index[k]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(h.index, k)
			}
		}
	}
}

// publish pokes every watcher of the tenant that can see one of the scopes.
// It never blocks: a watcher that has not taken its last poke gets the newer
// version in the same slot.
func (h *hub) publish(tenantID string, version uint64, scopes []changedScope) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range scopes {
		for _, field := range []ScopeField{AnyPlace, ByOwner, ByStore, ByRegion} {
			k := watchKey{tenant: tenantID, field: field, value: s.scope.field(field), typ: string(s.rt.Name)}
			for w := range h.index[k] {
				if w.filter.Matches(s.rt, s.scope) && w.offered.Swap(version) != version {
					w.offer(version)
				}
			}
		}
	}
}

func (w *watcher) offer(version uint64) {
	for {
		select {
		case w.pokes <- version:
			return
		default:
		}
		select {
		case old := <-w.pokes:
			version = max(version, old)
		default:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.watchers {
		close(w.done)
	}
	h.index, h.watchers = map[watchKey]map[*watcher]struct{}{}, map[*watcher]struct{}{}
}

// WatchEvent is a poke (Version > 0) or a heartbeat (Heartbeat set).
type WatchEvent struct {
	Version   uint64
	Heartbeat time.Time
}

// Watch calls send with a poke whenever the caller's scope changes, and a
// heartbeat every HeartbeatInterval (the first after a random part of it,
// see firstBeat), until ctx ends (returns nil), the
// engine closes (returns nil: a clean end) or send fails (returns its
// error). The first message comes at once: a poke when the cursor is
// behind the newest change in scope, else a heartbeat saying the watch is
// live (no change after it can be missed).
func (e *Engine) Watch(ctx context.Context, p *Principal, cursorText string, send func(WatchEvent) error) error {
	f := FilterFor(p)
	after, err := e.checkCursor(ctx, f, cursorText)
	if err != nil {
		return err
	}
	w := newWatcher(f, e.reg)
	w.base = after
	if !e.hub.add(w) {
		return nil
	}
	defer e.hub.remove(w)
	if err := e.pokeIfBehind(ctx, w, after); err != nil {
		return err
	}
	if len(w.pokes) == 0 {
		if err := send(WatchEvent{Heartbeat: time.Now()}); err != nil {
			return err
		}
	}
	beat := time.NewTimer(firstBeat(e.cfg.HeartbeatInterval))
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return nil
		case v := <-w.pokes:
			if err := send(WatchEvent{Version: v}); err != nil {
				return err
			}
		case t := <-beat.C:
			beat.Reset(e.cfg.HeartbeatInterval)
			if err := send(WatchEvent{Heartbeat: t}); err != nil {
				return err
			}
		}
	}
}

// firstBeat is when a stream's first heartbeat after the opening one
// comes: at random between half the interval and the whole of it, so that
// streams opened together (every device reconnecting after a node
// restarted) do not all beat, and have their tokens checked, at once. No
// gap between heartbeats exceeds the interval.
func firstBeat(interval time.Duration) time.Duration {
	if half := interval / 2; half > 0 {
		return interval - rand.N(half)
	}
	return interval
}

// pokeIfBehind offers a poke when the scope has changes after the cursor.
func (e *Engine) pokeIfBehind(ctx context.Context, w *watcher, after uint64) error {
	pg, err := e.scan(ctx, w.filter, after, 1)
	if err != nil {
		return err
	}
	if len(pg.rows) > 0 {
		w.offer(pg.rows[0].Version)
	}
	return nil
}
