package workflow

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

func TestPgSQLNumbersPlaceholdersOutsideQuotes(t *testing.T) {
	got := pgSQL(`SELECT '?', ? FROM t WHERE a = ? AND "b?" = ?`)
	if want := `SELECT '?', $1 FROM t WHERE a = $2 AND "b?" = $3`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// Writes queued one after another become one statement: the rows of one
// table one INSERT in their order, the arguments in the order of the text.
// A write that must change one row is the statement's root: the others
// are written only if it changed its row, and the statement returns its
// count. A second checked write starts another statement.
func TestJoinWritesMakesTheCheckedWriteTheRoot(t *testing.T) {
	stale, stale2 := errors.New("stale"), errors.New("stale 2")
	ins := func(v string) op {
		return op{sql: "INSERT INTO t (v, n) VALUES", rows: "(?, ?)", args: []any{v, int64(1)}, write: true}
	}
	ops := []op{
		{sql: "SELECT ?", args: []any{"read"}, row: func(rowScanner) error { return nil }},
		ins("t1"),
		{sql: "UPDATE u SET v = ? WHERE id = ?", args: []any{"u", 2}, write: true},
		ins("t2"),
		{sql: "UPDATE e SET v = ? WHERE id = ?", args: []any{"e", 1}, write: true, notOne: stale},
		ins("t3"),
		{sql: "UPDATE f SET v = ? WHERE id = ?", args: []any{"f", 3}, write: true, notOne: stale2},
		{sql: "COMMIT"},
	}
	got := joinWrites(ops)
	want := []struct {
		sql  string
		args []any
	}{
		{"SELECT ?", []any{"read"}},
		{"WITH c AS (UPDATE e SET v = ? WHERE id = ? RETURNING 1), " +
			"w0 AS (INSERT INTO t (v, n) SELECT * FROM (VALUES (CAST(? AS text), CAST(? AS bigint)), (?, ?), (?, ?)) v WHERE EXISTS (SELECT 1 FROM c)), " +
			"w1 AS (UPDATE u SET v = ? WHERE id = ? AND EXISTS (SELECT 1 FROM c))\nSELECT COUNT(*) FROM c",
			[]any{"e", 1, "t1", int64(1), "t2", int64(1), "t3", int64(1), "u", 2}},
		{"WITH c AS (UPDATE f SET v = ? WHERE id = ? RETURNING 1)\nSELECT COUNT(*) FROM c", []any{"f", 3}},
		{"COMMIT", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("%d statements, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].sql != w.sql || !reflect.DeepEqual(got[i].args, w.args) {
			t.Errorf("statement %d:\n%s %v\nwant\n%s %v", i, got[i].sql, got[i].args, w.sql, w.args)
		}
	}
	if got[1].notOne != stale || got[1].row == nil || got[2].notOne != stale2 {
		t.Error("a joined statement lost its check")
	}
	// The count decides: one row changed passes, none fails with the
	// checked write's error.
	if err := got[1].row(countRow(1)); err != nil {
		t.Errorf("count 1: %v", err)
	}
	if err := got[1].row(countRow(0)); err != stale {
		t.Errorf("count 0: %v, want the stale error", err)
	}
	// Its parts were not changed by joining.
	if ops[1].rows != "(?, ?)" || len(ops[1].args) != 2 {
		t.Errorf("first insert changed: %+v", ops[1])
	}
}

// countRow is a result row of one count.
type countRow int64

func (c countRow) Scan(dest ...any) error {
	*dest[0].(*int64) = int64(c)
	return nil
}

// A list argument of a statement sent through pgx becomes a parenthesised
// list of placeholders, one an element, as gorm writes IN ?; an empty list
// matches nothing; quoted text keeps its question marks.
func TestExpandListsWritesAListArgumentAsItsElements(t *testing.T) {
	sql, args := expandLists(`SELECT '?' FROM t WHERE a = ? AND b IN ? AND c IN ? AND d IN ?`,
		[]any{"x", []int64{1, 2}, []string{"n", "c"}, []int64{}})
	if want := `SELECT '?' FROM t WHERE a = ? AND b IN (?, ?) AND c IN (?, ?) AND d IN (NULL)`; sql != want {
		t.Errorf("got %s, want %s", sql, want)
	}
	if want := []any{"x", int64(1), int64(2), "n", "c"}; !reflect.DeepEqual(args, want) {
		t.Errorf("got arguments %v, want %v", args, want)
	}
	plain := []any{"x", int64(3)}
	if sql, args := expandLists("SELECT ? WHERE a = ?", plain); sql != "SELECT ? WHERE a = ?" || !reflect.DeepEqual(args, plain) {
		t.Errorf("a statement without lists changed: %s %v", sql, args)
	}
}

// A planned read runs with plan_cache_mode force_generic_plan; when a
// statement of its round trip fails, the RESET queued after it is skipped
// but the SET rolled back: the connection goes back to the pool planning
// as before, for the statements of the next call.
func TestAFailedPlannedReadLeavesItsConnectionPlanningAsBefore(t *testing.T) {
	s := New(dbtest.OpenWith(t, db.Postgres, db.Options{MaxOpenConns: 1}), nil, Options{})
	ctx := context.Background()
	mode := func() string {
		var m string
		err := s.readBatched(ctx, func(x *txn) error {
			x.query("SHOW plan_cache_mode", nil, func(r rowScanner) error { return r.Scan(&m) })
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var during string
	err := s.readBatched(ctx, func(x *txn) error {
		x.queryPlanned("SELECT current_setting('plan_cache_mode') WHERE ? > 0", []any{int64(1)},
			func(r rowScanner) error { return r.Scan(&during) })
		x.queryPlanned("SELECT 1 / (? - 1)", []any{int64(1)}, func(r rowScanner) error { return nil })
		return nil
	})
	if err == nil {
		t.Fatal("a division by zero did not fail")
	}
	if during != "force_generic_plan" {
		t.Errorf("a planned read ran with plan_cache_mode %q", during)
	}
	if m := mode(); m != "auto" {
		t.Errorf("after a failed planned read the connection plans with %q, want auto", m)
	}
}
