// Package rowcodec holds the encodings the SQL stores share, so that a
// row means the same bytes in storage/sqlite and storage/postgres: a
// record's per-field versions and a push batch's results.
package rowcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/fieldsync/fieldsync/syncengine"
)

// EncodeClocks stores a state's versions compactly. Most fields of a
// record share a few versions (every field a write carried takes its
// version), so each distinct version is written once and the fields and
// elements refer to it by index:
//
//	clocksV2 (2 bytes, see below)
//	count of versions, then each: HLC, actor
//	count of fields, then per field sorted by name: name, version index
//	count of set-union fields, then per field sorted by name: name,
//	  element count, and each element's version index
//
// Versions are numbered in the order the fields and elements first use
// them, so the encoding of a state is one and the same bytes.
//
// Rows written before this format hold the first one (DecodeClocks reads
// both): a count of fields, then per field its name, HLC and actor; then
// the set-union fields, each with its name, element count and each
// element's HLC and actor.
func EncodeClocks(fields map[string]syncengine.Version, elements map[string][]syncengine.Version) []byte {
	// Small states (nearly all) sort and index in arrays on the stack: the
	// version table and the encoded bytes are what it allocates.
	var fieldBuf [16]string
	var elementBuf [4]string
	var fieldIdxBuf, elementIdxBuf [16]uint64
	fieldNames, elementNames := appendSortedKeys(fieldBuf[:0], fields), appendSortedKeys(elementBuf[:0], elements)
	var t versionTable
	fieldIdx := fieldIdxBuf[:0]
	for _, n := range fieldNames {
		fieldIdx = append(fieldIdx, t.index(fields[n]))
	}
	elementIdx := elementIdxBuf[:0]
	for _, n := range elementNames {
		for _, v := range elements[n] {
			elementIdx = append(elementIdx, t.index(v))
		}
	}
	size := len(clocksV2) + 3
	for _, v := range t.versions {
		size += len(v.Actor) + 11
	}
	for _, n := range fieldNames {
		size += len(n) + 3
	}
	for _, n := range elementNames {
		size += len(n) + 4
	}
	b := append(make([]byte, 0, size+2*len(elementIdx)), clocksV2...)
	b = binary.AppendUvarint(b, uint64(len(t.versions)))
	for _, v := range t.versions {
		b = appendVersion(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(fieldNames)))
	for i, n := range fieldNames {
		b = appendString(b, n)
		b = binary.AppendUvarint(b, fieldIdx[i])
	}
	b = binary.AppendUvarint(b, uint64(len(elementNames)))
	for _, n := range elementNames {
		b = appendString(b, n)
		b = binary.AppendUvarint(b, uint64(len(elements[n])))
		for range elements[n] {
			b = binary.AppendUvarint(b, elementIdx[0])
			elementIdx = elementIdx[1:]
		}
	}
	return b
}

// clocksV2 starts the second encoding: a varint the first encoding never
// wrote (0 in two bytes rather than one) where it held its field count.
var clocksV2 = []byte{0x80, 0x00}

// versionTable numbers distinct versions in the order of first use. A
// state has few, so a scan finds them; a map takes over past a handful.
type versionTable struct {
	versions []syncengine.Version
	byValue  map[syncengine.Version]uint64
}

func (t *versionTable) index(v syncengine.Version) uint64 {
	if t.byValue != nil {
		if i, ok := t.byValue[v]; ok {
			return i
		}
	} else {
		for i, have := range t.versions {
			if have == v {
				return uint64(i)
			}
		}
	}
	t.versions = append(t.versions, v)
	i := uint64(len(t.versions) - 1)
	switch {
	case t.byValue != nil:
		t.byValue[v] = i
	case len(t.versions) > 16:
		t.byValue = make(map[syncengine.Version]uint64, 2*len(t.versions))
		for j, have := range t.versions {
			t.byValue[have] = uint64(j)
		}
	}
	return i
}

// appendSortedKeys appends m's keys to names, sorted.
func appendSortedKeys[V any](names []string, m map[string]V) []string {
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
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

// DecodeClocks reads what EncodeClocks wrote, in either encoding.
func DecodeClocks(b []byte) (map[string]syncengine.Version, map[string][]syncengine.Version, error) {
	if v2, ok := bytes.CutPrefix(b, clocksV2); ok {
		return decodeClocksV2(v2)
	}
	return decodeClockMaps(b, readVersion)
}

// decodeClocksV2 reads the table of distinct versions, then the maps whose
// entries refer to it by index.
func decodeClocksV2(b []byte) (map[string]syncengine.Version, map[string][]syncengine.Version, error) {
	n, b, err := readCount(b)
	if err != nil {
		return nil, nil, err
	}
	versions := make([]syncengine.Version, n)
	for i := range versions {
		if versions[i], b, err = readVersion(b); err != nil {
			return nil, nil, err
		}
	}
	return decodeClockMaps(b, func(b []byte) (syncengine.Version, []byte, error) {
		i, k := binary.Uvarint(b)
		if k <= 0 || i >= uint64(len(versions)) {
			return syncengine.Version{}, nil, errBadClocks
		}
		return versions[i], b[k:], nil
	})
}

// decodeClockMaps reads the field and element maps, each version with
// readV (inline in the first encoding, an index in the second).
func decodeClockMaps(b []byte, readV func([]byte) (syncengine.Version, []byte, error)) (map[string]syncengine.Version, map[string][]syncengine.Version, error) {
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
		if fields[name], b, err = readV(b); err != nil {
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
			if vs[i], b, err = readV(b); err != nil {
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
