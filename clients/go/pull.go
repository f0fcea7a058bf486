package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// pull pulls pages after the stored cursor until the server has no more.
// A refused cursor starts a resync and pulls again from the start.
func (c *Client) pull(ctx context.Context, b *backoff) error {
	for {
		cursor, err := metaString(ctx, c.db.read, "cursor")
		if err != nil {
			return err
		}
		err = c.pullFrom(ctx, b, cursor)
		if !isResync(err) {
			return err
		}
		if cursor == "" {
			return err // refused without a cursor: starting over cannot help
		}
		c.cfg.logger.InfoContext(ctx, "fieldsync: the server asks for a resync", "err", err)
		if err := c.startResync(ctx); err != nil {
			return err
		}
	}
}

// pullFrom pulls and stores pages from cursor until has_more is false.
// The pull is pipelined: while a page is stored, the next one is asked
// for with ahead set, so the server does not take its cursor (a page not
// stored yet) as the device's delivery receipt; the first Pull's cursor
// (stored before this sync) is the receipt, and the Ack after the last
// page records the rest. A sync cut short between pages leaves the
// stored cursor for the next Pull to send, which records it then.
func (c *Client) pullFrom(ctx context.Context, b *backoff, cursor string) error {
	status, err := c.wireStatus(ctx, 0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limit := c.cfg.pullLimit
	fetch := func(cursor string, ahead bool) <-chan pulled {
		ch := make(chan pulled, 1)
		req := &fieldsyncv1.PullRequest{Cursor: cursor, Limit: uint32(limit), Status: status, Ahead: ahead}
		if c.cfg.pullGrow {
			limit = min(2*limit, maxPullLimit)
		}
		go func() {
			res, err := c.rpc.Pull(ctx, connect.NewRequest(req))
			ch <- pulled{res, err}
		}()
		return ch
	}
	receipt := cursor // what the server took as the receipt
	next := fetch(cursor, false)
	for {
		p := <-next
		if p.err != nil {
			return fmt.Errorf("pull: %w", p.err)
		}
		b.reset()
		page := p.res.Msg
		if page.GetHasMore() {
			next = fetch(page.GetNextCursor(), true)
		}
		if err := c.storePage(ctx, page); err != nil {
			cancel()
			if page.GetHasMore() {
				<-next // the fetch ahead ends with ctx
			}
			return fmt.Errorf("pull: %w", err)
		}
		if !page.GetHasMore() {
			return c.ackAndFinish(ctx, receipt, page.GetNextCursor())
		}
	}
}

// pulled is the outcome of one Pull call.
type pulled struct {
	res *connect.Response[fieldsyncv1.PullResponse]
	err error
}

// ackAndFinish sends the receipt of the stored pages in the background
// (see ackLater) while finishPull commits: the sync waits for neither the
// other nor the answer (the ack says what is stored, which finishPull does
// not change).
func (c *Client) ackAndFinish(ctx context.Context, sent, next string) error {
	c.ackLater(ctx, sent, next)
	return c.finishPull(ctx)
}

// ack tells the server at once that the device stored the pages up to
// next (its delivery receipt, dated now), unless next is the cursor the
// sync's first Pull sent, which the server took as the receipt already. A failed ack
// costs nothing but the receipt's precision (the next Pull sends the
// cursor): it is logged, not returned.
func (c *Client) ack(ctx context.Context, sent, next string) {
	if next == "" || next == sent {
		return
	}
	req := &fieldsyncv1.AckRequest{Cursor: next, StoredTime: timestamppb.New(c.cfg.now())}
	if _, err := c.rpc.Ack(ctx, connect.NewRequest(req)); err != nil {
		c.cfg.logger.DebugContext(ctx, "fieldsync: delivery receipt not acknowledged; the next pull sends it", "err", err)
	}
}

// isResync reports whether err is a FailedPrecondition with a
// ResyncRequired detail.
func isResync(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition {
		return false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if _, ok := v.(*fieldsyncv1.ResyncRequired); ok {
				return true
			}
		}
	}
	return false
}

