// Package rowcodec holds the encodings the SQL stores share, so that a
// row means the same bytes in storage/sqlite and storage/postgres: a
// record's per-field versions and a push batch's results.
package rowcodec

import (
	"encoding/binary"
	"errors"
	"sort"

	"github.com/fieldsync/fieldsync/syncengine"
)

// EncodeClocks stores a state's versions compactly: the per-field versions
// (a count, then per field sorted by name: name, HLC, actor), then the
// per-element versions of set-union fields (a count, then per field: name,
// element count, and each element's HLC and actor).
func EncodeClocks(fields map[string]syncengine.Version, elements map[string][]syncengine.Version) []byte {
	size := 2 // the two counts, when small
	for n, v := range fields {
		size += len(n) + len(v.Actor) + 12
	}
	for n, vs := range elements {
		size += len(n) + 4
		for _, v := range vs {
			size += len(v.Actor) + 11
		}
	}
	b := binary.AppendUvarint(make([]byte, 0, size), uint64(len(fields)))
	for _, n := range sortedKeys(fields) {
		b = appendString(b, n)
		b = appendVersion(b, fields[n])
	}
	b = binary.AppendUvarint(b, uint64(len(elements)))
	for _, n := range sortedKeys(elements) {
		b = appendString(b, n)
		b = binary.AppendUvarint(b, uint64(len(elements[n])))
		for _, v := range elements[n] {
			b = appendVersion(b, v)
		}
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func appendVersion(b []byte, v syncengine.Version) []byte {
	b = binary.AppendUvarint(b, uint64(v.HLC))
	return appendString(b, v.Actor)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadClocks = errors.New("corrupt field clocks")

func DecodeClocks(b []byte) (map[string]syncengine.Version, map[string][]syncengine.Version, error) {
	n, b, err := readCount(b)
	if err != nil {
		return nil, nil, err
	}
	fields := make(map[string]syncengine.Version, n)
	for range n {
		var name string
		if name, b, err = readString(b); err != nil {
			return nil, nil, err
		}
		if fields[name], b, err = readVersion(b); err != nil {
			return nil, nil, err
		}
	}
	if n, b, err = readCount(b); err != nil {
		return nil, nil, err
	}
	elements := make(map[string][]syncengine.Version, n)
	for range n {
		var name string
		var m uint64
		if name, b, err = readString(b); err != nil {
			return nil, nil, err
		}
		if m, b, err = readCount(b); err != nil {
			return nil, nil, err
		}
		vs := make([]syncengine.Version, m)
		for i := range vs {
			if vs[i], b, err = readVersion(b); err != nil {
				return nil, nil, err
			}
		}
		elements[name] = vs
	}
	return fields, elements, nil
}

// readCount reads a count that cannot exceed the bytes left (each item
// takes at least one byte), so corrupt input cannot force a huge allocation.
func readCount(b []byte) (uint64, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return 0, nil, errBadClocks
	}
	return n, b[k:], nil
}

func readVersion(b []byte) (syncengine.Version, []byte, error) {
	hlc, k := binary.Uvarint(b)
	if k <= 0 {
		return syncengine.Version{}, nil, errBadClocks
	}
	actor, rest, err := readString(b[k:])
	if err != nil {
		return syncengine.Version{}, nil, err
	}
	return syncengine.Version{HLC: syncengine.HLC(hlc), Actor: actor}, rest, nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errBadClocks
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
