package db_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Both dialects must carry the same history: same version numbers, same names.
func TestMigrationListsMatchAcrossDialects(t *testing.T) {
	list := func(dir string) []string {
		entries, err := fs.ReadDir(migrations.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	sq, pg := list("sqlite"), list("postgres")
	if len(sq) == 0 {
		t.Fatal("no migrations embedded")
	}
	if !slices.Equal(sq, pg) {
		t.Fatalf("migrations differ between dialects:\nsqlite:   %v\npostgres: %v", sq, pg)
	}
}

func TestMigrateAppliesOnceThenNothing(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			d := dbtest.OpenEmpty(t, driver)
			if err := d.CheckSchema(ctx); !errors.Is(err, db.ErrSchemaBehind) {
				t.Fatalf("CheckSchema on empty database = %v, want ErrSchemaBehind", err)
			} else if !strings.Contains(err.Error(), "diwan migrate") {
				t.Fatalf("CheckSchema error does not name the command: %v", err)
			}
			applied, err := d.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var diwan, river int
			for _, a := range applied {
				switch a.Line {
				case "diwan":
					diwan++
				case "river":
					river++
				}
			}
			if diwan == 0 || river == 0 {
				t.Fatalf("applied %d diwan and %d river migrations, want both > 0: %v", diwan, river, applied)
			}
			if err := d.CheckSchema(ctx); err != nil {
				t.Fatalf("CheckSchema after migrate: %v", err)
			}
			again, err := d.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second migrate applied %v, err %v; want nothing", again, err)
			}
		})
	}
}

func TestFailedMigrationRollsBackAndNamesItsVersion(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			d := dbtest.OpenEmpty(t, driver)
			fsys := fstest.MapFS{
				"00001_good.sql": {Data: []byte("-- +goose Up\nCREATE TABLE good (id INTEGER PRIMARY KEY);\n")},
				"00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE half (id INTEGER PRIMARY KEY);\n" +
					"INSERT INTO half (id) VALUES (1);\nINSERT INTO no_such_table (id) VALUES (1);\n")},
			}
			applied, err := db.MigrateFSForTest(ctx, d, fsys)
			if err == nil {
				t.Fatal("bad migration succeeded")
			}
			if !strings.Contains(err.Error(), "00002") || !strings.Contains(err.Error(), "rolled back") {
				t.Fatalf("error does not name the failed version: %v", err)
			}
			if len(applied) != 1 || applied[0].Version != 1 {
				t.Fatalf("applied = %v, want only 00001", applied)
			}
			if d.Writer().Migrator().HasTable("half") {
				t.Fatal("table of the failed migration exists: not rolled back")
			}
			if !d.Writer().Migrator().HasTable("good") {
				t.Fatal("table of the good migration is missing")
			}
		})
	}
}

func TestOpenNamesUnreachableDatabase(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dsn := "postgres://app:secretpw@127.0.0.1:" + itoa(port) + "/x?sslmode=disable&connect_timeout=2"
	_, err = db.Open(context.Background(), db.Options{Driver: db.Postgres, DSN: dsn})
	if err == nil {
		t.Fatal("open of a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "postgres") || !strings.Contains(msg, "127.0.0.1:"+itoa(port)) {
		t.Fatalf("error does not name the database and address: %q", msg)
	}
	if strings.Contains(msg, "secretpw") || strings.Contains(msg, "\n") {
		t.Fatalf("error leaks the password or spans lines: %q", msg)
	}

	_, err = db.Open(context.Background(), db.Options{Driver: db.SQLite, DSN: "/proc/no/such/dir/diwan.db"})
	if err == nil || !strings.Contains(err.Error(), "sqlite at /proc/no/such/dir/diwan.db") {
		t.Fatalf("sqlite error does not name the file: %v", err)
	}
	_, err = db.Open(context.Background(), db.Options{Driver: "mysql"})
	if err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Fatalf("unknown driver accepted or not named: %v", err)
	}
}

