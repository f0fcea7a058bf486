package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestOnlyLargeAnswersAreGzipped: a client that accepts gzip gets answers
// of 1 KiB and more gzipped, and smaller ones (a Push result, an Ack, a
// page of one record) as they are: gzipping those costs the server more
// than it saves.
func TestOnlyLargeAnswersAreGzipped(t *testing.T) {
	e := newEdgeServer(t, time.Hour, false, nil)
	c := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(e.token("rep"))))
	for seq := uint64(1); seq <= 20; seq++ {
		if _, err := c.Push(context.Background(), connect.NewRequest(visitPush(seq, nil))); err != nil {
			t.Fatal(err)
		}
	}
	pull := func(body, acceptEncoding string) (encoding string, size int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/fieldsync.v1.SyncService/Pull", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.creds.AdminToken)
		req.Header.Set("Accept-Encoding", acceptEncoding) // set: the transport leaves the body as sent
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("pull %s: %d %s %v", body, res.StatusCode, b, err)
		}
		return res.Header.Get("Content-Encoding"), len(b)
	}
	if enc, n := pull(`{"limit":1}`, "identity"); enc != "" || n >= 1024 {
		t.Fatalf("a page of one record: encoding %q, %d bytes; want a plain answer under 1 KiB", enc, n)
	}
	if enc, n := pull(`{}`, "identity"); enc != "" || n < 1024 {
		t.Fatalf("the whole demo tenant: encoding %q, %d bytes; want a plain answer of at least 1 KiB", enc, n)
	}
	if enc, _ := pull(`{"limit":1}`, "gzip"); enc != "" {
		t.Errorf("a page of one record, gzip accepted: encoding %q, want none", enc)
	}
	if enc, _ := pull(`{}`, "gzip"); enc != "gzip" {
		t.Errorf("the whole demo tenant, gzip accepted: encoding %q, want gzip", enc)
	}
}
