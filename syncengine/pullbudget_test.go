package syncengine_test

import (
	"context"
	"strings"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestPullPageStopsAtItsByteBudget pushes about 5 MiB of visits and pulls
// with the largest limit: the first page stops near 4 MiB of values with
// more to come, and the pages together hold every visit once.
func TestPullPageStopsAtItsByteBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const n, size = 320, 16 << 10
	notes := strings.Repeat("n", size)
	var muts = make([]*fieldsyncv1.Visit, 0, n)
	for range n {
		muts = append(muts, &fieldsyncv1.Visit{Notes: notes, OwnerUserId: w.p["rep"].UserID})
	}
	for len(muts) > 0 {
		batch := muts[:min(len(muts), 100)]
		muts = muts[len(batch):]
		var ms = make([]syncengine.Mutation, 0, len(batch))
		for _, v := range batch {
			ms = append(ms, w.mut("rep", newID(), v, "notes", "owner_user_id"))
		}
		w.push("rep", ms...)
	}
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		res, err := w.e.Pull(context.Background(), w.p["rep"], cursor, 5000)
		if err != nil {
			t.Fatal(err)
		}
		bytes := 0
		for _, r := range res.Records {
			if seen[r.Id] {
				t.Fatalf("page %d: %s again", page, r.Id)
			}
			seen[r.Id] = true
			bytes += len(r.GetValue().GetValue())
		}
		if bytes > 4<<20+2*size {
			t.Fatalf("page %d: %d bytes of values", page, bytes)
		}
		if page == 0 && !res.HasMore {
			t.Fatalf("first page: %d records (%d bytes), no more; want it cut near 4 MiB", len(res.Records), bytes)
		}
		cursor = res.NextCursor
		if !res.HasMore {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("%d visits pulled, want %d", len(seen), n)
	}
}
