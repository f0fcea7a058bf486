package fieldsync

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/benchenv"
)

// BenchmarkPhotoUploadWindow times the Sync that uploads one new 5 MiB
// photo in 256 KiB chunks (with the push of the record that refers to it
// and the pulls around it, each request held back by the link's latency
// too) with 1, 2 and 3 chunks in flight (WithUploadWindow), over loopback
// and over a link holding each request back 10 ms. -count repeats each
// case back to back, so to alternate the windows run the command several
// times instead.
//
//	for i in 1 2 3; do go test -run='^$' -bench=PhotoUploadWindow -benchtime=10x ./clients/go/; done
func BenchmarkPhotoUploadWindow(b *testing.B) {
	const size = 5 << 20
	for _, latency := range []time.Duration{0, 10 * time.Millisecond} {
		for _, w := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("latency=%s/window=%d", latency, w), func(b *testing.B) {
				e := start(b)
				hc := &http.Client{Transport: benchenv.DelayedTransport{Base: defaultHTTPClient(ProtocolConnect, DefaultConnectTimeout).Transport, Delay: latency}}
				benchPhotoSyncs(b, e.device(e.token("rep"), WithHTTPClient(hc), WithUploadWindow(w)), size)
			})
		}
	}
}
