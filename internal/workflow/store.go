package workflow

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// The store: the txn, which runs the statements of one call.
//
// On PostgreSQL every round trip costs both sides CPU (system calls,
// wake-ups, the protocol) and, in a registration, time during which the
// register counter row stays locked (numbering.go). The calls that carry
// letters (CreateDraft, Act, Get) therefore queue their statements on a
// txn and send each queue in one round trip: pgx pipelines it (one Sync),
// the server runs it as it arrives and, after an error, skips the rest.
//
// A changing call reads, decides in Go, then writes: two round trips. Its
// transaction begins (BEGIN in front of the queue) with the first queue
// that writes or locks rows (queryLocked, db); the reads before it need
// none, each statement seeing what was committed before it, as in a READ
// COMMITTED transaction. A call that did not begin sends its writes as one
// queue, which pgx's one Sync makes one implicit transaction: committed at
// the Sync, or on an error rolled back whole. Otherwise COMMIT goes at the
// end of the last queue. Either way nothing between a write and the
// commit waits for this process.
//
// A write that must change exactly one row (execOne: an update at the
// version the call read) is checked by its row count, in Go. Sent with
// COMMIT behind it, it is the root of the one statement its queue's
// writes make (joinWrites): the others are written only if it changed its
// row, so a stale version writes nothing and is an ordinary *StaleError.
// When the last queue cannot be made so (two checked writes, or writes
// sent before it), COMMIT waits for the counts in a round trip of its own.
//
// On SQLite the statements run one by one as they are queued, in the
// call's transaction: SQLite is in the process and a round trip costs
// nothing. A failed statement stops the ones after it and its error is
// returned by the next run.
//
// Results of queued reads are there once run has returned. The statements
// themselves are in the store_*.go files, one per area, behind named
// operations; the service files hold none.

// txHook is a test's hook on the call's transaction (Service.beforeCommit).
type txHook = func(tx *gorm.DB) error

// rowScanner is one row of a result (*sql.Rows, pgx.Rows).
type rowScanner interface {
	Scan(dest ...any) error
}

// op is one queued statement, with ? placeholders.
type op struct {
	sql  string
	args []any
	// row is called for each row of a read; nil for a write.
	row func(r rowScanner) error
	// notOne, when set, makes a write that changes other than exactly one
	// row fail with it (execOne); the call then rolls back.
	notOne error
	// write: an INSERT, UPDATE or DELETE that may be sent in one
	// statement with the writes queued next to it.
	write bool
	// rows, for an INSERT, are its rows ("(?, ...), (?, ...)"); sql is then
	// "INSERT INTO t (columns) VALUES".
	rows string
	// lock: a read that locks rows, so in the transaction.
	lock bool
	// planned: a read PostgreSQL runs on the plan it made for it once on
	// the connection (queryPlanned), not on one made for its arguments.
	planned bool
	// with and result, for a checked write more than one UPDATE: the WITH
	// clauses that make it, c among them, and the select list that ends
	// its statement (row then checks c's count).
	with, result string
}

// insert is an INSERT of rows, for txn.insert: into is "INSERT INTO t
// (columns) VALUES", rows "(?, ...), (?, ...)".
type insert struct {
	into, rows string
	args       []any
}

func (in insert) sql() string { return in.into + " " + in.rows }

// txn is the work of one call on the database.
type txn struct {
	s     *Service
	ctx   context.Context
	pg    bool // PostgreSQL: statements are queued and sent by run
	write bool // a changing call: a transaction, beforeCommit before COMMIT
	// tx is gorm on the call's transaction (SQLite, or PostgreSQL while
	// conn is held), for statements that are not queued; use it through
	// db.
	tx *gorm.DB
	// conn is the PostgreSQL connection the call holds, from its first
	// round trip to its end.
	conn  *sql.Conn
	begun bool  // BEGIN has been sent: the transaction spans round trips
	wrote bool  // writes have been sent (PostgreSQL)
	ops   []op  // queued, not sent yet
	err   error // the first failed statement (SQLite) or failure to build one
	ids   map[string]int64
	// newIDs are the ids reserved (PostgreSQL) and not yet read.
	newIDs []reservedID
}

type reservedID struct {
	table string
	id    *int64
}

// changeBatched runs fn as one transaction, like change, with fn's
// statements queued on x; what fn leaves queued goes with the commit.
func (s *Service) changeBatched(ctx context.Context, fn func(x *txn) error) error {
	if !s.isPostgres() {
		return s.change(ctx, func(tx *gorm.DB) error {
			x := &txn{s: s, ctx: ctx, tx: tx, write: true}
			if err := fn(x); err != nil {
				return err
			}
			return x.err
		})
	}
	return s.onPostgres(ctx, true, func(x *txn) error {
		if err := fn(x); err != nil {
			return err
		}
		return x.commit()
	})
}

