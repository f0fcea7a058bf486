package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIIntegrateStockLoadsACSVAndReplaysIt(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	var b strings.Builder
	b.WriteString("terminal_id,product_id,region_id,on_hand,safety_stock,currency\n")
	for i := range 12 {
		b.WriteString("h1,p" + string(rune('a'+i)) + "," + creds.RegionID + ",40,5,EUR\n")
	}
	b.WriteString("h1,zz,nowhere,1,1,EUR\n")
	file := filepath.Join(t.TempDir(), "stock.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"integrate", "stock", "--server", d.URL(), "--token", creds.IntegratorKey, "--file", file, "--batch", "5"}
	out := cli(t, 0, args...)
	if out["applied"] != 12.0 || out["rejected"] != 1.0 || out["calls"] != 3.0 {
		t.Fatalf("first load: %v", out)
	}
	rej := out["rejections"].([]any)[0].(map[string]any)
	if rej["line"] != 14.0 || !strings.Contains(rej["reason"].(string), "region_id") {
		t.Errorf("rejection: %v", rej)
	}
	if again := cli(t, 0, args...); again["replayed_calls"] != 3.0 {
		t.Errorf("re-run of the same file: %v", again)
	}
	var stderr bytes.Buffer
	run(context.Background(), args, &bytes.Buffer{}, &stderr)
	if !strings.Contains(stderr.String(), "stock [####################] 100% 13/13") {
		t.Errorf("no progress bar on stderr: %q", stderr.String())
	}
	if code := run(context.Background(), []string{"integrate", "stock", "--server", d.URL(), "--token", creds.IntegratorKey, "--file", writeBad(t)}, &bytes.Buffer{}, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), "line 2, column on_hand") {
		t.Errorf("bad CSV: exit %d, %s", code, stderr.String())
	}
}

func writeBad(t *testing.T) string {
	file := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(file, []byte("terminal_id,product_id,on_hand\nh1,p1,lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
