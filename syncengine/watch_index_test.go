package syncengine

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestHubPokesExactlyTheWatchersThatMatchProperty opens watchers with
// random filters and publishes commits of random scopes: a commit pokes a
// watcher exactly when its filter matches one of the commit's scopes, once
// per commit, and a closed watcher no longer.
func TestHubPokesExactlyTheWatchersThatMatchProperty(t *testing.T) {
	t.Parallel()
	pool := func(prefix string) []string { return []string{"", prefix + "1", prefix + "2"} }
	for name, reg := range map[string]*Registry{"default": DefaultRegistry(), "every shape": everyShapeRegistry()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(t *rapid.T) {
				h := newHub()
				var ws []*watcher
				for range rapid.IntRange(1, 12).Draw(t, "watchers") {
					w := newWatcher(drawFilter(t, pool), reg)
					h.add(w)
					ws = append(ws, w)
				}
				gone := ws[0]
				h.remove(gone)
				for version := uint64(1); version <= 5; version++ {
					var scopes []changedScope
					for range rapid.IntRange(1, 3).Draw(t, "scopes") {
						scopes = append(scopes, changedScope{rt: rapid.SampledFrom(reg.Types()).Draw(t, "type"), scope: Scope{
							Owner: rapid.SampledFrom(pool("u")).Draw(t, "owner"), Store: rapid.SampledFrom(pool("s")).Draw(t, "store"),
							Region: rapid.SampledFrom(pool("r")).Draw(t, "region")}})
					}
					h.publish(testTenant, version, scopes)
					for i, w := range ws {
						want := w != gone && w.filter.TenantID == testTenant && matchesAny(w.filter, scopes)
						got := len(w.pokes) == 1 && <-w.pokes == version
						if got != want || len(w.pokes) != 0 {
							t.Fatalf("watcher %d (%+v) poked %v, want %v, for %+v", i, w.filter, got, want, scopes)
						}
					}
				}
			})
		})
	}
}

func matchesAny(f Filter, scopes []changedScope) bool {
	for _, s := range scopes {
		if f.Matches(s.rt, s.scope) {
			return true
		}
	}
	return false
}

// TestFirstHeartbeatComesWithinTheInterval: the first heartbeat's delay
// is spread over the interval's second half, never past the interval.
func TestFirstHeartbeatComesWithinTheInterval(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "interval"))
		if got := firstBeat(d); got > d || got < d/2 || (d > 1 && got <= 0) {
			t.Fatalf("firstBeat(%v) = %v, want in [%v, %v]", d, got, d/2, d)
		}
	})
}
