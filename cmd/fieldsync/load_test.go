package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func TestLoadFlagsAreValidated(t *testing.T) {
	t.Setenv("FIELDSYNC_TOKEN", "")
	ok := []string{"--token=fsd_x", "--server=http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for valid flags
	}{
		{nil, ""},
		{[]string{"--mix=push5-pull", "--photos=0", "--offline=0", "--concurrency=8"}, ""},
		{[]string{"--mix=visit=3,pull=1", "--photos=2MiB", "--devices=1000"}, ""},
		{[]string{"--devices=0"}, "--devices"},
		{[]string{"--devices-per-user=0"}, "--devices-per-user"},
		{[]string{"--duration=0s"}, "--duration"},
		{[]string{"--mix=bogus"}, "--mix"},
		{[]string{"--mix=visit=x"}, "--mix"},
		{[]string{"--mix=visit=1,visit=2"}, "--mix"},
		{[]string{"--mix=visit=0"}, "--mix"},
		{[]string{"--offline=1"}, "--offline"},
		{[]string{"--offline=0.5", "--offline-period=0s"}, "--offline-period"},
		{[]string{"--photos=12 bananas"}, "--photos"},
		{[]string{"--photos=100MiB"}, "--photos"},
		{[]string{"--concurrency=-1"}, "--concurrency"},
		{[]string{"--watch-for=0s"}, "--watch-for"},
		{[]string{"--rounds=2"}, "--rounds"},
		{[]string{"--device-timeout=0s"}, "--device-timeout"},
		{[]string{"--mix=push5-pull", "--rounds=-1"}, "--rounds"},
		{[]string{"--mix=push5-pull", "--rounds=3"}, ""},
		{[]string{"--server-pid=1", "--data-dir=/tmp"}, "--data-dir"},
		{[]string{"--server=127.0.0.1:8080"}, "--server"},
		{[]string{"--token="}, "--token"},
		{[]string{"extra"}, "no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseLoadFlags(append(append([]string{}, ok...), tc.args...), &stderr)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestLoadRunPushesEveryRecordItCounts(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	sum := runLoadJSON(t, "--server="+d.URL(), "--token="+creds.AdminToken, "--devices=20", "--duration=3s",
		"--think=100ms", "--offline=0.3", "--offline-period=1s", "--watch-for=1s", "--photos=4KiB",
		"--mix=visit=30,surgery=20,edit=20,pull=20,watch=10", "--server-pid="+strconv.Itoa(os.Getpid()), "--cleanup")
	checkNoErrors(t, sum)
	if sum.Records.Visits == 0 || sum.Records.SurgerySupports == 0 || sum.Records.Edits == 0 || sum.Records.Photos == 0 {
		t.Errorf("the mix did too little: %+v", sum.Records)
	}
	if got := serverRecords(t, d.URL(), creds.AdminToken, sum.Region); got != sum.Records.Created {
		t.Errorf("the server holds %d records in region %s; the summary says %d were created: %+v", got, sum.Region, sum.Records.Created, sum.Records)
	}
	if sum.RSS.PID != os.Getpid() || sum.RSS.PeakMB <= 0 {
		t.Errorf("server RSS not read: %+v", sum.RSS)
	}
	if sum.RSS.RunSec < 3 || sum.RSS.ServerCPUSec <= 0 || sum.RSS.LoadCPUSec <= 0 {
		t.Errorf("CPU during the 3 s run not read: %+v", sum.RSS)
	}
	if n := revokedDevices(t, d.URL(), creds.AdminToken, sum.Run); sum.Revoked != 20 || n != 20 {
		t.Errorf("--cleanup revoked %d devices (the server lists %d revoked), want 20", sum.Revoked, n)
	}
}

func TestLoadPush5PullPushesFiveVisitsPerDevice(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	sum := runLoadJSON(t, "--server="+d.URL(), "--token="+creds.AdminToken, "--devices=10", "--devices-per-user=1",
		"--rounds=1", "--mix=push5-pull")
	checkNoErrors(t, sum)
	if sum.Rounds != 1 || sum.Records.Visits != 50 || sum.Records.Customers != 10 {
		t.Errorf("push5-pull: %d rounds, %+v; want 1 round of 50 visits by 10 users", sum.Rounds, sum.Records)
	}
	if got := serverRecords(t, d.URL(), creds.AdminToken, sum.Region); got != 60 {
		t.Errorf("the server holds %d records in region %s, want 60", got, sum.Region)
	}
	// Each sync is timed from its own start and from the barrier's
	// release, which comes first: the second is never the shorter.
	byName := map[string]rpcRow{}
	for _, r := range sum.Actions {
		byName[r.Name] = r
	}
	own, all := byName["sync"], byName[actSyncFromRelease]
	if own.Count != 10 || all.Count != 10 || all.MaxMs < own.MaxMs {
		t.Errorf("sync %+v, sync from release %+v: want 10 of each, the second no shorter", own, all)
	}
}

func TestLoadWaitsOutTheServersRateLimit(t *testing.T) {
	t.Parallel()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel, cfg.MetricsAddr = "127.0.0.1:0", t.TempDir(), true, "warn", ""
	// The admin's setup makes about 37 calls one after another: even on a
	// machine so loaded that they go out at a few per second, two within
	// half a second meet a refusal.
	cfg.RateLimit, cfg.RateBurst = 2, 1
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := runLoadJSON(t, "--server="+d.URL(), "--token="+creds.AdminToken, "--devices=6", "--rounds=1", "--mix=push5-pull")
	if sum.Setup.RateLimited == 0 || sum.Setup.Errors != int(sum.Setup.RateLimited) {
		t.Errorf("setup: %+v; want ResourceExhausted answers and no other error", sum.Setup)
	}
	if len(sum.ActionErrors) > 0 || sum.State.OutboxLeft > 0 {
		t.Errorf("actions failed: %v, outbox left %d", sum.ActionErrors, sum.State.OutboxLeft)
	}
	if got := serverRecords(t, d.URL(), creds.AdminToken, sum.Region); got != sum.Records.Created || got != 33 {
		t.Errorf("the server holds %d records, the summary says %d were created; want 33 (3 customers, 30 visits)", got, sum.Records.Created)
	}
}

// runLoadJSON runs `fieldsync load --json` and decodes its summary.
func runLoadJSON(t *testing.T, args ...string) loadSummary {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--device-timeout") }) {
		// These tests check what the generator counts, not how fast the
		// server answers: under -race on a loaded CI machine an answer
		// may take longer than the SDK's 10 s, which would count as an
		// error here.
		args = append(args, "--device-timeout=1m")
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"load", "--json"}, args...), &out, &errOut); code != 0 {
		t.Fatalf("fieldsync load: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	var sum loadSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if !strings.Contains(errOut.String(), "setup [") {
		t.Errorf("no progress bar on stderr: %q", errOut.String())
	}
	return sum
}

// checkNoErrors fails the test when any call or device went wrong.
func checkNoErrors(t *testing.T, sum loadSummary) {
	t.Helper()
	if len(sum.ErrorsByCode)+len(sum.ActionErrors) > 0 || sum.Setup.Errors > 0 || sum.Drain.Errors > 0 {
		t.Errorf("errors: run %v (actions %v), setup %v, drain %v", sum.ErrorsByCode, sum.ActionErrors, sum.Setup.Codes, sum.Drain.Codes)
	}
	for _, r := range append(sum.RPCs, sum.Actions...) {
		if r.Errors > 0 {
			t.Errorf("%s: %d errors", r.Name, r.Errors)
		}
	}
	if s := sum.State; s.OutboxLeft+s.Rejections+s.PhotosPending+s.PhotosFailed != 0 {
		t.Errorf("after the drain: %+v, want nothing left, refused or failed", s)
	}
}

// serverRecords counts the records of the region as an admin device
// pulls them: every record type that has a region_id.
func serverRecords(t *testing.T, server, adminToken, region string) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := fieldsync.Open(ctx, filepath.Join(t.TempDir(), "admin.db"), fieldsync.WithServer(server), fieldsync.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, typ := range fieldsync.RecordTypes() {
		list, err := c.List(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if regionOf(r.Value) == region {
				n++
			}
		}
	}
	return n
}

func regionOf(m proto.Message) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name("region_id"))
	if fd == nil {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

// revokedDevices counts the revoked devices of a load run.
func revokedDevices(t *testing.T, server, adminToken, run string) int {
	t.Helper()
	a := fieldsyncv1connect.NewAdminServiceClient(httpClient(false), server, connect.WithInterceptors(fieldsync.BearerAuth(adminToken)))
	res, err := a.ListDevices(context.Background(), connect.NewRequest(&fieldsyncv1.ListDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range res.Msg.GetDevices() {
		if strings.HasPrefix(d.GetName(), "fieldsync-load "+run+" #") && d.GetRevokeTime() != nil {
			n++
		}
	}
	return n
}
