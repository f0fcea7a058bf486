package sqlite

import (
	"context"
	"database/sql"
)

// stmtTx runs a write transaction's statements through the writer's
// statement cache (see stmtCache), each bound to the transaction once:
// a consumer applying hundreds of events in one transaction parses each
// query once, not once per event. It is a querier.
type stmtTx struct {
	db    *DB
	tx    *sql.Tx
	bound map[string]*sql.Stmt
}

func newStmtTx(db *DB, tx *sql.Tx) *stmtTx {
	return &stmtTx{db: db, tx: tx, bound: map[string]*sql.Stmt{}}
}

// stmt returns query prepared and bound to the transaction, or nil when it
// is not prepared yet (it will be after the transaction).
func (t *stmtTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if s, ok := t.bound[query]; ok {
		return s
	}
	p := t.db.wstmts.lookup(query)
	if p == nil {
		return nil
	}
	s := t.tx.StmtContext(ctx, p)
	t.bound[query] = s
	return s
}

func (t *stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
