package daemon

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/demo"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// testConfig is a daemon on a random port over a new temp dir.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", t.TempDir(), "error"
	cfg.MetricsAddr = "" // daemons run side by side
	return cfg
}

// startDaemon starts cfg and closes it when the test ends.
func startDaemon(t *testing.T, cfg Config) *Daemon {
	t.Helper()
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestASecondDaemonOnTheDataDirExitsNamingTheHolder(t *testing.T) {
	cfg := testConfig(t)
	first := startDaemon(t, cfg)
	url, err := os.ReadFile(filepath.Join(cfg.DataDir, NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), cfg)
	if !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second start: %v, want ErrDataDirLocked naming pid %d", err, os.Getpid())
	}
	if again, _ := os.ReadFile(filepath.Join(cfg.DataDir, NATSURLFile)); !bytes.Equal(again, url) {
		t.Fatalf("the refused daemon rewrote %s: %q, was %q", NATSURLFile, again, url)
	}
	first.Close()
	startDaemon(t, cfg) // the lock goes with the daemon
}

func TestAConsumersOnlyDaemonSharesTheDataDirButNotWithAnother(t *testing.T) {
	cfg := testConfig(t)
	cfg.Consumers = false
	startDaemon(t, cfg)
	url, err := os.ReadFile(filepath.Join(cfg.DataDir, NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	ccfg := DefaultConfig()
	ccfg.DataDir, ccfg.LogLevel, ccfg.Serve, ccfg.NATSURL = cfg.DataDir, "error", false, strings.TrimSpace(string(url))
	ccfg.MetricsAddr = ""
	startDaemon(t, ccfg)
	if _, err := Start(context.Background(), ccfg); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second consumers-only daemon: %v, want ErrDataDirLocked", err)
	}
	ccfg.NATSURL = "" // with its own embedded NATS it would own the dir like the API
	if _, err := Start(context.Background(), ccfg); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("consumers-only daemon with embedded NATS: %v, want ErrDataDirLocked", err)
	}
}

func TestEverythingUnderTheDataDirIsOwnerOnly(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo = true
	old := filepath.Join(cfg.DataDir, "old")
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "notes"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, cfg)
	err := filepath.WalkDir(cfg.DataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := fileMode
		if e.IsDir() {
			want = dirMode
		}
		if info.Mode().Perm()&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fieldsync.db", "fieldsync.db-wal", "nats", "photos", APILockFile} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, name)); err != nil {
			t.Errorf("expected %s under the data dir: %v", name, err)
		}
	}
}

// TestHelpNeverPrintsSecrets sets every secret-bearing flag from the
// environment: help names the variable but never prints its value, and the
// value is still used.
func TestHelpNeverPrintsSecrets(t *testing.T) {
	secrets := map[string]string{
		"s3-secret-key": "very-secret-s3-key",
		"s3-access-key": "AKIDEXAMPLE",
		"nats-url":      "nats://svc:nats-pass@nats.internal:4222",
		"nats-creds":    "/etc/fieldsync/tenant-nats.creds",
	}
	for name, v := range secrets {
		t.Setenv(EnvName(name), v)
	}
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("fieldsyncd", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	cfg.RegisterFlags(fs)
	fs.PrintDefaults()
	for name, v := range secrets {
		if strings.Contains(out.String(), v) {
			t.Errorf("help prints --%s:\n%s", name, out.String())
		}
		if !strings.Contains(out.String(), EnvName(name)) {
			t.Errorf("help does not say --%s comes from %s", name, EnvName(name))
		}
	}
	got := []string{cfg.S3SecretKey, cfg.S3AccessKey, cfg.NATSURL, cfg.NATSCreds}
	want := []string{secrets["s3-secret-key"], secrets["s3-access-key"], secrets["nats-url"], secrets["nats-creds"]}
	if !slices.Equal(got, want) {
		t.Fatalf("the environment's values are not used: %q", got)
	}
}

func TestRestartingWithDemoKeepsEditsToDemoRecords(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.Demo = true
	d := startDaemon(t, cfg)
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := &fieldsyncv1.Customer{Address: "moved: 1 New Rd, Shanghai"}
	if changed, err := d.Engine().ServerWrite(ctx, creds.TenantID, "fieldsync.v1.Customer", "demo-ruijin", edit, []string{"address"}); err != nil || !changed {
		t.Fatalf("edit: changed=%v err=%v", changed, err)
	}
	before, err := d.Store().GetRecords(ctx, creds.TenantID, []string{"demo-ruijin"})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = startDaemon(t, cfg)
	after, err := d.Store().GetRecords(ctx, creds.TenantID, []string{"demo-ruijin"})
	if err != nil {
		t.Fatal(err)
	}
	if b, a := before["demo-ruijin"], after["demo-ruijin"]; a == nil || a.Version != b.Version {
		t.Fatalf("restart with --demo rewrote the edited record: version %d before, %+v after", b.Version, a)
	}
	all := syncengine.Filter{TenantID: creds.TenantID, All: true}.Select(syncengine.DefaultRegistry())
	changes, err := d.Store().ScanChanges(ctx, all, before["demo-ruijin"].Version, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The consumers may raise alerts from the demo data (A2: stock below
	// safety) at any time after a start; those are not the seed's writes.
	var seeded []syncengine.ChangeRow
	for _, c := range changes.Rows {
		if c.Type != "fieldsync.v1.Alert" {
			seeded = append(seeded, c)
		}
	}
	if len(seeded) != 0 {
		t.Fatalf("restart with --demo changed %d records: %+v", len(seeded), seeded)
	}
}
