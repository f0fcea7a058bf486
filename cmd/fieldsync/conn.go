package main

import (
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// conn holds the flags every remote command shares.
type conn struct {
	server string
	token  string
	grpc   bool
}

func (c *conn) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), "server base URL (env FIELDSYNC_SERVER)")
	fs.StringVar(&c.token, "token", os.Getenv("FIELDSYNC_TOKEN"), "bearer token: device token or API key (env FIELDSYNC_TOKEN)")
	fs.BoolVar(&c.grpc, "grpc", false, "use the gRPC protocol instead of Connect")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (c *conn) needToken() error {
	if c.token == "" {
		return errors.New("no token: pass --token or set FIELDSYNC_TOKEN")
	}
	return nil
}

func (c *conn) options() []connect.ClientOption {
	opts := []connect.ClientOption{connect.WithInterceptors(fieldsync.BearerAuth(c.token))}
	if c.grpc {
		opts = append(opts, connect.WithGRPC())
	}
	return opts
}

func (c *conn) baseURL() string { return strings.TrimSuffix(c.server, "/") }

func (c *conn) identity() fieldsyncv1connect.IdentityServiceClient {
	return fieldsyncv1connect.NewIdentityServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
}

func (c *conn) admin() fieldsyncv1connect.AdminServiceClient {
	return fieldsyncv1connect.NewAdminServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
}

// httpClient returns a client that speaks h2c when gRPC needs HTTP/2, and
// fails within seconds when the server is down or never answers (the
// SDK's connect timeout), instead of hanging.
func httpClient(h2c bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: fieldsync.DefaultConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = fieldsync.DefaultConnectTimeout
	t.ResponseHeaderTimeout = fieldsync.DefaultConnectTimeout
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
	}
	return &http.Client{Transport: t}
}
