package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache prepares each query once per pool. modernc.org/sqlite has no
// statement cache of its own, and parsing SQL dominated the push path
// before statements were reused.
//
// The writer pool has a single connection, held by the open transaction
// whenever a write statement is wanted, so preparing there would wait for
// itself. Write statements are therefore prepared after the transaction
// that first used them (which ran them unprepared): see lookup and
// preparePending. Read transactions do the same (txReadStmt): all of the
// read pool's connections may be held by transactions wanting a statement.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement, preparing it now if needed. It
// must not hold the lock while preparing: preparing waits for a free
// connection of the pool, and the transactions holding them may be
// waiting for the lock (txReadStmt).
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	s, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, dup := c.m[query]; dup { // prepared meanwhile by another caller
		s.Close()
		return kept, nil
	}
	c.m[query] = s
	return s, nil
}

// lookup returns the prepared statement or nil, noting a miss so that
// preparePending prepares it later.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[query]
	if !ok {
		c.pending[query] = true
	}
	return s
}

// preparePending prepares the statements that missed. It must not hold the
// lock while preparing: preparing waits for the writer connection, and a
// transaction holding that connection may be waiting in lookup.
func (c *stmtCache) preparePending(ctx context.Context) {
	c.mu.Lock()
	var queries []string
	for q := range c.pending {
		queries = append(queries, q)
		delete(c.pending, q)
	}
	c.mu.Unlock()
	for _, q := range queries {
		s, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue // run unprepared; a broken query fails where it is used
		}
		c.mu.Lock()
		if _, dup := c.m[q]; dup {
			s.Close()
		} else {
			c.m[q] = s
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// txExec runs a write statement in tx, prepared when it has been seen before.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s := db.wstmts.lookup(query); s != nil {
		return tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs a query in tx, prepared when it has been seen before.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if s := db.wstmts.lookup(query); s != nil {
		return tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// readStmt returns the cached read statement, for use outside a
// transaction.
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.rstmts.get(ctx, query)
}

// txReadStmt returns query's statement for the read transaction tx. One
// not prepared on the pool yet is prepared on tx's own connection for this
// transaction, and on the pool once a transaction ends (the caller defers
// db.rstmts.preparePending): preparing on the pool from inside tx would
// wait for another free read connection, and when every one is held by a
// transaction doing the same, none would ever come.
func (db *DB) txReadStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if s := db.rstmts.lookup(query); s != nil {
		return tx.StmtContext(ctx, s), nil
	}
	return tx.PrepareContext(ctx, query)
}