func TestSQLiteSettings(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2"} {
		var got string
		if err := d.Writer().Raw("PRAGMA " + pragma).Row().Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// SQLite's read pool cannot write, and sees what the writer committed,
// while the writer holds a transaction open.
func TestSQLiteReadPool(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	if err := d.Reader().Exec("INSERT INTO instance_settings (key, value) VALUES ('r', 'x')").Error; err == nil {
		t.Fatal("a write through the read pool succeeded")
	}
	if err := d.Writer().Exec("INSERT INTO instance_settings (key, value) VALUES ('w', 'committed')").Error; err != nil {
		t.Fatal(err)
	}
	err := d.Transaction(context.Background(), func(tx *gorm.DB) error {
		if err := tx.Exec("UPDATE instance_settings SET value = 'open' WHERE key = 'w'").Error; err != nil {
			return err
		}
		var v string
		if err := d.Reader().Raw("SELECT value FROM instance_settings WHERE key = 'w'").Scan(&v).Error; err != nil {
			return err
		}
		if v != "committed" {
			t.Errorf("read pool sees %q during the writer's transaction, want the committed value", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A read transaction cannot write, and reads one snapshot: a change the
// writer commits after its first read is not seen by its later reads.
func TestReadTransactionReadsOneSnapshotAndCannotWrite(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := d.Writer().Exec("INSERT INTO instance_settings (key, value) VALUES ('s', 'before')").Error; err != nil {
			t.Fatal(err)
		}
		read := func(tx *gorm.DB) string {
			var v string
			if err := tx.Raw("SELECT value FROM instance_settings WHERE key = 's'").Scan(&v).Error; err != nil {
				t.Fatal(err)
			}
			return v
		}
		err := d.ReadTransaction(ctx, func(tx *gorm.DB) error {
			if v := read(tx); v != "before" {
				t.Errorf("first read %q, want before", v)
			}
			if err := d.Writer().Exec("UPDATE instance_settings SET value = 'after' WHERE key = 's'").Error; err != nil {
				t.Fatal(err)
			}
			if v := read(tx); v != "before" {
				t.Errorf("second read in the same transaction %q, want the snapshot's before", v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = d.ReadTransaction(ctx, func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO instance_settings (key, value) VALUES ('x', 'y')").Error
		})
		if err == nil {
			t.Error("a write in a read transaction succeeded")
		}
		if v := read(d.Reader()); v != "after" {
			t.Errorf("after the read transaction %q, want after", v)
		}
	})
}

func TestUniqueViolationRecognised(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ins := func() error {
			return d.Writer().Exec("INSERT INTO instance_settings (key, value) VALUES ('k', 'v')").Error
		}
		if err := ins(); err != nil {
			t.Fatal(err)
		}
		err := ins()
		if !db.IsUniqueViolation(err) {
			t.Fatalf("IsUniqueViolation(%v) = false", err)
		}
		if db.IsUniqueViolation(errors.New("other")) {
			t.Fatal("IsUniqueViolation of an unrelated error")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStatementCacheTakesOnlyOneRowStatement(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                                true,
		"  select\tid FROM t WHERE x = ?":         true,
		"\nWITH a AS (SELECT 1) SELECT * FROM a;": true,
		"(SELECT 1) UNION (SELECT 2)":             true,
		"INSERT INTO t VALUES (?)":                true,
		"UPDATE t SET x = 1":                      true,
		"DELETE FROM t":                           true,
		"SELECT 1; SELECT 2":                      false,
		"BEGIN IMMEDIATE":                         false,
		"COMMIT":                                  false,
		"PRAGMA journal_mode":                     false,
		"CREATE TABLE t (x)":                      false,
		"":                                        false,
	} {
		if got := db.CacheableForTest(q); got != want {
			t.Errorf("cacheable(%q) = %v, want %v", q, got, want)
		}
	}
}

// A SQLite connection compiles a statement once and runs it again in later
// transactions; a statement run again while its own rows are open, or
// evicted while they are, gives the right rows; a schema change after
// compiling is seen.
func TestSQLiteStatementCache(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := d.Writer().Exec("INSERT INTO instance_settings (key, value) VALUES (?, ?)", k, "v"+k).Error; err != nil {
			t.Fatal(err)
		}
	}
	const one = "SELECT value FROM instance_settings WHERE key = ?"
	before := db.StmtCompilesForTest()
	for i := range 50 {
		k := []string{"a", "b", "c"}[i%3]
		err := d.Transaction(ctx, func(tx *gorm.DB) error {
			var v string
			if err := tx.Raw(one, k).Scan(&v).Error; err != nil {
				return err
			}
			if v != "v"+k {
				t.Errorf("%s = %q, want %q", k, v, "v"+k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := db.StmtCompilesForTest() - before; n != 1 {
		t.Errorf("50 runs in 50 transactions compiled %d statements, want 1", n)
	}

	// Re-entered while its rows are open, and the cache overflowing
	// meanwhile.
	const all = "SELECT key FROM instance_settings WHERE key IN ('a', 'b', 'c') ORDER BY key"
	err := d.Transaction(ctx, func(tx *gorm.DB) error {
		rows, err := tx.Raw(all).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		var outer []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			outer = append(outer, k)
			var inner []string
			if err := tx.Raw(all).Scan(&inner).Error; err != nil {
				return err
			}
			if !slices.Equal(inner, []string{"a", "b", "c"}) {
				t.Errorf("nested run of the same statement read %v", inner)
			}
			for i := range db.StmtCacheSizeForTest + 10 {
				var n int
				if err := tx.Raw("SELECT "+strconv.Itoa(i)+" + ?", 1).Scan(&n).Error; err != nil {
					return err
				}
				if n != i+1 {
					t.Fatalf("SELECT %d + 1 = %d", i, n)
				}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !slices.Equal(outer, []string{"a", "b", "c"}) {
			t.Errorf("outer rows read %v", outer)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	const star = "SELECT * FROM instance_settings WHERE key = ?"
	cols := func() int {
		rows, err := d.Writer().Raw(star, "a").Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	n := cols()
	if err := d.Writer().Exec("ALTER TABLE instance_settings ADD COLUMN extra TEXT").Error; err != nil {
		t.Fatal(err)
	}
	if got := cols(); got != n+1 {
		t.Errorf("after ADD COLUMN the cached statement reads %d columns, want %d", got, n+1)
	}
}
