package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

// loadStats collects what one phase of a load run measured: latencies
// and outcomes per RPC (seen on the wire) and per device action.
type loadStats struct {
	mu    sync.Mutex
	rpcs  map[string]*latencies
	ops   map[string]*latencies
	codes map[string]int // error codes of RPCs, all RPCs together
	fails map[string]int // why actions failed
	// limited counts ResourceExhausted answers (the caller backed off).
	limited atomic.Int64
}

// latencies are the durations and failures of one RPC or action.
type latencies struct {
	d      []time.Duration
	errors int
}

func newLoadStats() *loadStats {
	return &loadStats{rpcs: map[string]*latencies{}, ops: map[string]*latencies{}, codes: map[string]int{}, fails: map[string]int{}}
}

// rpc records one call: its duration and code ("" for success).
func (s *loadStats) rpc(name string, d time.Duration, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rpcs[name] = s.rpcs[name].add(d, code != "")
	if code != "" {
		s.codes[code]++
	}
	if code == connect.CodeResourceExhausted.String() {
		s.limited.Add(1)
	}
}

// op records one device action; err is its failure, if any.
func (s *loadStats) op(name string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[name] = s.ops[name].add(d, err != nil)
	if err != nil {
		s.fails[failure(err)]++
	}
}

// latency records an action's time under name without counting its
// failure again (op counted it under the action's own name).
func (s *loadStats) latency(name string, d time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[name] = s.ops[name].add(d, failed)
}

// failure names why an action failed: the SDK's ErrUnreachable, the
// server's code, or "local" for the device's own store.
func failure(err error) string {
	var ce *connect.Error
	switch {
	case errors.Is(err, fieldsync.ErrUnreachable):
		return "unreachable"
	case errors.As(err, &ce):
		return ce.Code().String()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "local"
}

func (l *latencies) add(d time.Duration, failed bool) *latencies {
	if l == nil {
		l = &latencies{}
	}
	l.d = append(l.d, d)
	if failed {
		l.errors++
	}
	return l
}

// calls counts the RPCs recorded.
func (s *loadStats) calls() (n, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.rpcs {
		n += len(l.d)
		failed += l.errors
	}
	return n, failed
}

// measuredTransport records every call of one device (or of the setup)
// into the current phase's stats, and holds back the device's next call
// while the server's last ResourceExhausted answer asks it to wait.
type measuredTransport struct {
	next      http.RoundTripper
	stats     *atomic.Pointer[loadStats]
	notBefore atomic.Int64 // unix nanos before which no call goes out
}

func (m *measuredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := m.wait(req.Context()); err != nil {
		return nil, err
	}
	name, start := path.Base(req.URL.Path), time.Now()
	res, err := m.next.RoundTrip(req)
	st := m.stats.Load()
	switch {
	case errors.Is(req.Context().Err(), context.Canceled):
		return res, err // cut short by the load itself (a watch stint ended): not measured
	case err != nil:
		st.rpc(name, time.Since(start), noAnswerCode(req.Context()))
		return nil, err
	case isStream(name, res):
		st.rpc(name, time.Since(start), "") // a stream's latency is its opening
		return res, nil
	case res.StatusCode != http.StatusOK:
		code := m.connectError(res)
		st.rpc(name, time.Since(start), code)
		return res, nil
	}
	res.Body = &timedBody{ReadCloser: res.Body, done: func() { m.grpcDone(st, name, start, res) }}
	return res, nil
}

// grpcDone records a call whose body ended: gRPC carries its code in
// the trailers (Connect's successful answers have none).
func (m *measuredTransport) grpcDone(st *loadStats, name string, start time.Time, res *http.Response) {
	code := grpcCode(res)
	if code == connect.CodeResourceExhausted.String() {
		m.backOff(retryAfterHeader(res.Trailer.Get("Retry-After") + res.Header.Get("Retry-After")))
	}
	st.rpc(name, time.Since(start), code)
}

// wait holds a call back until the server's retry hint has passed.
func (m *measuredTransport) wait(ctx context.Context) error {
	d := time.Until(time.Unix(0, m.notBefore.Load()))
	if d <= 0 {
		return nil
	}
	return sleepCtx(ctx, d)
}

// noAnswerCode names a call that got no answer: its deadline passed (the
// SDK's request timeout), or the connection failed.
func noAnswerCode(ctx context.Context) string {
	if ctx.Err() != nil {
		return connect.CodeDeadlineExceeded.String()
	}
	return "no_answer"
}

// isStream reports whether a response is a server stream (Watch, the
// only one devices open), whose errors come at its end.
func isStream(name string, res *http.Response) bool {
	return name == "Watch" || strings.HasPrefix(res.Header.Get("Content-Type"), "application/connect+")
}

// connectError reads the code of a Connect unary error answer, leaving
// the body for the client, and notes the server's retry hint.
func (m *measuredTransport) connectError(res *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	var e struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(plainBody(res, body), &e); err != nil || e.Code == "" {
		return "http_" + strconv.Itoa(res.StatusCode)
	}
	if e.Code == connect.CodeResourceExhausted.String() {
		m.backOff(retryAfterHeader(res.Header.Get("Retry-After")))
	}
	return e.Code
}

// plainBody returns body, inflated when the answer was gzipped.
func plainBody(res *http.Response, body []byte) []byte {
	if res.Header.Get("Content-Encoding") != "gzip" {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	out, _ := io.ReadAll(io.LimitReader(zr, 1<<20))
	return out
}

// backOff holds the next call back for about d (1 s when the server gave
// no hint), with jitter so that devices told the same do not come back
// together.
func (m *measuredTransport) backOff(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	d += rand.N(d/2 + 1)
	m.notBefore.Store(time.Now().Add(d).UnixNano())
}

// retryAfterHeader reads a Retry-After of whole seconds; 0 when absent.
func retryAfterHeader(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// grpcCode reads the status of a gRPC answer ("" for OK and for Connect).
func grpcCode(res *http.Response) string {
	v := res.Trailer.Get("Grpc-Status")
	if v == "" {
		v = res.Header.Get("Grpc-Status")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == 0 {
		return ""
	}
	return connect.Code(n).String()
}

// timedBody calls done once, when the body ends or is closed.
type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// percentile returns the q-th quantile (0 < q ≤ 1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// rpcRow is one line of the summary's latency tables.
type rpcRow struct {
	Name   string  `json:"name"`
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// rows turns latencies into summary rows, sorted by name.
func rows(m map[string]*latencies) []rpcRow {
	out := make([]rpcRow, 0, len(m))
	for name, l := range m {
		d := slices.Clone(l.d)
		slices.Sort(d)
		out = append(out, rpcRow{Name: name, Count: len(d), Errors: l.errors,
			P50ms: ms(percentile(d, 0.5)), P99ms: ms(percentile(d, 0.99)), MaxMs: ms(percentile(d, 1))})
	}
	slices.SortFunc(out, func(a, b rpcRow) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
