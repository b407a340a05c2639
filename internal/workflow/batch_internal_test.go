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
// table one INSERT in their order, the arguments in the order of the text,
// a write that must change one row last, with its check.
func TestJoinWritesKeepsOrderAndEndsAtACheckedWrite(t *testing.T) {
	stale := errors.New("stale")
	ins := func(v string) op {
		return op{sql: "INSERT INTO t (v) VALUES", rows: "(?)", args: []any{v}, write: true}
	}
	ops := []op{
		{sql: "SELECT ?", args: []any{"read"}, row: func(rowScanner) error { return nil }},
		ins("t1"),
		{sql: "UPDATE u SET v = ?", args: []any{"u"}, write: true},
		ins("t2"),
		{sql: "UPDATE e SET v = ? WHERE id = ?", args: []any{"e", 1}, write: true, notOne: stale},
		ins("t3"),
		{sql: "COMMIT"},
	}
	got := joinWrites(ops)
	want := []struct {
		sql  string
		args []any
	}{
		{"SELECT ?", []any{"read"}},
		{"WITH w0 AS (INSERT INTO t (v) VALUES (?), (?)), w1 AS (UPDATE u SET v = ?), w2 AS (UPDATE e SET v = ? WHERE id = ? RETURNING 1)\n" +
			"SELECT 1 / CASE WHEN COUNT(*) = 1 THEN 1 ELSE 0 END FROM w2", []any{"t1", "t2", "u", "e", 1}},
		{"INSERT INTO t (v) VALUES (?)", []any{"t3"}},
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
	if got[1].notOne != stale || got[1].row == nil {
		t.Error("the joined statement lost its check")
	}
	// Its parts were not changed by joining.
	if ops[1].rows != "(?)" || len(ops[1].args) != 1 {
		t.Errorf("first insert changed: %+v", ops[1])
	}
}