// readBatched runs fn's reads, like read.
func (s *Service) readBatched(ctx context.Context, fn func(x *txn) error) error {
	if !s.isPostgres() {
		return s.read(ctx, func(q *gorm.DB) error {
			x := &txn{s: s, ctx: ctx, tx: q}
			if err := fn(x); err != nil {
				return err
			}
			return x.err
		})
	}
	return s.onPostgres(ctx, false, func(x *txn) error {
		if err := fn(x); err != nil {
			return err
		}
		return x.run()
	})
}

// changeStepwise runs fn as one transaction (change) on a txn whose
// statements run as they come, one round trip each: for the calls off a
// letter's main path.
func (s *Service) changeStepwise(ctx context.Context, fn func(x *txn) error) error {
	return s.change(ctx, func(tx *gorm.DB) error {
		x := s.onTx(ctx, tx)
		if err := fn(x); err != nil {
			return err
		}
		return x.err
	})
}

// readStepwise runs fn's reads on one connection (read), statements
// running as they come.
func (s *Service) readStepwise(ctx context.Context, fn func(x *txn) error) error {
	return s.read(ctx, func(q *gorm.DB) error {
		x := &txn{s: s, ctx: ctx, tx: q}
		if err := fn(x); err != nil {
			return err
		}
		return x.err
	})
}

// onTx is a txn on tx, a transaction already open, its statements running
// as they come.
func (s *Service) onTx(ctx context.Context, tx *gorm.DB) *txn {
	return &txn{s: s, ctx: ctx, tx: tx, write: true}
}

// read runs fn's queries on one connection of the pool, so that a read of
// several queries waits for a connection once (not once per query). fn
// must not start a transaction: on SQLite, with its one connection, that
// would wait for itself.
func (s *Service) read(ctx context.Context, fn func(q *gorm.DB) error) error {
	return s.db.Writer().WithContext(ctx).Connection(fn)
}

// onPostgres runs fn with a txn on PostgreSQL. A transaction fn leaves
// open, by an error or a panic, is rolled back.
func (s *Service) onPostgres(ctx context.Context, write bool, fn func(x *txn) error) (err error) {
	x := &txn{s: s, ctx: ctx, pg: true, write: write}
	done := false
	defer func() {
		x.release(done && err == nil)
	}()
	err = fn(x)
	done = true
	return err
}

// hold takes a connection from the pool for the call, if it has none
// yet.
func (x *txn) hold() error {
	if x.conn != nil {
		return nil
	}
	conn, err := x.s.db.Conn(x.ctx)
	if err != nil {
		return err
	}
	g := x.s.db.Writer().Session(&gorm.Session{Context: x.ctx})
	g.Statement.ConnPool = conn
	x.conn, x.tx = conn, g
	return nil
}

// release returns the connection to the pool, rolling back what is open
// on it unless ok.
func (x *txn) release(ok bool) {
	if x.conn == nil {
		return
	}
	if !ok {
		x.abort()
	}
	x.conn.Close()
	x.conn, x.tx = nil, nil
}

// db is gorm on the call's transaction, for the statements not queued;
// on PostgreSQL what is queued is sent first, and a changing call's
// transaction begins.
func (x *txn) db() (*gorm.DB, error) {
	if x.pg {
		if err := x.send(true, false); err != nil {
			return nil, err
		}
		if err := x.hold(); err != nil {
			return nil, err
		}
	} else if x.err != nil {
		return nil, x.err
	}
	return x.tx.WithContext(x.ctx), nil
}

// query queues a read; row is called for each row. An argument that is a
// list ([]int64, []string) stands for "(?, ?, ...)", as gorm writes it
// (IN ?).
func (x *txn) query(sql string, args []any, row func(r rowScanner) error) {
	if x.pg {
		sql, args = expandLists(sql, args)
		x.ops = append(x.ops, op{sql: sql, args: args, row: row})
		return
	}
	if x.err == nil {
		x.err = scanRows(x.ctx, x.tx, sql, args, row)
	}
}

