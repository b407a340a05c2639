// Package db opens Diwan's metadata database — embedded SQLite for one
// machine or PostgreSQL for several — through gorm, and brings its schema up
// to date with the embedded goose migrations and River's own migrations.
//
// It holds connection set-up, migrations and transaction helpers only: no
// domain tables are defined here (each store package owns its rows), and no
// package but internal/app (and tests) opens a database.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options says which database to open.
type Options struct {
	Driver string // SQLite or Postgres
	// DSN is a file path for SQLite (query parameters allowed) and a URL or
	// key=value string for PostgreSQL.
	DSN string
	// MaxOpenConns bounds the connection pool; 0 picks a default (for
	// PostgreSQL 4 per core of this machine, at least 8: more connections
	// than the database server can run at once only add contention, so a
	// server elsewhere with more cores wants it set; 1 for SQLite: SQLite
	// has one writer at a time, and its
	// busy handler is not fair — with several connections a writer can wait
	// out the whole busy timeout while others get through — so writers
	// queue in Go instead, in arrival order).
	MaxOpenConns int
	Logger       *slog.Logger
}

// DB is an open database. The stores use it through a few methods:
// Writer and Reader (gorm handles for writes and for reads outside any
// transaction), Transaction and ReadTransaction (closures), IsPostgres and
// Dialect (for the statements that differ), Conn (one connection of the
// writer's pool, for a statement pipeline). Migrations (Migrate) and River's
// tables are this package's concern.
type DB struct {
	w      *gorm.DB      // the writer
	r      *gorm.DB      // reads outside transactions (see Reader)
	sqlDB  *sql.DB       // beneath w
	pool   *pgxpool.Pool // PostgreSQL only: beneath sqlDB, and River's
	driver string        // SQLite or Postgres
	addr   string        // where it is, for messages (no password)
	readDB *sql.DB       // SQLite's read pool, closed with the DB
}

// Open connects and checks that the database answers. An unreachable
// database gives a one-line error naming the driver and the address.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	gcfg := &gorm.Config{
		// Silent while opening: a failure is returned (and reported once by
		// the caller); the real logger is set once the database answers.
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	}
	var d *DB
	var err error
	switch o.Driver {
	case SQLite:
		d, err = openSQLite(ctx, o, gcfg)
	case Postgres:
		d, err = openPostgres(ctx, o, gcfg)
	default:
		return nil, fmt.Errorf("database: driver %q is not supported; use %q or %q", o.Driver, SQLite, Postgres)
	}
	if err != nil {
		return nil, err
	}
	d.w.Logger = newGormLogger(o.Logger)
	if d.r == nil {
		d.r = d.w
	} else {
		d.r.Logger = d.w.Logger
	}
	return d, nil
}

// sqlitePragmas make SQLite safe for concurrent writers and durable: WAL,
// a busy timeout instead of immediate SQLITE_BUSY, foreign keys enforced,
// full fsync at commit, and BEGIN IMMEDIATE so that a transaction takes the
// write lock up front (no deadlock upgrading a read lock).
var sqlitePragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"foreign_keys(1)",
	"synchronous(FULL)",
	// Read the database through a memory map (the OS page cache) instead of
	// read calls into SQLite's small private cache: searches that touch
	// every message row of a large mailbox stay fast without growing the
	// process's own memory.
	"mmap_size(268435456)",
}

// sqliteDSN returns the file of dsn and the DSN to open it with: the
// writer's, or (reader) that of a connection of the read pool, which cannot
// write and begins its transactions as a plain reader.
func sqliteDSN(dsn string, reader bool) (path, full string) {
	path, query, _ := strings.Cut(dsn, "?")
	q, _ := url.ParseQuery(query)
	have := strings.Join(q["_pragma"], ",")
	for _, p := range sqlitePragmas {
		name, _, _ := strings.Cut(p, "(")
		if !strings.Contains(have, name) {
			q.Add("_pragma", p)
		}
	}
	switch {
	case reader:
		q.Add("_pragma", "query_only(1)")
		q.Set("_txlock", "deferred")
	case q.Get("_txlock") == "":
		q.Set("_txlock", "immediate")
	}
	return path, path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, o Options, gcfg *gorm.Config) (*DB, error) {
	path, dsn := sqliteDSN(o.DSN, false)
	fail := func(err error) error {
		return fmt.Errorf("database sqlite at %s: %v", path, err)
	}
	if path == "" {
		return nil, fail(errors.New("no file name"))
	}
	if dir := filepath.Dir(strings.TrimPrefix(path, "file:")); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fail(err)
		}
	}
	g, sqlDB, err := openSQLiteDSN(dsn, gcfg)
	if err != nil {
		return nil, fail(err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 1
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	d := &DB{w: g, sqlDB: sqlDB, driver: SQLite, addr: path}
	if err := d.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, fail(err)
	}
	// journal_mode(WAL) is only reported, not failed, when it cannot be set.
	var mode string
	if err := sqlDB.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		sqlDB.Close()
		return nil, fail(err)
	}
	if !strings.EqualFold(mode, "wal") && !strings.Contains(path, ":memory:") {
		sqlDB.Close()
		return nil, fail(fmt.Errorf("journal mode is %q, WAL could not be enabled", mode))
	}
	if strings.Contains(path, ":memory:") {
		return d, nil // every connection would be a database of its own
	}
	// The read pool, on the same file.
	_, rdsn := sqliteDSN(o.DSN, true)
	r, readDB, err := openSQLiteDSN(rdsn, gcfg)
	if err != nil {
		sqlDB.Close()
		return nil, fail(err)
	}
	readDB.SetMaxOpenConns(sqliteReaders)
	readDB.SetMaxIdleConns(sqliteReaders)
	// Open them all now: a broken read pool fails here, and the process
	// holds a fixed number of files from the start.
	conns := make([]*sql.Conn, 0, sqliteReaders)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range sqliteReaders {
		c, err := readDB.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
			conns = append(conns, c)
		}
		if err != nil {
			readDB.Close()
			sqlDB.Close()
			return nil, fail(fmt.Errorf("read connection: %w", err))
		}
	}
	d.r, d.readDB = r, readDB
	return d, nil
}