// storePage applies one page in one transaction with its cursor: records
// without local entries are written as the server sent them (removals
// deleted); those with entries get the new state under their entries.
func (c *Client) storePage(ctx context.Context, page *fieldsyncv1.PullResponse) error {
	gen, err := metaInt(ctx, c.db.read, "gen")
	if err != nil {
		return err
	}
	if err := c.db.prepareUpserts(ctx, gen); err != nil { // outside the transaction: the writer is one connection
		return err
	}
	return c.db.update(ctx, func(tx *sql.Tx) error {
		gen, err := metaInt(ctx, tx, "gen")
		if err != nil {
			return err
		}
		local, err := outboxIDs(ctx, tx, false)
		if err != nil {
			return err
		}
		w := &pageWriter{ctx: ctx, tx: tx, store: c.db, gen: gen, local: local}
		defer w.close()
		var newest uint64
		for _, rec := range page.GetRecords() {
			if err := w.apply(rec); err != nil {
				return err
			}
			newest = max(newest, rec.GetHlc())
		}
		if err := w.flush(); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "hlc", int64(c.clock.Observe(newest))); err != nil {
			return err
		}
		return setMeta(ctx, tx, "cursor", page.GetNextCursor())
	})
}

// pageWriter writes pulled records with prepared statements. Records
// without local entries are upserted upsertRows at a time in one
// multi-row statement (a page of 1,000 records costs 16 statements, not
// 1,000); any other write first writes out the rows waiting (flush), so
// the page's writes keep their order. A row binds only what differs from
// record to record: its view (none), state (synced) and generation (the
// page's) are written in the statement.
type pageWriter struct {
	ctx     context.Context
	tx      *sql.Tx
	store   *store
	gen     int64
	local   map[string]bool
	upserts [len(upsertSizes)]*sql.Stmt // in tx, by upsertSizes' index
	remove  *sql.Stmt
	rows    []any // the arguments of the rows waiting, upsertCols per row
}

// upsertRows is how many records one multi-row upsert writes.
const upsertRows = 64

// upsertSizes are the row counts of the upserts flush runs, largest
// first: a run of records is written upsertRows at a time and its rest in
// 16s, 4s and 1s. The statements are few, so the store keeps each
// prepared (store.upsert); a statement of every rest's own size was parsed
// at each page, and would have filled the connection's statement cache.
var upsertSizes = [...]int{upsertRows, 16, 4, 1}

// upsertCols is the number of arguments of one row of upsertRecords.
const upsertCols = 5

// upsertRecords is upsertRecord for n synced rows of generation gen
// without a view, each binding its id, type, base, version and hlc.
// (Parameters are plain ?: for a numbered one modernc reads its name back
// from SQLite and parses it at every binding; a page stored so was slower.)
func upsertRecords(n int, gen int64) string {
	row := fmt.Sprintf("(?, ?, ?, ?, ?, NULL, %d, %d)", stateSynced, gen)
	values := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	return strings.Replace(upsertRecord, "(?, ?, ?, ?, ?, ?, ?, ?)", values, 1)
}

// The statements are prepared when a page first needs them: a page of a
// few records (the common pull of a device that syncs often) costs one
// statement of its size, not the parse of a 64-row upsert it never runs.
func (w *pageWriter) close() {
	if w.remove != nil {
		w.remove.Close()
	}
}

// flush writes the rows waiting, in statements of upsertSizes rows.
func (w *pageWriter) flush() error {
	defer func() { w.rows = w.rows[:0] }()
	rows := w.rows
	for i, size := range upsertSizes {
		for len(rows) >= size*upsertCols {
			st, err := w.upsert(i)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(w.ctx, rows[:size*upsertCols]...); err != nil {
				return fmt.Errorf("store %d records: %w", size, err)
			}
			rows = rows[size*upsertCols:]
		}
	}
	return nil
}

// upsert is the transaction's upsert of upsertSizes[i] rows.
func (w *pageWriter) upsert(i int) (*sql.Stmt, error) {
	if w.upserts[i] == nil {
		st, err := w.store.upsert(w.ctx, w.tx, upsertSizes[i], w.gen)
		if err != nil {
			return nil, err
		}
		w.upserts[i] = st
	}
	return w.upserts[i], nil
}

