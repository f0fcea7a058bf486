package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func TestEventsTailPrintsCommittedChanges(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	client := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), connect.WithInterceptors(fieldsync.BearerAuth(rep.DeviceToken)))
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: "tail me"})
	id := ids.New()
	if _, err := client.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id, Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: uint64(time.Now().UnixMilli()) << 16,
	}}})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"events", "tail", "--data-dir", d.DataDir(), "--from-start", "--max", "1",
		"--subject", "fieldsync.*.changes.Visit"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), id) || !strings.Contains(out.String(), "tail me") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
}

func TestPhiPrintsATable(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"phi", "--server", d.URL(), "--token", creds.AdminToken, "--scope", "region", "--id", creds.RegionID}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "key action") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"phi", "--scope", "galaxy"}, &out, &errOut); code != 2 {
		t.Fatalf("bad scope: exit %d", code)
	}
}
