package fieldsync

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestPagesStoreAsRecordsOneByOne: the page writer upserts records in
// multi-row statements and writes removals and records with local entries
// one at a time in between. For random pages (more records than one
// statement takes, the same id several times in a page, removals, records
// the device has pending edits of), a device storing them as pages holds
// the same records as one storing each record in a page of its own.
func TestPagesStoreAsRecordsOneByOne(t *testing.T) {
	dir := t.TempDir()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ctx := context.Background()
		paged := openDevice(t, filepath.Join(dir, fmt.Sprintf("paged-%d.db", n)))
		single := openDevice(t, filepath.Join(dir, fmt.Sprintf("single-%d.db", n)))
		nIDs := rapid.IntRange(1, 100).Draw(rt, "ids")
		id := func(i int) string { return fmt.Sprintf("v%03d", i) }
		for _, i := range rapid.SliceOfNDistinct(rapid.IntRange(0, nIDs-1), 0, 5, rapid.ID[int]).Draw(rt, "local") {
			for _, c := range []*Client{paged, single} {
				if err := c.Put(ctx, id(i), &fieldsyncv1.Visit{Notes: "local edit"}, "notes"); err != nil {
					t.Fatal(err)
				}
			}
		}
		version := uint64(0)
		pages := rapid.IntRange(1, 2).Draw(rt, "pages")
		for p := range pages {
			page := &fieldsyncv1.PullResponse{NextCursor: fmt.Sprint("c", p)}
			for range rapid.IntRange(0, 100).Draw(rt, "records") {
				version++
				i := rapid.IntRange(0, nIDs-1).Draw(rt, "id")
				rec := &fieldsyncv1.Record{RecordType: visitType, Id: id(i), Version: version, Hlc: version << 16}
				if rapid.IntRange(0, 9).Draw(rt, "removed") == 0 {
					rec.Removed = fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED
				} else {
					b, err := proto.Marshal(&fieldsyncv1.Visit{CustomerId: fmt.Sprint("c", version), Notes: "server"})
					if err != nil {
						t.Fatal(err)
					}
					rec.Value = &anypb.Any{TypeUrl: "type.googleapis.com/" + visitType, Value: b}
				}
				page.Records = append(page.Records, rec)
				if err := single.storePage(ctx, &fieldsyncv1.PullResponse{Records: []*fieldsyncv1.Record{rec}, NextCursor: page.NextCursor}); err != nil {
					t.Fatal(err)
				}
			}
			if err := paged.storePage(ctx, page); err != nil {
				t.Fatal(err)
			}
		}
		got, err := paged.List(ctx, visitType)
		if err != nil {
			t.Fatal(err)
		}
		want, err := single.List(ctx, visitType)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			rt.Fatalf("stored as pages: %d records; one by one: %d", len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Version != w.Version || g.Pending != w.Pending || !proto.Equal(g.Value, w.Value) {
				rt.Fatalf("record %d: stored as pages %+v, one by one %+v", i, g, w)
			}
		}
		paged.Close()
		single.Close()
	})
}

// TestPagesAfterAResyncCarryItsGeneration: the page writer's upserts are
// kept prepared from page to page with the generation written in them; a
// resync starts a new generation, and the pages stored after it carry
// that one, in runs of every size the writer splits a page into.
func TestPagesAfterAResyncCarryItsGeneration(t *testing.T) {
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "device.db"))
	defer c.Close()
	version := uint64(0)
	page := func(n int) *fieldsyncv1.PullResponse {
		pg := &fieldsyncv1.PullResponse{NextCursor: fmt.Sprint("c", version)}
		for range n {
			version++
			b, err := proto.Marshal(&fieldsyncv1.Visit{Notes: fmt.Sprint("v", version)})
			if err != nil {
				t.Fatal(err)
			}
			pg.Records = append(pg.Records, &fieldsyncv1.Record{RecordType: visitType, Id: fmt.Sprintf("r%03d", version%90),
				Version: version, Hlc: version << 16, Value: &anypb.Any{TypeUrl: "type.googleapis.com/" + visitType, Value: b}})
		}
		return pg
	}
	for gen, sizes := range [][]int{{85, 64}, {1, 85}, {21}} {
		if gen > 0 {
			if err := c.startResync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range sizes {
			if err := c.storePage(ctx, page(n)); err != nil {
				t.Fatal(err)
			}
			first := version - uint64(n) + 1
			var rows, wrong int
			err := c.db.read.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE gen != ? OR hlc != version << 16)
				FROM records WHERE version >= ?`, gen, first).Scan(&rows, &wrong)
			if err != nil {
				t.Fatal(err)
			}
			if rows != min(n, 90) || wrong != 0 {
				t.Errorf("generation %d, page of %d: %d records stored, %d with another generation or hlc", gen, n, rows, wrong)
			}
		}
	}
}

// TestPagesLargerThanTheWritersCacheAreSeenWholeOrNotAtAll: a page of
// 3,000 visits dirties more pages than the writer's cache holds, so SQLite
// writes some to the WAL before the commit. Readers during the sync see
// only whole pages, and a page that fails (its last record invalid) leaves
// nothing behind.
func TestPagesLargerThanTheWritersCacheAreSeenWholeOrNotAtAll(t *testing.T) {
	const pageSize, pages = 3000, 4
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "device.db"))
	page := func(p int) *fieldsyncv1.PullResponse {
		out := &fieldsyncv1.PullResponse{NextCursor: fmt.Sprint("c", p), HasMore: true}
		for i := range pageSize {
			m := seedMutation(t, uint64(p*pageSize+i+1), 1)
			out.Records = append(out.Records, &fieldsyncv1.Record{RecordType: visitType, Id: m.RecordId, Value: m.Value, Version: m.Seq, Hlc: m.Hlc})
		}
		return out
	}
	count := func() int {
		var n int
		if err := c.db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM records`).Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	done := make(chan struct{})
	seen := make(chan []int)
	go func() {
		var counts []int
		for {
			select {
			case <-done:
				seen <- counts
				return
			default:
				counts = append(counts, count())
			}
		}
	}()
	for p := range pages {
		bad := page(p)
		bad.Records[pageSize-1].Value.TypeUrl = "type.googleapis.com/fieldsync.v1.Nothing"
		if err := c.storePage(ctx, bad); err == nil {
			t.Fatalf("page %d with an invalid record stored", p)
		}
		if err := c.storePage(ctx, page(p)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for _, n := range <-seen {
		if n%pageSize != 0 {
			t.Fatalf("a reader saw %d records: part of a page", n)
		}
	}
	if n := count(); n != pageSize*pages {
		t.Fatalf("%d records stored, want %d", n, pageSize*pages)
	}
	if cursor, err := metaString(ctx, c.db.read, "cursor"); err != nil || cursor != fmt.Sprint("c", pages-1) {
		t.Fatalf("cursor %q (%v), want c%d", cursor, err, pages-1)
	}
}
