// Package dbtest gives tests a fresh, migrated database on each backend:
// embedded SQLite in the test's temporary directory and a database on the
// throwaway PostgreSQL cluster of internal/testenv. For tests only.
package dbtest

import (
	"context"
	"path/filepath"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/testenv"
)

// Drivers are the backends every store suite runs on.
var Drivers = []string{db.SQLite, db.Postgres}

// Open returns a fresh database of the driver, migrated, closed when the
// test ends. For PostgreSQL the test binary must use testenv.Main.
func Open(t testing.TB, driver string) *db.DB {
	t.Helper()
	return OpenWith(t, driver, db.Options{})
}

// OpenWith is Open with o's pool settings (its driver and DSN are
// Open's).
func OpenWith(t testing.TB, driver string, o db.Options) *db.DB {
	t.Helper()
	d := openEmpty(t, driver, o)
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", driver, err)
	}
	return d
}

// OpenEmpty is Open without migrations.
func OpenEmpty(t testing.TB, driver string) *db.DB {
	t.Helper()
	return openEmpty(t, driver, db.Options{})
}

func openEmpty(t testing.TB, driver string, o db.Options) *db.DB {
	t.Helper()
	var dsn string
	switch driver {
	case db.SQLite:
		dsn = filepath.Join(t.TempDir(), "diwan.db")
	case db.Postgres:
		dsn = testenv.Postgres(t)
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	o.Driver, o.DSN = driver, dsn
	d, err := db.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Each runs fn as a subtest on a fresh migrated database of every driver.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, driver := range Drivers {
		t.Run(driver, func(t *testing.T) {
			fn(t, Open(t, driver))
		})
	}
}
