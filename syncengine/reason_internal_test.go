package syncengine

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipReasonKeepsShortOnesAndCutsAtARune(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"short", "value: holds \"x\""},
		{"exact", strings.Repeat("a", maxReason)},
		{"ascii", strings.Repeat("a", 1<<20)},
		{"runes", strings.Repeat("é", 1<<10)},
		{"quoted controls", strings.Repeat(`\x01`, 1<<10)},
	} {
		got := clipReason(tc.in)
		switch {
		case len(got) > maxReason:
			t.Errorf("%s: %d bytes", tc.name, len(got))
		case !utf8.ValidString(got):
			t.Errorf("%s: cut inside a rune", tc.name)
		case len(tc.in) <= maxReason && got != tc.in:
			t.Errorf("%s: changed a short reason", tc.name)
		case len(tc.in) > maxReason && !strings.HasPrefix(tc.in, strings.TrimSuffix(got, "…")):
			t.Errorf("%s: not a prefix", tc.name)
		}
	}
}
