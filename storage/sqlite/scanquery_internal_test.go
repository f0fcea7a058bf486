package sqlite

import (
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScanQueryTextFollowsTheShapeOnly: selections of one shape share a
// statement (kept after the first), with their own arguments; a shape
// that differs only in how its types repeat across terms gets its own.
func TestScanQueryTextFollowsTheShapeOnly(t *testing.T) {
	sel := func(owner, region string, ownerTypes, regionTypes []string) syncengine.Selection {
		return syncengine.Selection{TenantID: "t-" + owner, Terms: []syncengine.Term{
			{Field: syncengine.ByOwner, Value: owner, Types: ownerTypes},
			{Field: syncengine.ByRegion, Value: region, Types: regionTypes},
		}}
	}
	a1, args1 := scanQuery(sel("u1", "r1", []string{"A", "B"}, []string{"C"}), 1, 9, 50)
	a2, args2 := scanQuery(sel("u2", "r2", []string{"A", "B"}, []string{"C"}), 2, 8, 60)
	if a1 != a2 {
		t.Fatalf("one shape, two statements:\n%s\n%s", a1, a2)
	}
	if slices.Equal(args1, args2) || args2[0] != "t-u2" || args2[4] != "u2" {
		t.Fatalf("arguments: %v and %v", args1, args2)
	}
	// Same fields and type count, but the region term names a type the
	// owner term has: its parameter is shared, so the text differs.
	b, _ := scanQuery(sel("u3", "r3", []string{"A", "B"}, []string{"A"}), 1, 9, 50)
	if b == a1 {
		t.Fatal("a shape sharing a type parameter got the other shape's statement")
	}
	fresh, _ := scanQuery(sel("u4", "r4", []string{"A", "B"}, []string{"A"}), 1, 9, 50)
	if fresh != b {
		t.Fatal("the kept statement differs from the one built")
	}
}
