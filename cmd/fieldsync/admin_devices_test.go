package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestDevicesTableShowsSyncStatus: --table prints each device's last
// contact and reported status, ages as of now, "-" for what is unknown.
func TestDevicesTableShowsSyncStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }
	res := &fieldsyncv1.ListDevicesResponse{Devices: []*fieldsyncv1.Device{
		{Id: "d1", UserId: "u1", UserName: "Li Wei", Name: "phone", LastSeenTime: ts(90 * time.Second), StatusTime: ts(2 * time.Minute),
			OldestUnsyncedTime: ts(26*time.Hour + 2*time.Minute),
			Status: &fieldsyncv1.DeviceStatus{OutboxDepth: 12, PhotosWaiting: 3, AppVersion: "2.4.1", SdkVersion: "v1.3.0",
				LastSyncTime: ts(3*time.Hour + 20*time.Minute), OldestUnsyncedAge: durationpb.New(26 * time.Hour)}},
		{Id: "d2", UserId: "u2", Name: "tablet", RevokeTime: ts(time.Hour)},
	}}
	var b bytes.Buffer
	if err := printDevices(&b, res, now); err != nil {
		t.Fatal(err)
	}
	want := `DEVICE  USER         NAME    LAST SEEN  LAST SYNC  OUTBOX  OLDEST UNSYNCED  PHOTOS WAITING  APP    SDK     REVOKED
d1      Li Wei (u1)  phone   1m ago     3h20m ago  12      1d2h ago         3               2.4.1  v1.3.0  
d2      u2           tablet  -          -          -       -                -               -      -       revoked
`
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestCLIAdminDevicesShowsWhatADeviceReported: a device's status sent
// with a Pull is in `admin devices` (JSON) and its --table.
func TestCLIAdminDevicesShowsWhatADeviceReported(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	sc := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL())
	req := connect.NewRequest(&fieldsyncv1.PullRequest{Status: &fieldsyncv1.DeviceStatus{
		OutboxDepth: 5, OldestUnsyncedAge: durationpb.New(50 * time.Hour), PhotosWaiting: 2, AppVersion: "2.4.1", SdkVersion: "v9.9.9"}})
	req.Header().Set("Authorization", "Bearer "+rep.DeviceToken)
	if _, err := sc.Pull(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	srv, admin := "--server="+d.URL(), "--token="+creds.AdminToken
	var mine map[string]any
	for _, dev := range cli(t, 0, "admin", "devices", srv, admin)["devices"].([]any) {
		if m := dev.(map[string]any); m["id"] == rep.DeviceID {
			mine = m
		}
	}
	st, _ := mine["status"].(map[string]any)
	if st["outboxDepth"] != float64(5) || st["appVersion"] != "2.4.1" || mine["oldestUnsyncedTime"] == nil {
		t.Fatalf("device in JSON = %v", mine)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"admin", "devices", srv, admin, "--table"}, &out, &errOut); code != 0 {
		t.Fatalf("admin devices --table: exit %d: %s", code, errOut.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, rep.DeviceID) {
			if f := strings.Fields(line); !strings.Contains(line, " 2d2h ago ") || f[len(f)-1] != "v9.9.9" || f[len(f)-2] != "2.4.1" {
				t.Fatalf("table line: %q", line)
			}
			return
		}
	}
	t.Fatalf("the rep's device is not in the table:\n%s", out.String())
}
