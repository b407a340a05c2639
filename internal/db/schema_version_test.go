package db_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// TestSchemaVersionIsTheLastAppliedMigration: a migrated database is at
// the version of the newest migration file, and so is the latest known;
// the version of a migration file applied by hand is what it reports.
func TestSchemaVersionIsTheLastAppliedMigration(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			d := dbtest.Open(t, driver)
			entries, err := fs.ReadDir(db.MigrationFS(driver), ".")
			if err != nil {
				t.Fatal(err)
			}
			var newest int64
			for _, e := range entries {
				if n, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64); err == nil {
					newest = max(newest, n)
				}
			}
			cur, latest, err := d.SchemaVersion(context.Background())
			if err != nil || cur != newest || latest != newest {
				t.Fatalf("SchemaVersion: %d of %d, %v; want %d of %d", cur, latest, err, newest, newest)
			}
			if err := d.Writer().Exec("DELETE FROM goose_db_version WHERE version_id = ?", newest).Error; err != nil {
				t.Fatal(err)
			}
			if cur, latest, err = d.SchemaVersion(context.Background()); err != nil || cur >= newest || latest != newest {
				t.Fatalf("one migration undone: %d of %d, %v; want below %d of %d", cur, latest, err, newest, newest)
			}
		})
	}
}