// queryPlanned queues a read, like query, that PostgreSQL plans once per
// connection (a generic plan, plan_cache_mode force_generic_plan around
// it in the same round trip) rather than for its arguments at every run:
// for the statements of the pages read most, whose planning costs the
// server more than running them (a register page's statement: 0.8 ms of
// planning, 0.2 ms of execution, at 200,000 entries). Their plans must
// not depend on the values: ranges of an index named by the statement's
// own conditions. (The navigation's counters are not: planned so, at
// 1,000,000 entries they cost PostgreSQL 17 ms of CPU a page against 4.)
func (x *txn) queryPlanned(sql string, args []any, row func(r rowScanner) error) {
	x.query(sql, args, row)
	if x.pg {
		x.ops[len(x.ops)-1].planned = true
	}
}

// queryLocked queues a read that locks the rows it reads (FOR ... UPDATE)
// until the call ends; the transaction begins with it.
func (x *txn) queryLocked(sql string, args []any, row func(r rowScanner) error) {
	if x.pg {
		x.ops = append(x.ops, op{sql: sql, args: args, row: row, lock: true})
		return
	}
	x.query(sql, args, row)
}

// fail stops the call with err (the first one counts).
func (x *txn) fail(err error) {
	if x.err == nil {
		x.err = err
	}
}

// exec queues a write (an UPDATE or DELETE ending in its WHERE clause;
// INSERT goes through insert).
//
// On PostgreSQL the writes queued one after another are sent as one
// statement (data-modifying WITH), the rows inserted into one table as one
// INSERT in their order: so no write may depend on another's effect or
// change a row another one changes. Constraints are checked at the end of
// that statement, so a row may refer to one inserted with it.
func (x *txn) exec(sql string, args ...any) {
	if x.pg {
		x.ops = append(x.ops, op{sql: sql, args: args, write: true})
		return
	}
	if x.err == nil {
		x.err = x.tx.WithContext(x.ctx).Exec(sql, args...).Error
	}
}

// insert queues an INSERT, like exec.
func (x *txn) insert(in insert) {
	if x.pg {
		x.ops = append(x.ops, op{sql: in.into, rows: in.rows, args: in.args, write: true})
		return
	}
	if x.err == nil {
		x.err = x.tx.WithContext(x.ctx).Exec(in.sql(), in.args...).Error
	}
}

// execOne queues a write (an UPDATE ending in its WHERE clause) that must
// change exactly one row, like exec; otherwise the call fails with notOne
// and rolls back, nothing of its queue written (see the top of this file).
func (x *txn) execOne(notOne error, sql string, args ...any) {
	if x.pg {
		x.ops = append(x.ops, op{sql: sql, args: args, notOne: notOne, write: true})
		return
	}
	if x.err != nil {
		return
	}
	res := x.tx.WithContext(x.ctx).Exec(sql, args...)
	switch {
	case res.Error != nil:
		x.err = res.Error
	case res.RowsAffected != 1:
		x.err = notOne
	}
}

// newID reserves an id of table (one with an id sequence): the value is
// there once run has returned, and the row must be inserted with it before
// any other row of the table in this transaction.
func (x *txn) newID(table string) *int64 {
	id := new(int64)
	if x.pg {
		x.newIDs = append(x.newIDs, reservedID{table, id})
		return id
	}
	if x.s.isPostgres() {
		// A txn on an open transaction (onTx): read it now.
		x.query(`SELECT nextval('`+table+`_id_seq')`, nil, func(r rowScanner) error { return r.Scan(id) })
		return id
	}
	// SQLite: the transaction holds the database's one write lock (BEGIN
	// IMMEDIATE), so the ids after sqlite_sequence's (AUTOINCREMENT) are
	// free until it inserts them.
	last, ok := x.ids[table]
	if !ok {
		x.query(`SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?`, []any{table},
			func(r rowScanner) error { return r.Scan(&last) })
		if x.ids == nil {
			x.ids = map[string]int64{}
		}
	}
	last++
	x.ids[table] = last
	*id = last
	return id
}

// run sends what is queued (PostgreSQL); on SQLite it reports the first
// failed statement.
func (x *txn) run() error { return x.send(false, false) }

// send sends what is queued in one round trip (PostgreSQL). A changing
// call's transaction begins with it when begin is set or it writes or
// locks, unless it is the last (commit).
func (x *txn) send(begin, last bool) error {
	if x.err != nil || !x.pg {
		return x.err
	}
	ops := x.ops
	x.ops = nil
	if len(x.newIDs) > 0 {
		ops = append(ops, reserve(x.newIDs))
		x.newIDs = nil
	}
	if x.write && !x.begun && !last && (begin || slices.ContainsFunc(ops, func(o op) bool { return o.write || o.lock })) {
		ops = append([]op{{sql: "BEGIN"}}, ops...)
		x.begun = true
	}
	if len(ops) == 0 {
		return nil
	}
	if slices.ContainsFunc(ops, func(o op) bool { return o.write }) {
		x.wrote = true
	}
	ops = joinWrites(ops)
	if x.s.afterSend != nil {
		x.s.afterSend(len(ops))
	}
	if err := x.hold(); err != nil {
		return err
	}
	b := batchOf(ops)
	return x.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("workflow: PostgreSQL driver connection of type %T", dc)
		}
		return c.Conn().SendBatch(x.ctx, b).Close()
	})
}