// openSQLiteDSN opens a pool of connections to dsn that keep their
// compiled statements (stmtcache.go).
func openSQLiteDSN(dsn string, gcfg *gorm.Config) (*gorm.DB, *sql.DB, error) {
	c, err := newSQLiteConnector(dsn)
	if err != nil {
		return nil, nil, err
	}
	sqlDB := sql.OpenDB(c)
	g, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), gcfg)
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return g, sqlDB, nil
}

// sqliteReaders is the size of SQLite's read pool: enough for reads to
// overlap the writer and each other on a few cores; each connection keeps
// its own page cache.
const sqliteReaders = 4

func openPostgres(ctx context.Context, o Options, gcfg *gorm.Config) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		// pgx error texts may quote the DSN; keep the password out.
		return nil, fmt.Errorf("database postgres: database.dsn cannot be parsed (expected postgres://user:password@host:5432/db?sslmode=disable)")
	}
	addr := fmt.Sprintf("%s:%d", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port)
	fail := func(err error) error {
		return fmt.Errorf("database postgres at %s: %s", addr, oneLine(err))
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	pcfg.MaxConns = int32(n)
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fail(err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gcfg)
	if err != nil {
		pool.Close()
		return nil, fail(err)
	}
	d := &DB{w: g, sqlDB: sqlDB, pool: pool, driver: Postgres, addr: addr}
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, fail(err)
	}
	return d, nil
}

// oneLine keeps the last, most specific part of a driver error on one line.
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	return s
}

// Addr is where the database is (file path or host:port), for messages.
func (d *DB) Addr() string { return d.addr }

// Ping checks that the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one int
	return d.sqlDB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the pool.
func (d *DB) Close() error {
	if d.readDB != nil {
		d.readDB.Close()
	}
	err := d.sqlDB.Close()
	if d.pool != nil {
		d.pool.Close()
	}
	return err
}

// Writer is the gorm handle for writes outside a closure of Transaction,
// and for reads that must see the writer's own state. Give it a context
// (WithContext).
func (d *DB) Writer() *gorm.DB { return d.w }

// Reader is the gorm handle for reads outside any transaction. On SQLite
// it is a pool of read-only connections beside the one writer, so that a
// read never waits behind a writer's transaction and commit (WAL lets
// readers and the writer run side by side; a read sees every transaction
// committed before it began). On PostgreSQL it is Writer. Give it a
// context (WithContext).
func (d *DB) Reader() *gorm.DB { return d.r }

// IsPostgres reports whether the database is PostgreSQL (else SQLite).
func (d *DB) IsPostgres() bool { return d.driver == Postgres }

// Dialect is the database's driver name: SQLite or Postgres.
func (d *DB) Dialect() string { return d.driver }

// Conn takes one connection of the writer's pool, for a store that sends
// statements down it itself (a pipeline of PostgreSQL statements). The
// caller closes it.
func (d *DB) Conn(ctx context.Context) (*sql.Conn, error) { return d.sqlDB.Conn(ctx) }

// Transaction runs fn in one transaction: committed when fn returns nil,
// rolled back otherwise (and on panic).
func (d *DB) Transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return d.w.WithContext(ctx).Transaction(fn)
}

// ReadTransaction runs fn in a transaction that reads one snapshot: on
// PostgreSQL REPEATABLE READ, read only; on SQLite a transaction on a
// connection of the read pool, which WAL gives a snapshot of its own.
func (d *DB) ReadTransaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if d.IsPostgres() {
		return d.w.WithContext(ctx).Transaction(fn, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	}
	return d.r.WithContext(ctx).Transaction(fn)
}

// IsUniqueViolation reports whether err is a unique-constraint violation
// on either database.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// newGormLogger sends slow queries to slog. Query errors are not logged
// here: the stores translate them and the boundary logs each error once.
func newGormLogger(l *slog.Logger) logger.Interface {
	return quietErrors{logger.NewSlogLogger(l, logger.Config{
		SlowThreshold:        slowQuery,
		LogLevel:             logger.Warn,
		ParameterizedQueries: true,
	}), logger.Warn}
}

// slowQuery is how long a statement runs before it is logged.
const slowQuery = time.Second

// quietErrors passes only slow statements on (at Warn and below; every
// statement at Info). It decides before calling the slog logger, which
// would otherwise render every statement's SQL and duration just to drop
// them.
type quietErrors struct {
	logger.Interface
	level logger.LogLevel
}

func (q quietErrors) LogMode(level logger.LogLevel) logger.Interface {
	return quietErrors{q.Interface.LogMode(level), level}
}

func (q quietErrors) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if err != nil || q.level <= logger.Silent || (q.level < logger.Info && time.Since(begin) <= slowQuery) {
		return
	}
	q.Interface.Trace(ctx, begin, fc, nil)
}