// apply writes one pulled record.
func (w *pageWriter) apply(rec *fieldsyncv1.Record) error {
	base, err := recordBytes(rec)
	if err != nil {
		return err
	}
	if base != nil && !w.local[rec.GetId()] {
		version, hlc, err := sqlInts(rec)
		if err != nil {
			return err
		}
		w.rows = append(w.rows, rec.GetId(), rec.GetRecordType(), base, version, hlc)
		if len(w.rows) == upsertRows*upsertCols {
			return w.flush()
		}
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if w.local[rec.GetId()] {
		return w.rebase(rec, base)
	}
	if w.remove == nil {
		if w.remove, err = w.tx.PrepareContext(w.ctx, `DELETE FROM records WHERE id = ?`); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if _, err = w.remove.ExecContext(w.ctx, rec.GetId()); err != nil {
		return fmt.Errorf("store record %s: %w", rec.GetId(), err)
	}
	return nil
}

// recordBytes returns a pulled record's value bytes; nil for a removal.
func recordBytes(rec *fieldsyncv1.Record) ([]byte, error) {
	if rec.GetRemoved() != fieldsyncv1.RemovalReason_REMOVAL_REASON_UNSPECIFIED {
		return nil, nil
	}
	v := rec.GetValue()
	if v == nil || !strings.HasSuffix(v.GetTypeUrl(), "/"+rec.GetRecordType()) {
		return nil, fmt.Errorf("record %s: value holds %q, want a %s", rec.GetId(), v.GetTypeUrl(), rec.GetRecordType())
	}
	if v.GetValue() == nil {
		return []byte{}, nil // an empty record is still a record
	}
	return v.GetValue(), nil
}

// sqlInts are a record's version and HLC as SQLite stores them (int64:
// database/sql converted a uint64 argument by reflection, boxing it again).
func sqlInts(rec *fieldsyncv1.Record) (version, hlc int64, err error) {
	if rec.GetVersion() >= 1<<63 || rec.GetHlc() >= 1<<63 {
		return 0, 0, fmt.Errorf("record %s: version %d or hlc %d beyond what the store holds", rec.GetId(), rec.GetVersion(), rec.GetHlc())
	}
	return int64(rec.GetVersion()), int64(rec.GetHlc()), nil
}

// rebase puts a new server state under a record's local entries. Acked
// entries are dropped: a state pulled after their answer includes them.
func (w *pageWriter) rebase(rec *fieldsyncv1.Record, base []byte) error {
	if err := dropAcked(w.ctx, w.tx, rec.GetId()); err != nil {
		return err
	}
	entries, err := entriesFor(w.ctx, w.tx, rec.GetId())
	if err != nil {
		return err
	}
	r := &row{id: rec.GetId(), typ: rec.GetRecordType(), base: base, version: rec.GetVersion(), hlc: rec.GetHlc(), gen: w.gen}
	if err := r.rebuild(entries); err != nil {
		return fmt.Errorf("rebase %s: %w", rec.GetId(), err)
	}
	return r.save(w.ctx, w.tx)
}

// finishPull runs once the server has nothing more: every acked entry is
// now reflected in the stored states (or changed nothing), so acked entries
// go and their records' views are rebuilt; after a resync, records the full
// pull did not confirm are dropped (their pending edits stay).
func (c *Client) finishPull(ctx context.Context) error {
	return c.db.update(ctx, func(tx *sql.Tx) error {
		acked, err := outboxIDs(ctx, tx, true)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE acked = 1`); err != nil {
			return fmt.Errorf("drop acked entries: %w", err)
		}
		for id := range acked {
			if err := refresh(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := sweepResync(ctx, tx); err != nil {
			return err
		}
		return setMeta(ctx, tx, "last_sync", c.cfg.now().UnixMilli())
	})
}

// startResync forgets the cursor and opens a new generation: the full pull
// that follows confirms the records still in scope.
func (c *Client) startResync(ctx context.Context) error {
	return c.db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = value + 1 WHERE key = 'gen'`); err != nil {
			return fmt.Errorf("start resync: %w", err)
		}
		if err := setMeta(ctx, tx, "cursor", ""); err != nil {
			return err
		}
		return setMeta(ctx, tx, "resync", 1)
	})
}

// sweepResync ends a resync: records of an older generation are no longer
// in scope; those without local entries go, the others lose their base.
func sweepResync(ctx context.Context, tx *sql.Tx) error {
	on, err := metaInt(ctx, tx, "resync")
	if err != nil || on == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE gen < (SELECT value FROM meta WHERE key = 'gen')
		AND id NOT IN (SELECT record_id FROM outbox)`); err != nil {
		return fmt.Errorf("sweep resync: %w", err)
	}
	ids, err := staleIDs(ctx, tx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE records SET base = NULL, version = 0 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sweep resync: %w", err)
		}
		if err := refresh(ctx, tx, id); err != nil {
			return err
		}
	}
	return setMeta(ctx, tx, "resync", 0)
}

func staleIDs(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM records WHERE gen < (SELECT value FROM meta WHERE key = 'gen')`)
	if err != nil {
		return nil, fmt.Errorf("sweep resync: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
