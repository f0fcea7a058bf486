package fieldsync

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// newSyncClient builds the SyncService client of a configuration; with
// the Connect protocol its Pull calls are the SDK's own (rawPuller).
func newSyncClient(cfg *config) fieldsyncv1connect.SyncServiceClient {
	hc, opts := clientSetup(cfg)
	c := fieldsyncv1connect.NewSyncServiceClient(hc, cfg.server, opts...)
	if cfg.protocol != ProtocolConnect {
		return c
	}
	return &rawPuller{SyncServiceClient: c, hc: hc, url: strings.TrimRight(cfg.server, "/") + pullPath,
		token: cfg.token, timeout: cfg.requestTimeout}
}

// maxAnswerBytes bounds one answer the SDK reads, after inflating: a Pull
// page holds at most 4 MiB of record values (the server's page budget), so
// this leaves room for any honest answer while a hostile server or proxy
// (a gzip bomb, an endless body) cannot exhaust a device's memory. Connect
// refuses a larger answer with ResourceExhausted.
const maxAnswerBytes = 64 << 20

// clientSetup is the HTTP client and Connect options every service client
// of a configuration shares: token, per-call timeout and protocol.
func clientSetup(cfg *config) (*http.Client, []connect.ClientOption) {
	hc := cfg.httpClient
	if hc == nil {
		hc = defaultHTTPClient(cfg.protocol, cfg.connectTimeout)
	}
	hc = withOneWrite(hc)
	opts := []connect.ClientOption{
		connect.WithInterceptors(authInterceptor(cfg.token), timeoutInterceptor(cfg.requestTimeout)),
		connect.WithCodec(pageCodec{}), // pages decoded with fewer allocations
		connect.WithReadMaxBytes(maxAnswerBytes),
	}
	switch cfg.protocol {
	case ProtocolGRPC:
		opts = append(opts, connect.WithGRPC())
	case ProtocolGRPCWeb:
		opts = append(opts, connect.WithGRPCWeb())
	}
	return hc, opts
}

// defaultHTTPClient speaks HTTP/1.1 and HTTP/2; for gRPC only HTTP/2,
// unencrypted (h2c) for http:// servers. Connecting, the TLS handshake and
// waiting for the server to start answering each take at most timeout.
func defaultHTTPClient(p Protocol, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = timeout
	t.ResponseHeaderTimeout = timeout
	var protocols http.Protocols
	if p == ProtocolGRPC {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	protocols.SetHTTP2(true)
	t.Protocols = &protocols
	return &http.Client{Transport: t}
}

// BearerAuth returns a Connect interceptor that sends token as
// "Authorization: Bearer <token>" on unary calls and streams. The Client
// uses it; use it too for the services the Client does not wrap
// (AdminService, InsightsService, MediaService).
func BearerAuth(token string) connect.Interceptor { return authInterceptor(token) }

// authInterceptor sends the device token on unary calls and streams.
type authInterceptor string

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if a != "" {
			req.Header().Set("Authorization", "Bearer "+string(a))
		}
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if a != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(a))
		}
		return conn
	}
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// timeoutInterceptor bounds each unary call; d <= 0 disables it.
func timeoutInterceptor(d time.Duration) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if d <= 0 {
				return next(ctx, req)
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, req)
		}
	}
}

// withOneWrite returns a copy of hc whose transport sends a small
// request's headers and body in one write (oneWrite); hc is unchanged.
func withOneWrite(hc *http.Client) *http.Client {
	if _, ok := hc.Transport.(oneWrite); ok {
		return hc
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *hc
	c.Transport = oneWrite{next}
	return &c
}

// oneWriteMax is the largest request body oneWrite reads ahead: a unary
// call's message (a Push of a batch, a Pull's cursor), not a photo chunk.
const oneWriteMax = 64 << 10

// oneWrite hands the next transport a small request body that it knows
// is in memory. Over HTTP/1.1, net/http sends the headers of a request
// whose body is any other reader (Connect's is) in a write of their own
// before the body: two writes and two TCP segments per call, which the
// server reads in two system calls, often waiting for the second. With
// the body read ahead into a bytes.Reader, headers and body leave in one
// write. Bodies without a known length, or larger than oneWriteMax, pass
// as they are.
type oneWrite struct{ next http.RoundTripper }

func (o oneWrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > oneWriteMax {
		return o.next.RoundTrip(req)
	}
	b := make([]byte, req.ContentLength)
	_, err := io.ReadFull(req.Body, b)
	req.Body.Close() // RoundTrip closes the body, also on errors
	if err != nil {
		return nil, err
	}
	r := *req // RoundTrip must not change the caller's request
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return o.next.RoundTrip(&r)
}