// batchOf is the pipeline of ops, a planned read between SET and RESET of
// plan_cache_mode. The pipeline is one transaction (one Sync, or BEGIN):
// when a statement fails, the SET is rolled back with it, the RESET after
// it skipped, and the connection plans as before.
func batchOf(ops []op) *pgx.Batch {
	b := &pgx.Batch{}
	for i := range ops {
		o := &ops[i]
		if o.planned {
			b.Queue("SET plan_cache_mode = force_generic_plan")
		}
		q := b.Queue(pgSQL(o.sql), o.args...)
		if o.row != nil {
			q.Query(func(rows pgx.Rows) error {
				for rows.Next() {
					if err := o.row(rows); err != nil {
						return err
					}
				}
				return rows.Err()
			})
		}
		if o.planned {
			b.Queue("RESET plan_cache_mode")
		}
	}
	return b
}

// reserve is the read of reserved ids.
func reserve(ids []reservedID) op {
	vals := make([]string, len(ids))
	dest := make([]any, len(ids))
	for i, r := range ids {
		vals[i] = "nextval('" + r.table + "_id_seq')"
		dest[i] = r.id
	}
	return op{sql: "SELECT " + strings.Join(vals, ", "), row: func(r rowScanner) error { return r.Scan(dest...) }}
}

// joinWrites makes each run of writes queued one after another one
// statement (see exec): the rows of each table's INSERTs one INSERT, at
// the first one's place; each other write a WITH clause. A run holds at
// most one checked write (execOne), the statement's root (joinRun).
func joinWrites(ops []op) []op {
	out := make([]op, 0, len(ops))
	for i := 0; i < len(ops); {
		if !ops[i].write {
			out = append(out, ops[i])
			i++
			continue
		}
		checked := ops[i].notOne != nil
		j := i + 1
		for j < len(ops) && ops[j].write && !(checked && ops[j].notOne != nil) {
			checked = checked || ops[j].notOne != nil
			j++
		}
		out = append(out, joinRun(ops[i:j]))
		i = j
	}
	return out
}

// joined is one write of a joined statement.
type joined struct {
	sql, rows string
	args      []any
}

func (c joined) text() string {
	if c.rows != "" {
		return c.sql + " " + c.rows
	}
	return c.sql
}

// ifRoot is c written only when the root joined changed its row: an
// UPDATE or DELETE gets the condition after its WHERE; an INSERT selects
// its rows from VALUES under it, the first row's values cast to their
// types (as VALUES alone, they would be text).
func (c joined) ifRoot() joined {
	const cond = "EXISTS (SELECT 1 FROM c)"
	if c.rows == "" {
		if strings.Contains(c.sql, " WHERE ") {
			return joined{sql: c.sql + " AND " + cond, args: c.args}
		}
		return joined{sql: c.sql + " WHERE " + cond, args: c.args}
	}
	into := strings.TrimSuffix(strings.TrimSpace(c.sql), "VALUES")
	return joined{sql: into + "SELECT * FROM (VALUES " + typedFirstRow(c.rows, c.args) + ") v WHERE " + cond, args: c.args}
}

// typedFirstRow is rows ("(?, ...), (?, ...)") with the placeholders of
// the first row cast to the PostgreSQL types of their column's Go values.
func typedFirstRow(rows string, args []any) string {
	end := strings.IndexByte(rows, ')')
	first := rows[:end+1]
	n := strings.Count(first, "?")
	if n == 0 {
		return rows
	}
	var b strings.Builder
	col := 0
	for i := 0; i < len(first); i++ {
		if first[i] != '?' {
			b.WriteByte(first[i])
			continue
		}
		t := ""
		for k := col; k < len(args) && t == ""; k += n {
			t = pgType(args[k])
		}
		if t == "" {
			b.WriteByte('?')
		} else {
			b.WriteString("CAST(? AS " + t + ")")
		}
		col++
	}
	return b.String() + rows[end+1:]
}

