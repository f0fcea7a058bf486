package insights

import (
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// A misspelt or unknown key, at any level, and numbers that are or add up
// to infinity are refused with CodeInvalid naming them, instead of silently
// falling back to the defaults.
func TestParseConfigRefusesUnknownKeysAndNonFiniteNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ json, names string }{
		{`{"phi":{"wieghts":{"key_action":1}}}`, "wieghts"},
		{`{"phi":{"weights":{"key_acton":1}}}`, "key_acton"},
		{`{"rule":{"conflict_window":"48h"}}`, "rule"},
		{`{"rules":{"conflict_window":"48h","stal_window":"1h"}}`, "stal_window"},
		{`{"phi":{"weights":{"key_action":1e308,"quality":1e308,"collaboration":0}}}`, "weights"},
		{`{"phi":{"weights":{"key_action":1e400}}}`, "key_action"},
		{`{"phi":{}} {"phi":{}}`, "after"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if !syncengine.IsCode(err, syncengine.CodeInvalid) || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("ParseConfig(%s) = %v, want CodeInvalid naming %q", tc.json, err, tc.names)
		}
	}
}

// TestGrantDurationIsTimeBoxed: A3's read access to a rep's operation logs
// is time-boxed (DOMAIN.md); an admin setting grant_duration to years
// would make every intervention a standing grant. Beyond MaxGrantDuration
// the configuration is refused, naming the key.
func TestGrantDurationIsTimeBoxed(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"721h", "8760h", "2562047h"} {
		_, err := ParseConfig([]byte(`{"rules":{"grant_duration":"` + d + `"}}`))
		if !syncengine.IsCode(err, syncengine.CodeInvalid) || !strings.Contains(err.Error(), "grant_duration") {
			t.Errorf("grant_duration %s: %v, want CodeInvalid naming grant_duration", d, err)
		}
	}
	for _, d := range []string{"1h", "72h", "720h"} {
		if _, err := ParseConfig([]byte(`{"rules":{"grant_duration":"` + d + `"}}`)); err != nil {
			t.Errorf("grant_duration %s: %v", d, err)
		}
	}
}

// TestAStoredGrantDurationOverTheBoundIsCut: a configuration stored before
// grant_duration was bounded still loads (the tenant's consumer must not
// stop on it), its grants cut to MaxGrantDuration; setting it anew is
// refused.
func TestAStoredGrantDurationOverTheBoundIsCut(t *testing.T) {
	t.Parallel()
	cfg, err := parseStoredConfig([]byte(`{"rules":{"grant_duration":"8760h"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rules.GrantDuration != MaxGrantDuration {
		t.Fatalf("grant_duration %v, want %v", cfg.Rules.GrantDuration, MaxGrantDuration)
	}
	if cfg, err := parseStoredConfig([]byte(`{"rules":{"grant_duration":"2h"}}`)); err != nil || cfg.Rules.GrantDuration != Duration(2*time.Hour) {
		t.Fatalf("grant_duration 2h: %v, %v", cfg.Rules.GrantDuration, err)
	}
	if _, err := parseStoredConfig([]byte(`{"rules":{"grant_duration":"-1h"}}`)); err == nil {
		t.Fatal("a stored negative grant_duration was accepted")
	}
}
