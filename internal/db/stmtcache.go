package db

import (
	"context"
	"database/sql/driver"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode"

	msqlite "modernc.org/sqlite"
)

// SQLite compiles the text of every statement it runs; compiling is a
// large share of a short statement's cost. A connection here keeps the
// compiled statements it has run, by text, and runs them again with new
// arguments, as pgx does for PostgreSQL. The cache belongs to the
// connection, so it serves every transaction on it (gorm's PrepareStmt
// cannot reuse a statement first seen inside a transaction).

// stmtCacheSize bounds the statements kept per connection; when it is
// full the cache starts again (statements built for IN lists of varying
// length are the usual way to fill it).
const stmtCacheSize = 256

// stmtCompiles counts the statements the caches have compiled.
var stmtCompiles atomic.Int64

// sqliteConnector opens SQLite connections that keep their statements.
type sqliteConnector struct {
	driver.Connector
}

func newSQLiteConnector(dsn string) (driver.Connector, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sqliteConnector{c}, nil
}

func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: cn.(sqliteConn), stmts: map[string]*cachedStmt{}}, nil
}

// sqliteConn is what database/sql uses of a modernc connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// runStmt is what the cache uses of a compiled statement.
type runStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type cachedStmt struct {
	stmt    runStmt
	busy    bool // its rows are open
	evicted bool // close it once its rows are
}

type cachingConn struct {
	conn  sqliteConn
	stmts map[string]*cachedStmt
}

var _ sqliteConn = (*cachingConn)(nil)

// cacheable: one statement that reads or changes rows (BEGIN, COMMIT,
// PRAGMA and DDL run as they come).
func cacheable(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	if strings.ContainsRune(q, ';') {
		return false
	}
	q = strings.TrimLeft(q, "(")
	if i := strings.IndexFunc(q, unicode.IsSpace); i >= 0 {
		q = q[:i]
	}
	switch strings.ToUpper(q) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE":
		return true
	}
	return false
}

// cached returns the idle compiled statement of query, compiling it when
// needed; nil when the query is not to be cached or its statement is
// running (a query re-entered while its rows are open).
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if !cacheable(query) {
		return nil, nil
	}
	ds, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	stmtCompiles.Add(1)
	st, ok := ds.(runStmt)
	if !ok {
		ds.Close()
		return nil, nil
	}
	if len(c.stmts) >= stmtCacheSize {
		c.evictAll()
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

func (c *cachingConn) evictAll() {
	for q, s := range c.stmts {
		if s.busy {
			s.evicted = true
		} else {
			s.stmt.Close()
		}
		delete(c.stmts, q)
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.conn.ExecContext(ctx, query, args)
	}
	return s.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.conn.QueryContext(ctx, query, args)
	}
	r, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: r, s: s}, nil
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}
func (c *cachingConn) Begin() (driver.Tx, error) { return c.conn.Begin() } //nolint:staticcheck // driver.Conn
func (c *cachingConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.conn.BeginTx(ctx, o)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.conn.Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.conn.IsValid() }
func (c *cachingConn) Close() error {
	c.evictAll()
	return c.conn.Close()
}

// cachedRows gives the statement back when closed.
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.s != nil {
		r.s.busy = false
		if r.s.evicted {
			r.s.stmt.Close()
		}
		r.s = nil
	}
	return err
}

// The column type methods of modernc's rows, which gorm reads.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}
func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}
func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	return r.Rows.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}
func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.Rows.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}
func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}
