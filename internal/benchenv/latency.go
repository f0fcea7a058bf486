package benchenv

import (
	"net/http"
	"time"
)

// DelayedTransport holds every request back by Delay before Base (nil:
// http.DefaultTransport) sends it: a link with that much latency, at
// loopback's bandwidth.
type DelayedTransport struct {
	Base  http.RoundTripper
	Delay time.Duration
}

// RoundTrip waits Delay, or until the request's context ends, then sends.
func (t DelayedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Delay > 0 {
		select {
		case <-time.After(t.Delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}
