package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// pullPage is a marshalled page of n visits as a first sync receives them:
// ULID ids, a customer of 500, notes and tags like the PouchDB comparison's.
func pullPage(tb testing.TB, n int) []byte {
	tb.Helper()
	page := &fieldsyncv1.PullResponse{NextCursor: "c", HasMore: true}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range n {
		v, err := anypb.New(&fieldsyncv1.Visit{
			CustomerId: fmt.Sprintf("hospital-%d", i%500), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE,
			Notes:     fmt.Sprintf("visit %d: demo of the new stent, follow up on pricing next week", i),
			VisitTime: timestamppb.New(now.Add(time.Duration(i) * time.Minute)), ActionTags: []string{"technical_demo"},
		})
		if err != nil {
			tb.Fatal(err)
		}
		page.Records = append(page.Records, &fieldsyncv1.Record{
			RecordType: "fieldsync.v1.Visit", Id: ids.New(), Value: v, Version: uint64(1000 + i),
			Hlc: uint64(now.UnixMilli()+int64(i)) << 16, UpdateTime: timestamppb.New(now.Add(time.Duration(i) * time.Second)),
		})
	}
	b, err := proto.Marshal(page)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFastGzipIsPlainGzip: what newFastGzip writes, the standard library's
// reader (and so any gzip reader: browsers, other SDKs) reads back.
func TestFastGzipIsPlainGzip(t *testing.T) {
	raw := pullPage(t, 1000)
	var z bytes.Buffer
	w := newFastGzip()
	w.Reset(&z)
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(&z)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(raw))
	}
}

// BenchmarkGzipPullPage compresses a page of 1,000 visits (the first page
// of a first sync) as Connect does for an answer, with the standard
// library's fastest level (the compressor before) and klauspost/compress's
// (newFastGzip), alternated in one run; it reports each one's output size.
func BenchmarkGzipPullPage(b *testing.B) {
	raw := pullPage(b, 1000)
	std := func() connect.Compressor {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}
	for _, c := range []struct {
		name string
		new  func() connect.Compressor
	}{{"stdlib", std}, {"klauspost", newFastGzip}} {
		b.Run(c.name, func(b *testing.B) {
			w := c.new()
			var z bytes.Buffer
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				z.Reset()
				w.Reset(&z)
				if _, err := w.Write(raw); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(z.Len())/float64(len(raw))*100, "%size")
		})
	}
}
