package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestDeviceQuoteRatingLinkPrintsAWorkingLinkAndQR(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	staff, _ := creds.User("store_staff")
	db := filepath.Join(t.TempDir(), "staff.db")
	srv := d.URL()
	// A quote made offline: rating-link sends it first.
	var out, errOut bytes.Buffer
	args := []string{"device", "quote", "rating-link", "--quote=q-nope", "--db=" + db, "--server=" + srv, "--token=" + staff.DeviceToken}
	if code := run(context.Background(), args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "quote_id") {
		t.Fatalf("unknown quote: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	putQuote(t, db, srv, staff.DeviceToken, "q-cli")
	out.Reset()
	args[3] = "--quote=q-cli"
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], srv+"/r/") || !strings.HasPrefix(lines[1], "expires ") || !strings.Contains(out.String(), "▀") {
		t.Fatalf("output:\n%s", out.String())
	}
	res, err := http.Get(lines[0])
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET the printed link: %v %v", res, err)
	}
	res.Body.Close()
}

// putQuote writes a quote into the device store db, offline.
func putQuote(t *testing.T, db, srv, token, id string) {
	t.Helper()
	ctx := context.Background()
	c, err := fieldsync.Open(ctx, db, fieldsync.WithServer(srv), fieldsync.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Put(ctx, id, &fieldsyncv1.Quote{WorkItems: []string{"oil change"}}, "work_items"); err != nil {
		t.Fatal(err)
	}
}

func TestPrintQRIsSquareWithAQuietZone(t *testing.T) {
	var b bytes.Buffer
	if err := printQR(&b, "http://127.0.0.1:8080/r/AAAA", false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	width := len([]rune(lines[0]))
	if lines[0] != strings.Repeat("█", width) {
		t.Fatalf("first line is not all quiet zone: %q", lines[0])
	}
	if want := (width + 1) / 2; len(lines) != want {
		t.Fatalf("%d lines of %d modules, want %d", len(lines), width, want)
	}
}
