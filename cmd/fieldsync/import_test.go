package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
)

func TestCLIImportLoadsHistoryReportsRejectsAndReRunsUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel, cfg.MetricsAddr = "127.0.0.1:0", dir, true, "warn", ""
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	creds, err := demo.Load(filepath.Join(dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	day := time.Now().UTC().AddDate(0, 0, -10).Format(time.DateOnly)
	var b strings.Builder
	b.WriteString("source_id,event_time,owner_user_id,customer_id,visit_time,status,kind,action_tags\n")
	for _, id := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		b.WriteString(id + "," + day + " 10:00," + rep.UserID + ",demo-ruijin," + day + " 09:00,submitted,routine,technical_demo;first_contact\n")
	}
	b.WriteString("v7," + day + " 10:00," + rep.UserID + ",demo-ruijin,yesterday,submitted,routine,\n")
	b.WriteString("v8," + day + " 10:00," + rep.UserID + ",," + day + " 09:00,submitted,routine,\n")
	file := filepath.Join(t.TempDir(), "visits.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", "--type", "visits", "--server", d.URL(), "--token", creds.IntegratorKey, "--file", file, "--batch", "3"}
	out := cli(t, 0, args...)
	if out["applied"] != 6.0 || out["rejected"] != 2.0 || out["calls"] != 3.0 {
		t.Fatalf("first import: %v", out)
	}
	report, err := os.ReadFile(file + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(report)), "\n")
	if len(lines) != 3 || lines[0] != "line,field,reason" || !strings.HasPrefix(lines[1], "8,visit_time,") || !strings.HasPrefix(lines[2], "9,customer_id,") {
		t.Errorf("reject report:\n%s", report)
	}
	if again := cli(t, 0, args...); again["unchanged"] != 6.0 || again["applied"] != 0.0 {
		t.Errorf("re-run: %v", again)
	}
	// The source changed a submitted visit's kind (frozen after submit):
	// v1 with new notes is applied without its kind, v2 is refused.
	changed := "source_id,event_time,owner_user_id,customer_id,visit_time,status,kind,action_tags,notes\n" +
		"v1," + day + " 10:00," + rep.UserID + ",demo-ruijin," + day + " 09:00,submitted,procurement,technical_demo;first_contact,fixed\n" +
		"v2," + day + " 10:00," + rep.UserID + ",demo-ruijin," + day + " 09:00,submitted,procurement,technical_demo;first_contact,\n"
	changedFile := filepath.Join(t.TempDir(), "changed.csv")
	if err := os.WriteFile(changedFile, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cli(t, 0, "import", "--type", "visits", "--server", d.URL(), "--token", creds.IntegratorKey, "--file", changedFile); got["applied"] != 1.0 || got["partly_applied"] != 1.0 || got["rejected"] != 1.0 {
		t.Errorf("import of changed frozen fields: %v, want v1 partly applied and v2 rejected", got)
	}
	if report, err = os.ReadFile(changedFile + ".rejects.csv"); err != nil {
		t.Fatal(err)
	}
	if lines = strings.Split(strings.TrimSpace(string(report)), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "2,kind,") || !strings.HasPrefix(lines[2], "3,kind,") ||
		!strings.Contains(lines[1], "frozen after submit") {
		t.Errorf("reject report of the changed rows:\n%s", report)
	}

	var stderr bytes.Buffer
	run(context.Background(), args, &bytes.Buffer{}, &stderr)
	if !strings.Contains(stderr.String(), "import [####################] 100% 8/8") {
		t.Errorf("no progress bar on stderr: %q", stderr.String())
	}

	rec := cli(t, 0, "phi", "recompute", "--server", d.URL(), "--operator-token-file", filepath.Join(dir, daemon.OperatorTokenFile),
		"--tenant", creds.TenantID, "--from", day, "--to", day)
	if rec["days"] != 1.0 {
		t.Errorf("phi recompute: %v", rec)
	}
}
