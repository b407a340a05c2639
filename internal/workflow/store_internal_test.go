package workflow

import (
	"errors"
	"reflect"
	"testing"
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
