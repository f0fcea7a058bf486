package syncengine_test

import (
	"context"
	"testing"

	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestAWatcherThatMissesPokesGetsEveryChangeAtItsNextPullProperty pushes
// random changes, some in a rep's scope and some not, while the rep's
// device watches and ignores random pokes (as if lost on the way). Each
// poke it acts on leads to a pull from its cursor, which must bring every
// change in scope up to the poke's version, those whose pokes were missed
// included; after a last change and its poke, the device holds every
// change in its scope and none outside it.
func TestAWatcherThatMissesPokesGetsEveryChangeAtItsNextPullProperty(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rapid.Check(t, func(rt *rapid.T) {
		_, cursor := w.pullAll("rep", "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events := make(chan syncengine.WatchEvent, 64)
		done := make(chan error, 1)
		go func() {
			done <- w.e.Watch(ctx, w.p["rep"], cursor, func(ev syncengine.WatchEvent) error { events <- ev; return nil })
		}()
		// Each change in scope is poked before its push returns, one poke
		// per commit: the next poke after a push is the push's own or, when
		// they come together, a later one.
		nextPoke := func() uint64 {
			for ev := range events {
				if ev.Version > 0 {
					return ev.Version
				}
			}
			rt.Fatal("watch ended")
			return 0
		}
		mine, held := map[string]uint64{}, map[string]bool{} // change in scope → the poke that followed it
		pull := func(upTo uint64) {
			recs, next := w.pullAll("rep", cursor)
			cursor = next
			for id := range recs {
				if _, ok := mine[id]; !ok {
					rt.Fatalf("pulled %s, not in the rep's scope", id)
				}
				held[id] = true
			}
			for id, v := range mine {
				if v <= upTo && !held[id] {
					rt.Fatalf("after a poke of version %d the pull lacks %s (version %d)", upTo, id, v)
				}
			}
		}
		push := func(who string) uint64 {
			id := newID()
			w.push(who, w.mut(who, id, &fieldsyncv1.Visit{Notes: who}, "notes"))
			if who != "rep" {
				return 0
			}
			mine[id] = nextPoke()
			return mine[id]
		}
		steps := rapid.SliceOfN(rapid.SampledFrom([]string{"rep-act", "rep-miss", "rep2"}), 1, 5).Draw(rt, "steps")
		for _, step := range steps {
			switch step {
			case "rep2": // out of scope: no poke
				push("rep2")
			case "rep-miss":
				push("rep")
			case "rep-act":
				pull(push("rep"))
			}
		}
		pull(push("rep"))
		if len(held) != len(mine) {
			rt.Fatalf("holds %d of the %d changes in scope", len(held), len(mine))
		}
		cancel()
		if err := <-done; err != nil {
			rt.Fatalf("watch ended with %v", err)
		}
	})
}
