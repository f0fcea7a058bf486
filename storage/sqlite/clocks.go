package sqlite

import (
	"encoding/binary"
	"errors"
	"sort"

	"github.com/fieldsync/fieldsync/syncengine"
)

// encodeClocks stores per-field versions compactly: a count, then per
// field (sorted by name) its name, HLC and actor.
func encodeClocks(fields map[string]syncengine.Version) []byte {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		v := fields[n]
		b = appendString(b, n)
		b = binary.AppendUvarint(b, uint64(v.HLC))
		b = appendString(b, v.Actor)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadClocks = errors.New("corrupt field clocks")

func decodeClocks(b []byte) (map[string]syncengine.Version, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadClocks
	}
	b = b[k:]
	out := make(map[string]syncengine.Version, n)
	for range n {
		name, rest, err := readString(b)
		if err != nil {
			return nil, err
		}
		hlc, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, errBadClocks
		}
		actor, rest, err := readString(rest[k:])
		if err != nil {
			return nil, err
		}
		out[name] = syncengine.Version{HLC: syncengine.HLC(hlc), Actor: actor}
		b = rest
	}
	return out, nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errBadClocks
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
