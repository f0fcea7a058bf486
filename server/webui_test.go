package server_test

import (
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	web "github.com/fieldsync/fieldsync/clients/web"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// builtApp is a dist folder as `make web` leaves it.
func builtApp() fstest.MapFS {
	return fstest.MapFS{
		"index.html":               {Data: []byte("<!doctype html><title>app</title>")},
		"sw.js":                    {Data: []byte("self.addEventListener('fetch',()=>{})")},
		"manifest.webmanifest":     {Data: []byte(`{"name":"fieldsync"}`)},
		"icon.svg":                 {Data: []byte("<svg/>")},
		"assets/index-3f9a1c.js":   {Data: []byte("console.log(1)")},
		"assets/index-77b2e0.css":  {Data: []byte("body{}")},
		"assets/charts-0a1b2c.mjs": {Data: []byte("export{}")},
	}
}

func get(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestWebAppIsServedAsASinglePageApp: files with their types and caching,
// screens fall back to index.html, missing assets are 404, the API's paths
// are never answered with the app.
func TestWebAppIsServedAsASinglePageApp(t *testing.T) {
	t.Parallel()
	e := newEdgeServer(t, 0, false, func(c *server.Config) {
		c.Extra = map[string]http.Handler{"/": server.NewWebUI(builtApp(), "https://s3.example.com")}
	})
	u := e.srv.URL
	tests := []struct {
		path, wantType, wantCache, wantBody string
		want                                int
	}{
		{"/", "text/html; charset=utf-8", "no-cache", "<title>app</title>", 200},
		{"/index.html", "text/html; charset=utf-8", "no-cache", "<title>app</title>", 200},
		{"/customers/c-1/brief", "text/html; charset=utf-8", "no-cache", "<title>app</title>", 200},
		{"/dashboard", "text/html; charset=utf-8", "no-cache", "<title>app</title>", 200},
		{"/sw.js", "text/javascript; charset=utf-8", "no-cache", "addEventListener", 200},
		{"/manifest.webmanifest", "application/manifest+json", "no-cache", "fieldsync", 200},
		{"/icon.svg", "image/svg+xml", "no-cache", "<svg/>", 200},
		{"/assets/index-3f9a1c.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log", 200},
		{"/assets/index-77b2e0.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}", 200},
		{"/assets/charts-0a1b2c.mjs", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "export", 200},
		{"/assets/missing.js", "text/plain; charset=utf-8", "", "404", 404},
		{"/assets/", "text/plain; charset=utf-8", "", "404", 404},
		{"/favicon.ico", "text/plain; charset=utf-8", "", "404", 404},
		// The API's own paths: never the app.
		{"/r/abc", "text/plain; charset=utf-8", "", "404", 404},
		{"/metrics", "text/plain; charset=utf-8", "", "404", 404},
		{"/media/nope", "text/plain; charset=utf-8", "", "404", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, "GET", u+tt.path)
			if res.StatusCode != tt.want || res.Header.Get("Content-Type") != tt.wantType || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q %q, want %d %q containing %q", tt.path, res.StatusCode, res.Header.Get("Content-Type"), body, tt.want, tt.wantType, tt.wantBody)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
			}
			if tt.want == 200 {
				checkSecurityHeaders(t, res)
			}
		})
	}
	for _, p := range []string{"/fieldsync.v1.NoSuchService/Call", "/fieldsync.v1.SyncService/Nope", "/grpc.health.v1.Health/Nope", "/grpc.reflection.v1.ServerReflection/x"} {
		res, body := get(t, "GET", u+p)
		if res.StatusCode == 200 || strings.Contains(body, "<title>app") {
			t.Errorf("GET %s = %d %q: the app answered an API path", p, res.StatusCode, body)
		}
	}
	res, _ := get(t, "GET", u+"/sw.js")
	if got := res.Header.Get("Service-Worker-Allowed"); got != "/" {
		t.Errorf("sw.js Service-Worker-Allowed = %q, want /", got)
	}
}

func checkSecurityHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", res.Header.Get("X-Content-Type-Options"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self' https://s3.example.com", "img-src 'self' data: blob: https://s3.example.com", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("CSP %q allows script injection", csp)
	}
}

// TestWebAppLeavesTheAPIAlone: with the app at "/", RPCs over Connect,
// health checks and an RPC to an unknown procedure answer as before.
func TestWebAppLeavesTheAPIAlone(t *testing.T) {
	t.Parallel()
	e := newEdgeServer(t, 0, false, func(c *server.Config) {
		c.Extra = map[string]http.Handler{"/": server.NewWebUI(builtApp())}
	})
	ctx := context.Background()
	hc := grpchealth.NewClient(e.srv.Client(), e.srv.URL)
	if _, err := hc.Check(ctx, &grpchealth.CheckRequest{}); err != nil {
		t.Fatalf("health check: %v", err)
	}
	req := connect.NewRequest(&fieldsyncv1.PullRequest{})
	req.Header().Set("Authorization", "Bearer "+e.token("rep"))
	if _, err := e.sync().Pull(ctx, req); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	unknown := connect.NewClient[fieldsyncv1.PullRequest, fieldsyncv1.PullResponse](e.srv.Client(), e.srv.URL+"/fieldsync.v1.NoSuchService/Pull")
	ureq := connect.NewRequest(&fieldsyncv1.PullRequest{})
	ureq.Header().Set("Authorization", "Bearer "+e.token("rep"))
	if _, err := unknown.CallUnary(ctx, ureq); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("unknown procedure: %v, want Unimplemented", err)
	}
	_ = fieldsyncv1connect.SyncServiceName
}

