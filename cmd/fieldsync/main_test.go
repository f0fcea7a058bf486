package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/version"
)

// startServer runs fieldsyncd with the demo organisation for CLI tests.
func startServer(t *testing.T) (*daemon.Daemon, *demo.Credentials) {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", t.TempDir(), true, "warn"
	cfg.MetricsAddr = "" // daemons run side by side
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	return d, creds
}

// cli runs the tool in-process and decodes its JSON output.
func cli(t *testing.T, wantCode int, args ...string) map[string]any {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != wantCode {
		t.Fatalf("fieldsync %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errOut.String())
	}
	var m map[string]any
	if wantCode == 0 {
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out.String())
		}
	}
	return m
}

func TestCLIEnrollsADeviceAndSaysWhoItIs(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	srv := "--server=" + d.URL()
	admin := "--token=" + creds.AdminToken
	user := cli(t, 0, "admin", "user-create", srv, admin, "--name=New Rep", "--role=rep", "--region="+creds.RegionID)["user"].(map[string]any)
	code := cli(t, 0, "admin", "enroll-code", srv, admin, "--user="+user["id"].(string))["enrollmentCode"].(string)
	enrolled := cli(t, 0, "enroll", srv, "--code="+code, "--name=test phone")
	token := enrolled["deviceToken"].(string)
	who := cli(t, 0, "whoami", srv, "--token="+token)
	if who["userName"] != "New Rep" || who["role"] != "ROLE_REP" {
		t.Fatalf("whoami = %v", who)
	}
	who = cli(t, 0, "whoami", srv, "--token="+token, "--grpc")
	if who["deviceId"] != enrolled["deviceId"] {
		t.Fatalf("whoami over gRPC = %v", who)
	}
	cli(t, 1, "enroll", srv, "--code="+code) // one-time: a second use fails
	cli(t, 0, "admin", "device-revoke", srv, admin, "--device="+enrolled["deviceId"].(string))
	cli(t, 1, "whoami", srv, "--token="+token)
}

func TestCLIAdminCommandsNeedAnAdminToken(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	cli(t, 1, "admin", "users", "--server="+d.URL(), "--token="+rep.DeviceToken)
	users := cli(t, 0, "admin", "users", "--server="+d.URL(), "--token="+creds.AdminToken)
	if n := len(users["users"].([]any)); n != 8 {
		t.Fatalf("demo has %d users, want 8", n)
	}
	keys := cli(t, 0, "admin", "key-create", "--server="+d.URL(), "--token="+creds.AdminToken, "--name=bi", "--perms=records:read")
	if !strings.HasPrefix(keys["secret"].(string), "fsk_") {
		t.Fatalf("key-create = %v", keys)
	}
	cli(t, 2, "admin", "no-such-thing")
	cli(t, 2)
}

func TestCLIPrintsTheInsightsConfigAsJSON(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	srv, admin := "--server="+d.URL(), "--token="+creds.AdminToken
	got := cli(t, 0, "admin", "insights-config", srv, admin)
	if _, ok := got["rules"].(map[string]any); !ok {
		t.Fatalf("insights-config printed %v, want the configuration's own JSON", got)
	}
	file := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(file, []byte(`{"rules":{"conflict_window":"48h"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	set := cli(t, 0, "admin", "insights-config", srv, admin, "--set="+file)
	if w, _ := set["rules"].(map[string]any)["conflict_window"].(string); !strings.HasPrefix(w, "48h") {
		t.Fatalf("after --set, conflict_window = %v", w)
	}
}

func TestCLIVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{arg}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errOut.String())
		}
		if got := out.String(); !strings.HasPrefix(got, "fieldsync "+version.String()+" (go") {
			t.Fatalf("%s printed %q", arg, got)
		}
	}
}

func TestCLIHelpHidesTheTokenFromTheEnvironment(t *testing.T) {
	t.Setenv("FIELDSYNC_TOKEN", "fsd_very_secret_token")
	for _, args := range [][]string{{"whoami", "-h"}, {"admin", "users", "-h"}, {"device", "list", "-h"}, {"enroll", "--bogus"}} {
		var out, errOut bytes.Buffer
		run(context.Background(), args, &out, &errOut)
		if help := errOut.String(); !strings.Contains(help, "-token") || strings.Contains(help, "very_secret") {
			t.Fatalf("fieldsync %s:\n%s", strings.Join(args, " "), help)
		}
	}
}
