package fieldsync

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
)

// The store's connections keep each parameterised statement they run
// prepared, per connection: modernc.org/sqlite parses a query's text on
// every call otherwise, and parsing was a third of the CPU of a device's
// sync (a push of 5 and the pull after it run some 40 statements, each a
// handful of times). A statement is reused only while no result set of
// its own is open on the connection; otherwise that call runs unprepared,
// as before. Execs without arguments (migrations, pragmas, scripts of
// several statements) are never kept; queries without arguments are (the
// photo queue's status, read twice a sync, was 10% of a device's sync).
// A script kept prepared would be parsed again on each call, as unkept.

// cachedDriverName is the driver the store opens: modernc's, with the cache.
const cachedDriverName = "fieldsync-sqlite"

// maxCachedStmts bounds the statements one connection keeps; past it,
// new queries run unprepared.
const maxCachedStmts = 128

var registerCachedDriver = sync.OnceValue(func() error {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		return err
	}
	d := db.Driver()
	db.Close()
	sql.Register(cachedDriverName, cachedDriver{d})
	return nil
})

type cachedDriver struct{ next driver.Driver }

func (d cachedDriver) Open(name string) (driver.Conn, error) {
	c, err := d.next.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachedConn{Conn: c, stmts: map[string]*cachedStmt{}}, nil
}

// cachedConn is one connection and its prepared statements. database/sql
// uses a connection from one goroutine at a time: no lock is needed.
type cachedConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	s     driver.Stmt
	inUse bool // a result set of it is open
}

// stmt returns query's prepared statement, preparing it now, or nil when
// it must run unprepared (not keep, in use, cache full, or the driver
// cannot run it prepared).
func (c *cachedConn) stmt(ctx context.Context, query string, keep bool) *cachedStmt {
	if !keep {
		return nil
	}
	if cs, ok := c.stmts[query]; ok {
		if cs.inUse {
			return nil
		}
		return cs
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil
	}
	s, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil // unprepared, the call reports the error itself
	}
	_, okE := s.(driver.StmtExecContext)
	_, okQ := s.(driver.StmtQueryContext)
	if !okE || !okQ {
		s.Close()
		return nil
	}
	cs := &cachedStmt{s: s}
	c.stmts[query] = cs
	return cs
}

func (c *cachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if cs := c.stmt(ctx, query, len(args) > 0); cs != nil {
		return cs.s.(driver.StmtExecContext).ExecContext(ctx, args)
	}
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return e.ExecContext(ctx, query, args)
}

func (c *cachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if cs := c.stmt(ctx, query, true); cs != nil {
		rows, err := cs.s.(driver.StmtQueryContext).QueryContext(ctx, args)
		if err != nil {
			return nil, err
		}
		cs.inUse = true
		return &cachedRows{Rows: rows, cs: cs}, nil
	}
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return q.QueryContext(ctx, query, args)
}

func (c *cachedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c *cachedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errors.New("fieldsync: the sqlite driver has no BeginTx")
}

func (c *cachedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachedConn) Close() error {
	var errs []error
	for _, cs := range c.stmts {
		errs = append(errs, cs.s.Close())
	}
	c.stmts = nil
	return errors.Join(append(errs, c.Conn.Close())...)
}

// cachedRows frees its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.inUse = false
	return err
}
