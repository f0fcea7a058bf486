package syncengine

import (
	"context"
	"sync"
	"time"
)

// changedScope is a scope a commit touched (before or after the change).
type changedScope struct {
	rt    *RecordType
	scope Scope
}

// hub fans commits out to watchers whose filter matches a changed scope.
type hub struct {
	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{} // by tenant
	closed   bool
}

// watcher is one Watch stream: a one-slot mailbox holding the newest version.
type watcher struct {
	filter Filter
	pokes  chan uint64
	done   chan struct{}
}

func newHub() *hub { return &hub{watchers: map[string]map[*watcher]struct{}{}} }

func (h *hub) add(w *watcher) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	ws := h.watchers[w.filter.TenantID]
	if ws == nil {
		ws = map[*watcher]struct{}{}
		h.watchers[w.filter.TenantID] = ws
	}
	ws[w] = struct{}{}
	return true
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers[w.filter.TenantID], w)
}

// publish pokes every watcher of the tenant that can see one of the scopes.
// It never blocks: a watcher that has not taken its last poke gets the newer
// version in the same slot.
func (h *hub) publish(tenantID string, version uint64, scopes []changedScope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[tenantID] {
		for _, s := range scopes {
			if w.filter.Matches(s.rt, s.scope) {
				w.offer(version)
				break
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
	for _, ws := range h.watchers {
		for w := range ws {
			close(w.done)
		}
	}
	h.watchers = map[string]map[*watcher]struct{}{}
}

// WatchEvent is a poke (Version > 0) or a heartbeat (Heartbeat set).
type WatchEvent struct {
	Version   uint64
	Heartbeat time.Time
}

// Watch calls send with a poke whenever the caller's scope changes, and a
// heartbeat every HeartbeatInterval, until ctx ends (returns nil), the
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
	w := &watcher{filter: f, pokes: make(chan uint64, 1), done: make(chan struct{})}
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
	tick := time.NewTicker(e.cfg.HeartbeatInterval)
	defer tick.Stop()
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
		case t := <-tick.C:
			if err := send(WatchEvent{Heartbeat: t}); err != nil {
				return err
			}
		}
	}
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
