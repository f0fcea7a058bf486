package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

const appOrigin = "https://app.example.com"

// corsServer is the whole API behind CORS for appOrigin, with a rate
// limit of one request a second so a preflight charged to it would fail;
// its srv is replaced by one serving the wrapped handler.
func corsServer(t *testing.T) *edgeServer {
	t.Helper()
	e := newEdgeServer(t, 0, false, withLimits(server.Limits{Rate: 1, Burst: 1}))
	origins, err := server.ParseCORSOrigins(appOrigin + ", http://localhost:5173")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.NewCORS(origins, e.srv.Config.Handler))
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

func preflight(t *testing.T, url, origin, method, headers string) *http.Response {
	t.Helper()
	res, _ := get(t, http.MethodOptions, url, "Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
	return res
}

// TestCORSPreflightForConnectAndGRPCWeb: an allowed origin's preflights
// (Connect POST and GET, gRPC-Web) are answered with what the browser
// needs, unauthenticated and never rate-limited; another origin's get no
// CORS headers.
func TestCORSPreflightForConnectAndGRPCWeb(t *testing.T) {
	t.Parallel()
	e := corsServer(t)
	pull := e.srv.URL + fieldsyncv1connect.SyncServicePullProcedure
	cases := []struct{ method, headers string }{
		{"POST", "authorization,content-type,connect-protocol-version,connect-timeout-ms"},
		{"GET", "authorization,connect-protocol-version"},
		{"POST", "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout"},
	}
	for i := range 5 { // more than the rate limit's burst
		c := cases[i%len(cases)]
		res := preflight(t, pull, appOrigin, c.method, c.headers)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight %d: %d", i, res.StatusCode)
		}
		h := res.Header
		if h.Get("Access-Control-Allow-Origin") != appOrigin || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("Allow-Origin %q, Allow-Credentials %q", h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), c.method) {
			t.Errorf("Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), c.method)
		}
		allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		for _, want := range strings.Split(c.headers, ",") {
			if !strings.Contains(allowed, want) {
				t.Errorf("Allow-Headers %q lacks %s", allowed, want)
			}
		}
		if h.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("Max-Age %q, Vary %q", h.Get("Access-Control-Max-Age"), h.Values("Vary"))
		}
	}
	res := preflight(t, pull, "https://evil.example.com", "POST", "authorization,content-type")
	if res.StatusCode == http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("a disallowed origin's preflight = %d %v", res.StatusCode, res.Header)
	}
	if res := preflight(t, pull, "null", "POST", "content-type"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("origin null allowed")
	}
}

// TestCORSActualCallsExposeTheHeadersClientsRead: calls from an allowed
// origin, answered or refused, carry Allow-Origin and Expose-Headers (a
// browser hides an error's code otherwise); a disallowed origin's carry none.
func TestCORSActualCallsExposeTheHeadersClientsRead(t *testing.T) {
	t.Parallel()
	e := corsServer(t)
	ctx := context.Background()
	withOrigin := func(origin, token string) connect.UnaryInterceptorFunc {
		return func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Origin", origin)
				if token != "" {
					req.Header().Set("Authorization", "Bearer "+token)
				}
				return next(ctx, req)
			}
		}
	}
	client := func(origin, token string) fieldsyncv1connect.SyncServiceClient {
		return fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(withOrigin(origin, token)))
	}
	res, err := client(appOrigin, e.token("rep")).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if res.Header().Get("Access-Control-Allow-Origin") != appOrigin || !strings.Contains(res.Header().Get("Access-Control-Expose-Headers"), "Grpc-Status") {
		t.Errorf("answered call: %v", res.Header())
	}
	_, err = client(appOrigin, "").Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok || ce.Code() != connect.CodeUnauthenticated || ce.Meta().Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("refused call: %v %v", err, ce.Meta())
	}
	_, err = client("https://evil.example.com", "").Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if ce, ok := errors.AsType[*connect.Error](err); !ok || ce.Meta().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin's call: %v", err)
	}
}

// TestCORSPreflightReadsNoBody: the preflight is answered without
// touching the request body.
func TestCORSPreflightReadsNoBody(t *testing.T) {
	t.Parallel()
	h := server.NewCORS([]string{appOrigin}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the preflight reached the API")
	}))
	req := httptest.NewRequest(http.MethodOptions, "/fieldsync.v1.SyncService/Pull", explodingBody{t})
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Errorf("preflight = %d", rec.Code)
	}
}

type explodingBody struct{ t *testing.T }

func (b explodingBody) Read([]byte) (int, error) {
	b.t.Error("the preflight's body was read")
	return 0, errors.New("no")
}

// TestCORSOriginsAreExact: the flag takes exact origins, never a wildcard
// or a URL with a path; none switches CORS off.
func TestCORSOriginsAreExact(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"*", "app.example.com", "https://app.example.com/", "https://app.example.com/x", "ftp://x", "https://APP.example.com", "https://u@x.com"} {
		if _, err := server.ParseCORSOrigins(bad); err == nil || !strings.Contains(err.Error(), "cors-origins") {
			t.Errorf("ParseCORSOrigins(%q) = %v, want an error naming cors-origins", bad, err)
		}
	}
	got, err := server.ParseCORSOrigins(" https://a.example.com , http://localhost:5173,")
	if err != nil || len(got) != 2 || got[0] != "https://a.example.com" {
		t.Errorf("ParseCORSOrigins = %v, %v", got, err)
	}
	next := http.NotFoundHandler()
	if h := server.NewCORS(nil, next); h == nil {
		t.Error("NewCORS(nil) = nil")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodOptions, "/", nil)
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	server.NewCORS(nil, next).ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS is on without origins")
	}
}

// TestCORSAllowsTheRawChunkRoute: an allowed origin's page may PUT a raw
// chunk (its preflight allows PUT and Fieldsync-Crc32c) and read the
// answer's Fieldsync-Offset; another origin's preflight is refused and
// its PUT carries no CORS headers, so the browser keeps the answer from it.
func TestCORSAllowsTheRawChunkRoute(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	srv := httptest.NewServer(server.NewCORS([]string{appOrigin}, m.srv.Config.Handler))
	t.Cleanup(srv.Close)
	m.srv = srv
	c := m.client("rep", false, nil)
	data := photostest.JPEG(100_000, 71)
	u := create(t, c, data)
	route := srv.URL + server.ChunkPutPath + u.UploadId + "?offset=0"

	res := preflight(t, route, appOrigin, "PUT", "authorization,content-type,fieldsync-crc32c")
	h := res.Header
	if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "fieldsync-crc32c") {
		t.Fatalf("preflight of a raw chunk = %d %v", res.StatusCode, h)
	}
	res = preflight(t, route, "https://evil.example.com", "PUT", "authorization,fieldsync-crc32c")
	if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("a disallowed origin's preflight of a raw chunk = %d %v", res.StatusCode, res.Header)
	}

	put := func(origin string, off int64, part []byte) *http.Response {
		t.Helper()
		req := rawChunk{token: m.token("rep"), id: u.UploadId, off: off, data: part}.request(t, srv.URL)
		req.Header.Set("Origin", origin)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res = put(appOrigin, 0, data[:50_000])
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), server.OffsetHeader) || res.Header.Get(server.OffsetHeader) != "50000" {
		t.Fatalf("an allowed origin's raw chunk = %d %v", res.StatusCode, res.Header)
	}
	res = put("https://evil.example.com", 50_000, data[50_000:])
	if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Expose-Headers") != "" {
		t.Fatalf("a disallowed origin's raw chunk carries CORS headers: %v", res.Header)
	}
}
