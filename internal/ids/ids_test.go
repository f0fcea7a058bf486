package ids

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewIsTimeOrderedAndUnique(t *testing.T) {
	t.Parallel()
	base := time.UnixMilli(1_800_000_000_000)
	var got []string
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewAt(base.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 {
			t.Fatalf("len(%q) = %d, want 26", id, len(id))
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		got = append(got, id)
	}
	if !sort.StringsAreSorted(got) {
		t.Fatal("ids made at increasing times do not sort in that order")
	}
}

func TestTokenHasPrefixAndEntropy(t *testing.T) {
	t.Parallel()
	a, b := Token("fsd"), Token("fsd")
	if !strings.HasPrefix(a, "fsd_") || a == b {
		t.Fatalf("tokens %q, %q", a, b)
	}
	if string(Hash(a)) == string(Hash(b)) || len(Hash(a)) != 32 {
		t.Fatal("hashes of distinct tokens collide or have the wrong size")
	}
}
