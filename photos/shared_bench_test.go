package photos_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
)

// BenchmarkSharedStagingUpload measures what SharedStaging costs an
// upload on one node: a 2 MiB photo in 256 KiB chunks, created, sent and
// completed, with chunks kept in the store too ("shared") and not
// ("local"), alternately in one op over one store. It reports the median
// of each and shared/local.
func BenchmarkSharedStagingUpload(b *testing.B) {
	for _, n := range []int{2 << 20} {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			w := newWorld(b, withMaxBytes(int64(n)))
			local, err := photos.New(w.cfg)
			if err != nil {
				b.Fatal(err)
			}
			cfg := w.cfg
			cfg.SharedStaging = true
			shared, err := photos.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			svcs := []*photos.Service{local, shared}
			var times [2][]time.Duration
			for i := 0; i < b.N; i++ {
				for k := range 2 {
					j := (i + k) % 2 // alternate which goes first
					data := photostest.JPEG(n, uint64(2*i+j+1000))
					start := time.Now()
					uploadWith(b, w, svcs[j], data)
					times[j] = append(times[j], time.Since(start))
				}
			}
			photos.WaitTracked(local)
			photos.WaitTracked(shared)
			l, s := medianOf(times[0]), medianOf(times[1])
			b.ReportMetric(float64(l.Microseconds())/1000, "local_ms")
			b.ReportMetric(float64(s.Microseconds())/1000, "shared_ms")
			b.ReportMetric(float64(s)/float64(l), "shared/local")
		})
	}
}

func uploadWith(b *testing.B, w *world, svc *photos.Service, data []byte) {
	ctx := context.Background()
	u, err := svc.CreateUpload(ctx, w.p["rep"], photos.CreateRequest{SHA256: photostest.Key(data), Size: int64(len(data)), ContentType: "image/jpeg", DeviceHLC: 7 << 16})
	if err != nil {
		b.Fatal(err)
	}
	for off := int64(0); off < int64(len(data)); {
		end := min(off+256<<10, int64(len(data)))
		if off, err = svc.PutChunk(ctx, w.p["rep"], u.ID, off, data[off:end], photos.CRC32C(data[off:end])); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		b.Fatal(err)
	}
}

func medianOf(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
