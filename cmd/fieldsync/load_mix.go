package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The actions a device takes.
const (
	actVisit   = "visit"   // record a visit, then sync when online
	actSurgery = "surgery" // record a surgery support with its three photos, then sync
	actEdit    = "edit"    // edit a visit the user's devices share, then sync
	actPull    = "pull"    // sync (pull what the other devices did)
	actWatch   = "watch"   // keep a Watch stream open for --watch-for
)

var loadActions = []string{actVisit, actSurgery, actEdit, actPull, actWatch}

// loadMix is what the devices do: weighted actions, or the burst of
// push5-pull (every device writes 5 visits, then all sync at once).
type loadMix struct {
	name    string
	weights map[string]int
	total   int
	burst   int // visits per device per round in burst mode; 0: weighted actions
}

// loadPresets are the named mixes.
var loadPresets = map[string]string{
	"field": "visit=40,surgery=5,edit=20,pull=25,watch=10",
	"read":  "pull=80,watch=20",
}

const loadPresetHelp = `  field       visit=40,surgery=5,edit=20,pull=25,watch=10 (the default)
  read        pull=80,watch=20
  push5-pull  each device writes 5 visits offline, then all sync (push, then pull)
              at once; rounds repeat while --duration lasts (at least one)
`

// parseMix reads a preset name or "action=weight,…".
func parseMix(s string) (loadMix, error) {
	if s == "push5-pull" {
		return loadMix{name: s, burst: 5}, nil
	}
	spec, name := s, "custom"
	if p, ok := loadPresets[s]; ok {
		spec, name = p, s
	}
	m := loadMix{name: name, weights: map[string]int{}}
	for _, part := range splitList(spec) {
		if err := m.add(part); err != nil {
			return loadMix{}, fmt.Errorf("%w: --mix %q: %w", errUsage, s, err)
		}
	}
	if m.total == 0 {
		return loadMix{}, fmt.Errorf("%w: --mix %q: want a preset (field, read, push5-pull) or weights such as visit=40,pull=60", errUsage, s)
	}
	return m, nil
}

// add reads one "action=weight".
func (m *loadMix) add(part string) error {
	act, w, ok := strings.Cut(part, "=")
	if !ok || !slices.Contains(loadActions, act) {
		return fmt.Errorf("%q: want action=weight with action one of %s", part, strings.Join(loadActions, ", "))
	}
	n, err := strconv.Atoi(w)
	if err != nil || n < 0 || n > 1000 {
		return fmt.Errorf("%q: the weight must be 0 to 1000", part)
	}
	if _, dup := m.weights[act]; dup {
		return fmt.Errorf("%q: %s given twice", part, act)
	}
	m.weights[act] = n
	m.total += n
	return nil
}

// pick draws an action by weight.
func (m loadMix) pick(r *rand.Rand) string {
	n := r.IntN(m.total)
	for _, act := range loadActions {
		if n -= m.weights[act]; n < 0 {
			return act
		}
	}
	return actPull
}

// String is the mix as given, with its weights.
func (m loadMix) String() string {
	if m.burst > 0 {
		return m.name
	}
	var parts []string
	for _, act := range loadActions {
		if w, ok := m.weights[act]; ok {
			parts = append(parts, act+"="+strconv.Itoa(w))
		}
	}
	return m.name + " (" + strings.Join(parts, ",") + ")"
}
