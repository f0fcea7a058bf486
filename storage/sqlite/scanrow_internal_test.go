package sqlite

import (
	"bytes"
	"testing"
)

// The page's values share buffers: each copy is its own, capped so an
// append to one cannot write into the next, and a nil value stays nil.
func TestAppendValueCopiesAndCapsEachValue(t *testing.T) {
	var buf []byte
	var got [][]byte
	want := [][]byte{[]byte("one"), nil, bytes.Repeat([]byte("x"), 3000), []byte("two"), {}}
	for _, v := range want {
		src := bytes.Clone(v)
		var out []byte
		buf, out = appendValue(buf, src)
		for i := range src {
			src[i] = '!' // the driver's bytes may be reused
		}
		got = append(got, out)
	}
	_ = append(got[0], "ZZZ"...)
	for i, w := range want {
		if !bytes.Equal(got[i], w) || (w == nil) != (got[i] == nil) || cap(got[i]) != len(got[i]) {
			t.Errorf("value %d = %q (cap %d), want %q", i, got[i], cap(got[i]), w)
		}
	}
}
