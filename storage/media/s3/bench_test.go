package s3_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/storage/media/mediatest"
)

// BenchmarkPut5MiB compares a 5 MiB Put through Store (stat, then a
// verified upload) with a bare minio-go PutObject of the same bytes to the
// same server. Every iteration writes a new object.
func BenchmarkPut5MiB(b *testing.B) {
	srv := s3test.Start(b)
	data := mediatest.NewObject(5 << 20).Data
	b.Run("Store", func(b *testing.B) {
		s, _ := newStore(b, srv)
		benchPuts(b, data, func(key string) error {
			return s.Put(b.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg")
		})
	})
	b.Run("MinioPutObject", func(b *testing.B) {
		_, bucket := newStore(b, srv)
		c := newClient(b, srv)
		opts := minio.PutObjectOptions{ContentType: "image/jpeg"}
		benchPuts(b, data, func(key string) error {
			_, err := c.PutObject(b.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), opts)
			return err
		})
	})
}

// benchPuts calls put with a fresh key per iteration, changing data's first
// bytes (outside the timer) so each iteration stores a new object.
func benchPuts(b *testing.B, data []byte, put func(key string) error) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		b.StopTimer()
		i++
		binary.LittleEndian.PutUint64(data, i)
		key := mediatest.Key(data)
		b.StartTimer()
		if err := put(key); err != nil {
			b.Fatal(err)
		}
	}
}
