package fieldsync

import (
	"context"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// newSyncClient builds the SyncService client of a configuration.
func newSyncClient(cfg *config) fieldsyncv1connect.SyncServiceClient {
	hc, opts := clientSetup(cfg)
	return fieldsyncv1connect.NewSyncServiceClient(hc, cfg.server, opts...)
}

// clientSetup is the HTTP client and Connect options every service client
// of a configuration shares: token, per-call timeout and protocol.
func clientSetup(cfg *config) (*http.Client, []connect.ClientOption) {
	hc := cfg.httpClient
	if hc == nil {
		hc = defaultHTTPClient(cfg.protocol, cfg.connectTimeout)
	}
	opts := []connect.ClientOption{connect.WithInterceptors(authInterceptor(cfg.token), timeoutInterceptor(cfg.requestTimeout))}
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
