package syncengine

import (
	"slices"
	"testing"
)

func TestCommitBatchKeepsEachRunOfAScopeOnce(t *testing.T) {
	types := DefaultRegistry().Types()
	if len(types) < 2 {
		t.Fatal("the default registry has fewer than two types")
	}
	a, b := types[0], types[1]
	north, south := Scope{Owner: "u1", Region: "north"}, Scope{Owner: "u1", Region: "south"}
	var batch commitBatch
	batch.add(3, a, north)
	batch.add(4, a, north)        // a repeat: left out
	batch.add(5, b, north)        // another type
	batch.add(6, b, south, north) // a record that moved: both scopes
	batch.add(2, b, north)        // a repeat of the last
	batch.add(7, a, north)        // not the last: kept (a set either way)
	want := []changedScope{{a, north}, {b, north}, {b, south}, {b, north}, {a, north}}
	if !slices.Equal(batch.scopes, want) || batch.version != 7 {
		t.Fatalf("scopes %v at version %d, want %v at 7", batch.scopes, batch.version, want)
	}
}