// TestWebAppRefusesPathTraversal: no path leaves the app's folder, served
// from disk (--web-dir) or embedded.
func TestWebAppRefusesPathTraversal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	if err := os.MkdirAll(filepath.Join(dist, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("TOP SECRET"), 0o600))
	must(t, os.WriteFile(filepath.Join(dist, "index.html"), []byte("<title>app</title>"), 0o600))
	must(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(dist, "assets", "link.txt")))
	files, err := server.WebDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.NewWebUI(files))
	t.Cleanup(srv.Close)
	for _, p := range []string{"/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt",
		"/assets/..%2f..%2fsecret.txt", "/assets/link.txt", `/..\secret.txt`, "//secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt"} {
		res, body := get(t, "GET", srv.URL+p)
		if strings.Contains(body, "TOP SECRET") {
			t.Errorf("GET %s leaked the file outside dist: %d", p, res.StatusCode)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebAppHeadAndConditionalGet: HEAD answers the headers without a
// body; a revalidation with the ETag answers 304.
func TestWebAppHeadAndConditionalGet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(server.NewWebUI(builtApp()))
	t.Cleanup(srv.Close)
	for _, p := range []string{"/", "/sw.js", "/screen/deep", "/assets/index-3f9a1c.js"} {
		res, body := get(t, "HEAD", srv.URL+p)
		if res.StatusCode != 200 || body != "" || res.Header.Get("Content-Type") == "" || res.ContentLength <= 0 {
			t.Errorf("HEAD %s = %d %q len %d", p, res.StatusCode, body, res.ContentLength)
		}
	}
	res, _ := get(t, "HEAD", srv.URL+"/assets/missing.js")
	if res.StatusCode != 404 {
		t.Errorf("HEAD missing asset = %d, want 404", res.StatusCode)
	}
	res, _ = get(t, "GET", srv.URL+"/")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("index.html has no ETag")
	}
	res, body := get(t, "GET", srv.URL+"/", "If-None-Match", etag)
	if res.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("revalidation = %d %q, want 304", res.StatusCode, body)
	}
	res, _ = get(t, "POST", srv.URL+"/")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", res.StatusCode)
	}
}

// TestWebAppNotBuiltSaysHowToBuildIt: a fresh clone embeds no index.html;
// "/" and screens say to run make web, missing assets stay 404.
func TestWebAppNotBuiltSaysHowToBuildIt(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]fs.FS{"empty": fstest.MapFS{}, "embedded": web.Dist()} {
		if name == "embedded" {
			if _, err := files.Open("index.html"); err == nil {
				continue // the app is built in this checkout
			}
		}
		srv := httptest.NewServer(server.NewWebUI(files))
		t.Cleanup(srv.Close)
		for _, p := range []string{"/", "/dashboard"} {
			res, body := get(t, "GET", srv.URL+p)
			if res.StatusCode != 404 || !strings.Contains(body, "make web") || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("%s: GET %s = %d %q", name, p, res.StatusCode, body)
			}
		}
		if res, body := get(t, "GET", srv.URL+"/assets/x.js"); res.StatusCode != 404 || strings.Contains(body, "make web") {
			t.Errorf("%s: missing asset = %d %q", name, res.StatusCode, body)
		}
		if res, _ := get(t, "GET", srv.URL+"/.gitkeep"); res.StatusCode == 200 {
			t.Errorf("%s: .gitkeep is served", name)
		}
	}
}

// TestWebAppGzipsTextForClientsThatTakeIt: a large script is sent gzipped
// (with its own ETag and Vary: Accept-Encoding) to a client that takes
// gzip, plain to one that does not.
func TestWebAppGzipsTextForClientsThatTakeIt(t *testing.T) {
	t.Parallel()
	files := builtApp()
	script := strings.Repeat("export const answer = 42;\n", 400)
	files["assets/big-1a2b3c.js"] = &fstest.MapFile{Data: []byte(script)}
	srv := httptest.NewServer(server.NewWebUI(files))
	t.Cleanup(srv.Close)
	plain, body := get(t, "GET", srv.URL+"/assets/big-1a2b3c.js", "Accept-Encoding", "identity")
	if plain.Header.Get("Content-Encoding") != "" || body != script {
		t.Fatalf("plain: %v, %d bytes", plain.Header, len(body))
	}
	for _, accept := range []string{"gzip", "br, gzip;q=0.8", "*"} {
		res, body := get(t, "GET", srv.URL+"/assets/big-1a2b3c.js", "Accept-Encoding", accept)
		if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") ||
			res.Header.Get("ETag") == plain.Header.Get("ETag") || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Fatalf("%s: %v", accept, res.Header)
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); string(got) != script || len(body) >= len(script) {
			t.Errorf("%s: the gzipped script does not inflate to the file", accept)
		}
	}
	if res, body := get(t, "GET", srv.URL+"/assets/big-1a2b3c.js", "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" || body != script {
		t.Errorf("gzip;q=0: %v, %d bytes", res.Header, len(body))
	}
}
