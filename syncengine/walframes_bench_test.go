package syncengine_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkEnginePushWALFrames counts the WAL frames one push of 100 new
// visits writes on SQLite, by the B-tree each frame's page belongs to
// (through dbstat): the pages a commit writes are most of its cost. Each
// op checkpoints the WAL away, pushes, and reads the frames back; the
// figures are deterministic, the time is not the point.
func BenchmarkEnginePushWALFrames(b *testing.B) {
	w := newWorld(b)
	db := w.sqliteDB(b)
	var seq int
	var name, path string
	if err := db.Writer().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		b.Fatal(err)
	}
	for range 50 { // past the first pages of every table, as in earlier rounds
		pushVisits(b, w, 100)
	}
	frames := map[string]float64{}
	for b.Loop() {
		truncateWAL(b, db.Writer())
		pushVisits(b, w, 100)
		wal, err := os.ReadFile(path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		trees := pageTrees(b, db.Reader())
		const header, frame = 32, 24 + 4096
		for off := header; off+frame <= len(wal); off += frame {
			if string(wal[off+8:off+16]) != string(wal[16:24]) {
				break // a frame of an earlier WAL generation (salts differ)
			}
			frames[walGroup(trees[binary.BigEndian.Uint32(wal[off:])])]++
		}
	}
	total := 0.0
	for g, n := range frames {
		b.ReportMetric(n/float64(b.N), g+"_frames/push")
		total += n
	}
	b.ReportMetric(total/float64(b.N), "wal_frames/push")
	var data float64
	if err := db.Reader().QueryRow(`SELECT avg(length(data)) FROM outbox`).Scan(&data); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(data, "event_B")
}

// truncateWAL checkpoints the whole WAL and truncates it, again while the
// store's own checkpointer holds it busy: a WAL left in place would count
// an earlier push's frames too.
func truncateWAL(b *testing.B, db *sql.DB) {
	for try := 0; ; try++ {
		var busy, logged, copied int
		if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &copied); err != nil {
			b.Fatal(err)
		}
		if busy == 0 {
			return
		}
		if try == 100 {
			b.Fatal("wal_checkpoint(TRUNCATE) stays busy")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pushVisits pushes n new visits of the rep in one call.
func pushVisits(b *testing.B, w *world, n int) {
	muts := make([]syncengine.Mutation, n)
	for j := range muts {
		muts[j] = w.mut("rep", newID(), &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1",
			Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}},
			"kind", "customer_id", "notes", "action_tags")
	}
	if _, err := w.e.Push(context.Background(), w.p["rep"], muts); err != nil {
		b.Fatal(err)
	}
}

// pageTrees maps each page of the database to the table or index it
// belongs to.
func pageTrees(b *testing.B, db *sql.DB) map[uint32]string {
	rows, err := db.Query(`SELECT name, pageno FROM dbstat`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	trees := map[uint32]string{}
	for rows.Next() {
		var name string
		var page uint32
		if err := rows.Scan(&name, &page); err != nil {
			b.Fatal(err)
		}
		trees[page] = name
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return trees
}

// walGroup names what a B-tree is part of: the record rows, their
// indexes, the outbox's rows, its event id index, its unsent list, or
// the rest (push results, counters, the schema page).
func walGroup(tree string) string {
	switch {
	case tree == "records":
		return "records"
	case tree == "sqlite_autoindex_records_1":
		return "record_index_pk"
	case strings.HasPrefix(tree, "records_"):
		return "record_index_" + strings.TrimPrefix(tree, "records_")
	case tree == "outbox":
		return "outbox"
	case tree == "sqlite_autoindex_outbox_1":
		return "outbox_event_id"
	case tree == "outbox_unsent":
		return "outbox_unsent"
	}
	return "other"
}
