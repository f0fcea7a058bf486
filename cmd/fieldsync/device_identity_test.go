package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceStoreRefusesAnotherTokenUntilReset: a visit written as one rep
// is never pushed as another who reuses the store; reset starts over,
// refusing while changes are unsynced unless --force.
func TestDeviceStoreRefusesAnotherTokenUntilReset(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	var rep2 string
	for _, u := range creds.Users {
		if u.Role == "rep" && u.UserID != rep.UserID {
			rep2 = u.DeviceToken
		}
	}
	db, srv := filepath.Join(t.TempDir(), "phone.db"), d.URL()
	device(t, db, srv, rep.DeviceToken, "visit", "create", "--customer=hospital-1", "--notes=as rep 1")

	var out, errOut bytes.Buffer
	args := []string{"device", "sync", "--db=" + db, "--server=" + srv, "--token=" + rep2}
	if code := run(context.Background(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "fieldsync device reset") {
		t.Fatalf("sync with another rep's token: exit %d\n%s", code, errOut.String())
	}
	cli(t, 1, "device", "reset", "--db="+db)
	if st := device(t, db, srv, rep.DeviceToken, "status"); st["outboxDepth"] != 1.0 {
		t.Fatalf("a refused reset lost the visit: %v", st)
	}
	cli(t, 0, "device", "reset", "--db="+db, "--force")
	if st := device(t, db, srv, rep2, "sync"); st["outboxDepth"] != 0.0 {
		t.Fatalf("after reset: %v", st)
	}
}

// TestAdminDevicesShowsLastSeen: a device's calls show in admin devices.
func TestAdminDevicesShowsLastSeen(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	device(t, filepath.Join(t.TempDir(), "phone.db"), d.URL(), rep.DeviceToken, "sync")
	list := cli(t, 0, "admin", "devices", "--server="+d.URL(), "--token="+creds.AdminToken, "--user="+rep.UserID)
	for _, dev := range list["devices"].([]any) {
		if m := dev.(map[string]any); m["id"] == rep.DeviceID && m["lastSeenTime"] != nil {
			return
		}
	}
	t.Fatalf("rep's device %s synced but shows no last-seen time: %v", rep.DeviceID, list)
}
