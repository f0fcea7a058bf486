package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestOnePortServesConnectGRPCAndGRPCWeb calls the same RPC with each
// protocol, over HTTP/1.1 and over HTTP/2 without TLS (h2c).
func TestOnePortServesConnectGRPCAndGRPCWeb(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	http2 := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	cases := map[string]struct {
		client *http.Client
		opt    []connect.ClientOption
	}{
		"connect http/1.1":  {http.DefaultClient, nil},
		"connect h2c":       {http2, nil},
		"grpc h2c":          {http2, []connect.ClientOption{connect.WithGRPC()}},
		"grpc-web http/1.1": {http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
		"connect json":      {http.DefaultClient, []connect.ClientOption{connect.WithProtoJSON()}},
	}
	for name, c := range cases {
		client := fieldsyncv1connect.NewIdentityServiceClient(c.client, e.d.URL(), append(c.opt, bearer(e.token("rep")))...)
		res, err := client.WhoAmI(context.Background(), connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if res.Msg.Role != fieldsyncv1.Role_ROLE_REP {
			t.Errorf("%s: %v", name, res.Msg)
		}
	}
}

func TestMetricsAreServedOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), true, "warn"
	e := startWith(t, cfg)
	if _, err := e.identity(e.token("rep")).WhoAmI(context.Background(), connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(e.d.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fieldsync_rpc_requests_total", "fieldsync.v1.IdentityService/WhoAmI", "go_goroutines"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	public, err := http.Get(e.d.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	public.Body.Close()
	if public.StatusCode != http.StatusNotFound {
		t.Errorf("public port /metrics: %s, want 404", public.Status)
	}
}
