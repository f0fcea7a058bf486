package syncengine

import (
	"fmt"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// BenchmarkHubPublish measures one commit's fan-out to 1,000 open watchers:
// of 1,000 reps in 10 regions, where a visit of one rep pokes one watcher;
// and of one rep on 1,000 streams, where it pokes all of them. One op is
// the publish and the taking of its pokes.
func BenchmarkHubPublish(b *testing.B) {
	visit, _ := DefaultRegistry().Lookup("fieldsync.v1.Visit")
	for _, tc := range []struct {
		name string
		user func(i int) string
	}{
		{"1000_reps", func(i int) string { return fmt.Sprintf("u%d", i) }},
		{"1_rep_1000_streams", func(int) string { return "u7" }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHub()
			var poked []*watcher
			for i := range 1000 {
				w := benchWatcher(FilterFor(device(tc.user(i), fieldsyncv1.Role_ROLE_REP, "", fmt.Sprintf("r%d", i%10))))
				h.add(w)
				if tc.user(i) == "u7" {
					poked = append(poked, w)
				}
			}
			scopes := []changedScope{{rt: visit, scope: Scope{Owner: "u7", Region: "r7"}}}
			b.ResetTimer()
			for i := range b.N {
				h.publish(testTenant, uint64(i+1), scopes)
				for _, w := range poked {
					<-w.pokes
				}
			}
		})
	}
}

func benchWatcher(f Filter) *watcher { return newWatcher(f, DefaultRegistry()) }
