package local_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fieldsync/fieldsync/storage/media/mediatest"
)

// BenchmarkPut5MiB stores a new 5 MiB object per iteration (fsync included).
func BenchmarkPut5MiB(b *testing.B) {
	s := newStore(b, b.TempDir())
	data := mediatest.NewObject(5 << 20).Data
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		b.StopTimer()
		i++
		binary.LittleEndian.PutUint64(data, i)
		key := mediatest.Key(data)
		b.StartTimer()
		if err := s.Put(b.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
			b.Fatal(err)
		}
	}
}
