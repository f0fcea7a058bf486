package syncengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkServedLogPull measures what the served-pages log adds to a
// pull: a device's pull to the head (its last page goes to the log)
// against an API key's pull of the same records (never logged), both in
// one op, in alternating order. "idle": nothing new since the last pull
// (the log is read, not written); "one_new": a visit was pushed first
// (the device's pull writes the log). It reports the median of each and
// device/key.
func BenchmarkServedLogPull(b *testing.B) {
	w := newWorld(b)
	w.p["key"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "kb", Permissions: []string{syncengine.PermRecordsRead}}
	w.pushVisits(b, "rep", 100)
	cursors := map[string]string{}
	pull := func(who string) time.Duration {
		start := time.Now()
		for {
			res, err := w.e.Pull(context.Background(), w.p[who], cursors[who], syncengine.DefaultPullLimit)
			if err != nil {
				b.Fatal(err)
			}
			if cursors[who] = res.NextCursor; !res.HasMore {
				return time.Since(start)
			}
		}
	}
	pull("admin")
	pull("key")
	for _, tc := range []struct {
		name  string
		fresh bool
	}{{"idle", false}, {"one_new", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var dev, key []time.Duration
			for i := 0; i < b.N; i++ {
				if tc.fresh {
					w.pushVisits(b, "rep", 1)
				}
				if i%2 == 0 {
					dev, key = append(dev, pull("admin")), append(key, pull("key"))
				} else {
					key, dev = append(key, pull("key")), append(dev, pull("admin"))
				}
			}
			d, k := median(dev), median(key)
			b.ReportMetric(float64(d.Microseconds()), "device_us")
			b.ReportMetric(float64(k.Microseconds()), "key_us")
			b.ReportMetric(float64(d)/float64(k), "device/key")
		})
	}
}
