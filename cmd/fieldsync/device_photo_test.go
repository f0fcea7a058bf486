package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/photos/photostest"
)

func TestDevicePhotoAddShowsProgressAndEndsAvailable(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	dir := t.TempDir()
	db, file := filepath.Join(dir, "rep.db"), filepath.Join(dir, "pre-op.jpg")
	data := photostest.JPEG(1<<20+300<<10, 1) // 1.3 MiB: six chunks
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"device", "photo", "add", "ss-1", "pre_op_photo", file, "--type=SurgerySupport",
		"--db=" + db, "--server=" + d.URL(), "--token=" + rep.DeviceToken}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("photo add: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	key := photostest.Key(data)
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) < 3 || lines[len(lines)-1] != key[:8]+" [####################] 100% 1.3/1.3 MiB" || strings.Contains(errOut.String(), "\r") {
		t.Fatalf("progress on a non-terminal stderr:\n%s", errOut.String())
	}
	var photo map[string]any
	if err := json.Unmarshal(out.Bytes(), &photo); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if photo["sha256"] != key || photo["state"] != "done" || photo["serverState"] != "available" || photo["recordId"] != "ss-1" {
		t.Fatalf("photo add printed %v", photo)
	}

	queue := device(t, db, d.URL(), rep.DeviceToken, "photos")["photos"].([]any)
	if len(queue) != 1 || queue[0].(map[string]any)["state"] != "done" || queue[0].(map[string]any)["size"] != float64(len(data)) {
		t.Fatalf("photos: %v", queue)
	}
	rec := records(t, device(t, db, d.URL(), rep.DeviceToken, "list", "--type=SurgerySupport"))["ss-1"]
	if ref := rec["value"].(map[string]any)["preOpPhoto"].(map[string]any); ref["sha256"] != key {
		t.Fatalf("the surgery support refers to %v", ref)
	}
	if st := device(t, db, d.URL(), rep.DeviceToken, "status"); st["photoQueue"] != 0.0 || st["photosFailed"] != 0.0 {
		t.Fatalf("status: %v", st)
	}
}

func TestDevicePhotoAddOfflineQueuesThenSyncUploads(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	dir := t.TempDir()
	db, file := filepath.Join(dir, "rep.db"), filepath.Join(dir, "p.jpg")
	if err := os.WriteFile(file, photostest.JPEG(10<<10, 2), 0o600); err != nil {
		t.Fatal(err)
	}
	visit := device(t, db, d.URL(), rep.DeviceToken, "visit", "create", "--customer=hospital-1")
	cli(t, 1, "device", "photo", "add", visit["id"].(string), "photos", file, "--db="+db) // a visit has no photo slot
	cli(t, 1, "device", "photo", "add", "nowhere", "pre_op_photo", file, "--db="+db)      // unknown record, no --type
	cli(t, 2, "device", "photo", "add", "ss-2", "--db="+db)
	device(t, db, d.URL(), rep.DeviceToken, "photo", "add", "ss-2", "intra_op_photo", file, "--type=SurgerySupport", "--offline")
	if st := device(t, db, d.URL(), rep.DeviceToken, "status"); st["photoQueue"] != 1.0 || st["photoBytesPending"] != float64(10<<10) {
		t.Fatalf("status offline: %v", st)
	}
	device(t, db, d.URL(), rep.DeviceToken, "sync")
	queue := device(t, db, d.URL(), rep.DeviceToken, "photos")["photos"].([]any)
	if p := queue[0].(map[string]any); p["state"] != "done" || p["serverState"] != "available" {
		t.Fatalf("after sync: %v", p)
	}
}

func TestProgressBarRedrawsInPlaceOnATerminal(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := &progressBar{w: &b, tty: true}
	const mib = 1 << 20
	for _, sent := range []int64{0, mib, mib, 2 * mib, 2 * mib} {
		p.update("0123456789abcdef", sent, 2*mib)
	}
	want := "\r01234567 [....................]   0% 0.0/2.0 MiB  " +
		"\r01234567 [##########..........]  50% 1.0/2.0 MiB  " +
		"\r01234567 [####################] 100% 2.0/2.0 MiB  \n"
	if b.String() != want {
		t.Fatalf("drawn %q\nwant  %q", b.String(), want)
	}
}
