package daemon

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonServesTheWebAppAndCORS: --web-dir's app answers at / on the
// API port, and --cors-origins' origin gets its preflight answered.
func TestDaemonServesTheWebAppAndCORS(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.WebDir, "index.html"), []byte("<title>fieldsync app</title>"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.CORSOrigins = "https://app.example.com"
	d := startDaemon(t, cfg)
	res, err := http.Get(d.URL() + "/dashboard/phi")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "fieldsync app") || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /dashboard/phi = %d %q %v", res.StatusCode, body, res.Header)
	}
	req, _ := http.NewRequest(http.MethodOptions, d.URL()+"/fieldsync.v1.SyncService/Pull", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight = %d %v", res.StatusCode, res.Header)
	}
}

func TestBadWebFlagsAreRefusedNamingTheFlag(t *testing.T) {
	for flag, edit := range map[string]func(*Config){
		"cors-origins":    func(c *Config) { c.CORSOrigins = "*" },
		"web-dir":         func(c *Config) { c.WebDir = filepath.Join(t.TempDir(), "missing") },
		"trusted-proxies": func(c *Config) { c.TrustedProxies = "proxy.example.com" },
	} {
		cfg := testConfig(t)
		edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: Validate = %v", flag, err)
		}
	}
}
