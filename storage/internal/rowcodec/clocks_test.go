package rowcodec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/fieldsync/fieldsync/syncengine"
)

// encodeClocksV1 is the first encoding, as rows written before the second
// hold it.
func encodeClocksV1(fields map[string]syncengine.Version, elements map[string][]syncengine.Version) []byte {
	b := binary.AppendUvarint(nil, uint64(len(fields)))
	for _, n := range appendSortedKeys(nil, fields) {
		b = appendString(b, n)
		b = appendVersion(b, fields[n])
	}
	b = binary.AppendUvarint(b, uint64(len(elements)))
	for _, n := range appendSortedKeys(nil, elements) {
		b = appendString(b, n)
		b = binary.AppendUvarint(b, uint64(len(elements[n])))
		for _, v := range elements[n] {
			b = appendVersion(b, v)
		}
	}
	return b
}

type clocks struct {
	fields   map[string]syncengine.Version
	elements map[string][]syncengine.Version
}

func (c clocks) equal(fields map[string]syncengine.Version, elements map[string][]syncengine.Version) bool {
	return maps.Equal(c.fields, fields) && len(c.elements) == len(elements) &&
		maps.EqualFunc(c.elements, elements, func(a, b []syncengine.Version) bool { return slices.Equal(a, b) })
}

func manyVersions(n int) []syncengine.Version {
	out := make([]syncengine.Version, n)
	for i := range out {
		out[i] = syncengine.Version{HLC: syncengine.HLC(1000 + i%23), Actor: fmt.Sprint("dev", i%7)}
	}
	return out
}

func TestClocksRoundTrip(t *testing.T) {
	t.Parallel()
	a := syncengine.Version{HLC: 1 << 40, Actor: "01JDEVICEAAAAAAAAAAAAAAAAA"}
	b := syncengine.Version{HLC: 7, Actor: ""}
	for name, c := range map[string]clocks{
		"empty":               {map[string]syncengine.Version{}, map[string][]syncengine.Version{}},
		"one write":           {map[string]syncengine.Version{"kind": a, "notes": a, "action_tags": a}, map[string][]syncengine.Version{"action_tags": {a}}},
		"two writes":          {map[string]syncengine.Version{"kind": a, "notes": b}, map[string][]syncengine.Version{"tags": {b, a, b}}},
		"empty element list":  {map[string]syncengine.Version{"tags": b}, map[string][]syncengine.Version{"tags": {}}},
		"many versions (map)": {map[string]syncengine.Version{"x": a}, map[string][]syncengine.Version{"photos": manyVersions(200), "tags": manyVersions(30)}},
	} {
		enc := EncodeClocks(c.fields, c.elements)
		fields, elements, err := DecodeClocks(enc)
		if err != nil || !c.equal(fields, elements) {
			t.Errorf("%s: DecodeClocks(EncodeClocks) = %v %v %v, want %v %v", name, fields, elements, err, c.fields, c.elements)
		}
		if again := EncodeClocks(fields, elements); !bytes.Equal(again, enc) {
			t.Errorf("%s: encoding the decoded clocks gave other bytes", name)
		}
		old := encodeClocksV1(c.fields, c.elements)
		fields, elements, err = DecodeClocks(old)
		if err != nil || !c.equal(fields, elements) {
			t.Errorf("%s: DecodeClocks(first encoding) = %v %v %v, want %v %v", name, fields, elements, err, c.fields, c.elements)
		}
	}
}

// TestClocksSmaller: a record's versions, mostly one write's, take less
// than half of the first encoding (a row of the change log is mostly them).
func TestClocksSmaller(t *testing.T) {
	t.Parallel()
	at := syncengine.Version{HLC: 1 << 45, Actor: "01JDEVICEAAAAAAAAAAAAAAAAA"}
	fields := map[string]syncengine.Version{}
	for _, n := range []string{"kind", "customer_id", "notes", "action_tags", "owner_user_id", "store_id", "region_id"} {
		fields[n] = at
	}
	elements := map[string][]syncengine.Version{"action_tags": {at}}
	if got, old := len(EncodeClocks(fields, elements)), len(encodeClocksV1(fields, elements)); 2*got > old {
		t.Errorf("%d bytes, first encoding %d", got, old)
	}
}

func TestClocksCorrupt(t *testing.T) {
	t.Parallel()
	valid := EncodeClocks(map[string]syncengine.Version{"a": {HLC: 1, Actor: "d"}}, map[string][]syncengine.Version{"t": {{HLC: 1, Actor: "d"}}})
	for name, b := range map[string][]byte{
		"nothing":               nil,
		"marker only":           clocksV2,
		"truncated":             valid[:len(valid)-1],
		"index past the table":  append(slices.Clone(clocksV2), 1, 1, 1, 'd', 1, 1, 'a', 5, 0),
		"count beyond the data": append(slices.Clone(clocksV2), 0xff, 0xff, 0x03),
	} {
		if _, _, err := DecodeClocks(b); err == nil {
			t.Errorf("%s: DecodeClocks(% x) succeeded", name, b)
		}
	}
}

func TestClocksRoundTripProperty(t *testing.T) {
	t.Parallel()
	version := rapid.Custom(func(t *rapid.T) syncengine.Version {
		return syncengine.Version{HLC: syncengine.HLC(rapid.Uint64Range(0, 1<<50).Draw(t, "hlc")),
			Actor: rapid.SampledFrom([]string{"", "a", "dev-1", "dev-2", "server"}).Draw(t, "actor")}
	})
	name := rapid.StringMatching(`[a-z_]{1,12}`)
	rapid.Check(t, func(t *rapid.T) {
		fields := rapid.MapOf(name, version).Draw(t, "fields")
		elements := rapid.MapOf(name, rapid.SliceOf(version)).Draw(t, "elements")
		enc := EncodeClocks(fields, elements)
		gotFields, gotElements, err := DecodeClocks(enc)
		if err != nil || !(clocks{fields, elements}).equal(gotFields, gotElements) {
			t.Fatalf("round trip: %v %v %v, want %v %v", gotFields, gotElements, err, fields, elements)
		}
		if !bytes.Equal(EncodeClocks(gotFields, gotElements), enc) {
			t.Fatalf("encoding is not deterministic")
		}
	})
}

// FuzzDecodeClocks: any bytes decode or fail without panicking, and what
// decodes encodes to bytes that decode to the same clocks.
func FuzzDecodeClocks(f *testing.F) {
	at := syncengine.Version{HLC: 99, Actor: "d"}
	f.Add(EncodeClocks(map[string]syncengine.Version{"a": at}, map[string][]syncengine.Version{"t": {at, at}}))
	f.Add(encodeClocksV1(map[string]syncengine.Version{"a": at}, map[string][]syncengine.Version{"t": {at}}))
	f.Add([]byte{0x80, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, elements, err := DecodeClocks(b)
		if err != nil {
			return
		}
		f2, e2, err := DecodeClocks(EncodeClocks(fields, elements))
		if err != nil || !(clocks{fields, elements}).equal(f2, e2) {
			t.Fatalf("re-encoded clocks decode as %v %v %v, want %v %v", f2, e2, err, fields, elements)
		}
	})
}
