package db

import (
	"context"
	"io/fs"
)

// MigrateFSForTest runs the migrations of fsys, for tests of failure handling.
func MigrateFSForTest(ctx context.Context, d *DB, fsys fs.FS) ([]Applied, error) {
	return d.migrateFS(ctx, fsys)
}