// pgType is the PostgreSQL type of a Go value bound to a placeholder; ""
// for an untyped nil.
func pgType(v any) string {
	switch v.(type) {
	case int, int32, int64, *int, *int32, *int64:
		return "bigint"
	case string, *string:
		return "text"
	case time.Time, *time.Time:
		return "timestamptz"
	case bool, *bool:
		return "boolean"
	}
	return ""
}

// joinRun is one run of writes as one statement. With a checked write
// (execOne) in the run, that write is its root, c: the others are written
// only if c changed its row, and the statement returns c's count, checked
// in Go.
func joinRun(run []op) op {
	var cs []joined
	var root *op
	at := map[string]int{} // INSERT INTO ... VALUES → its joined
	for i, o := range run {
		switch {
		case o.notOne != nil:
			root = &run[i]
		case o.rows == "":
			cs = append(cs, joined{sql: o.sql, args: o.args})
		default:
			if k, ok := at[o.sql]; ok {
				cs[k].rows += ", " + o.rows
				cs[k].args = append(cs[k].args, o.args...)
				continue
			}
			at[o.sql] = len(cs)
			cs = append(cs, joined{sql: o.sql, rows: o.rows, args: slices.Clip(o.args)})
		}
	}
	var b strings.Builder
	var args []any
	if root == nil {
		n := len(cs) - 1 // the last joined is the statement
		for k := range n {
			if k == 0 {
				b.WriteString("WITH ")
			} else {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "w%d AS (%s)", k, cs[k].text())
			args = append(args, cs[k].args...)
		}
		if n > 0 {
			b.WriteString("\n")
		}
		b.WriteString(cs[n].text())
		return op{sql: b.String(), args: append(args, cs[n].args...)}
	}
	if root.with != "" {
		b.WriteString("WITH " + root.with)
	} else {
		fmt.Fprintf(&b, "WITH c AS (%s RETURNING 1)", root.sql)
	}
	args = append(args, root.args...)
	for k, c := range cs {
		c = c.ifRoot()
		fmt.Fprintf(&b, ", w%d AS (%s)", k, c.text())
		args = append(args, c.args...)
	}
	if root.with != "" {
		b.WriteString("\nSELECT " + root.result)
		return op{sql: b.String(), args: args, notOne: root.notOne, row: root.row}
	}
	b.WriteString("\nSELECT COUNT(*) FROM c")
	notOne := root.notOne
	return op{sql: b.String(), args: args, notOne: notOne, row: func(r rowScanner) error {
		var n int64
		if err := r.Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return notOne
		}
		return nil
	}}
}

// commit sends what is queued (PostgreSQL): with COMMIT behind when the
// transaction has begun, else as one implicit transaction. A test's
// beforeCommit runs first, in the transaction. When a checked write of
// the last queue could fail with other writes already made (writes sent
// before, or a second checked write), COMMIT waits for the check in a
// round trip of its own.
func (x *txn) commit() error {
	if x.s.beforeCommit != nil {
		if err := x.send(true, false); err != nil {
			return err
		}
		if err := x.s.beforeCommit(x.tx.WithContext(x.ctx)); err != nil {
			return err
		}
	}
	if !x.commitsWithChecks() {
		if err := x.send(true, false); err != nil {
			return err
		}
	}
	if x.begun {
		x.ops = append(x.ops, op{sql: "COMMIT"})
	}
	return x.send(false, true)
}

// commitsWithChecks reports whether what is queued may go with COMMIT:
// its checked writes, if any, are one, and the root of the only write
// statement (joinWrites), with no write sent before.
func (x *txn) commitsWithChecks() bool {
	checked, runs := 0, 0
	for i, o := range x.ops {
		if o.notOne != nil {
			checked++
		}
		if o.write && (i == 0 || !x.ops[i-1].write) {
			runs++
		}
	}
	return checked == 0 || (checked == 1 && runs == 1 && !x.wrote)
}

// abort rolls back a transaction left open on the connection (PostgreSQL);
// a connection that cannot is closed, never returned to the pool.
func (x *txn) abort() {
	_ = x.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok || c.Conn().IsClosed() {
			return driver.ErrBadConn
		}
		pc := c.Conn().PgConn()
		if pc.TxStatus() == 'I' {
			return nil
		}
		// The call's context may be what ended it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pc.Exec(ctx, "ROLLBACK").Close(); err != nil || pc.TxStatus() != 'I' {
			return driver.ErrBadConn
		}
		return nil
	})
}

// scanRows runs a read through gorm and calls row for each row.
func scanRows(ctx context.Context, q *gorm.DB, sql string, args []any, row func(r rowScanner) error) error {
	rows, err := q.WithContext(ctx).Raw(sql, args...).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
