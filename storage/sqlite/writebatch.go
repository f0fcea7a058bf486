package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync/storage/internal/rowcodec"
	"github.com/fieldsync/fieldsync/syncengine"
)

// getRecordsByID reads records by id; the ids travel as one JSON array
// parameter, so one prepared statement serves any number of them.
const getRecordsByID = `SELECT ` + recordColumns + ` FROM records WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))`

// GetRecords returns the stored records with these ids in one query (see
// syncengine.Tx).
func (t *recTx) GetRecords(tenantID string, idList []string) (map[string]*syncengine.StoredRecord, error) {
	out := make(map[string]*syncengine.StoredRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	if err := t.flushRecords(); err != nil { // the query reads what the transaction wrote
		return nil, err
	}
	arr, err := json.Marshal(idList)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if s := t.stmt(getRecordsByID); s != nil {
		rows, err = s.QueryContext(t.ctx, tenantID, string(arr))
	} else {
		rows, err = t.tx.QueryContext(t.ctx, getRecordsByID, tenantID, string(arr))
	}
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
	return scanRecordsInto(t.reg, rows, out)
}

// stmt returns the prepared statement of a query bound to the transaction,
// binding it on first use, or nil when the query has not been prepared yet
// (see stmtCache). Binding once per transaction rather than per statement
// run spares database/sql's per-binding work on the push path.
func (t *recTx) stmt(query string) *sql.Stmt {
	if s, ok := t.stmts[query]; ok {
		return s
	}
	prepared := t.db.wstmts.lookup(query)
	if prepared == nil {
		return nil
	}
	s := t.tx.StmtContext(t.ctx, prepared)
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = s
	return s
}

// storedRun is a push_results row as read: the results of one actor's
// seqs first..last.
type storedRun struct {
	actor       string
	first, last uint64
	blob        []byte
}

// storedResult returns the stored result of an applied seq from the
// push_results row that holds it. The row read last is kept for the
// transaction: a replayed batch asks for its seqs in order, and they
// mostly lie in one row, so the batch costs one query rather than one per
// seq. (Rows are only inserted at the transaction's end, so a kept row
// cannot go stale within it.)
func (t *recTx) storedResult(actor string, seq uint64) ([]byte, bool, error) {
	r := &t.stored
	if r.actor != actor || seq < r.first || seq > r.last {
		var run storedRun
		err := t.queryRow(`SELECT first_seq, last_seq, results FROM push_results WHERE actor = ? AND first_seq <= ?
		ORDER BY first_seq DESC LIMIT 1`, actor, seq).Scan(&run.first, &run.last, &run.blob)
		if errors.Is(err, sql.ErrNoRows) || err == nil && seq > run.last {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		run.actor = actor
		*r = run
	}
	b, err := rowcodec.NthResult(r.blob, int(seq-r.first))
	return b, err == nil, err
}
